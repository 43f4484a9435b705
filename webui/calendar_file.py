"""config/calendar.toml edited while the server runs: each process serves the new calendar within seconds (the
web's before-request check, the scheduler's tick), and the scheduler recomputes the deadlines the change moves
(engine/services/deadlines.recompute_changed_years). A file that cannot be used is logged and the calendar in
service stays."""
from __future__ import annotations

import logging
import os
import threading
import time
import tomllib
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from engine import runtime
from engine.errors import CalendarError

log = logging.getLogger(__name__)

KEY = "jiefen.calendar_file"  # app.extensions[KEY]: the watched file, when the runtime was built from it


class CalendarFile:
    """The calendar file one process serves: reloaded when its modification time changed, looked at no more
    often than every `check_every` seconds (one stat) unless forced."""

    def __init__(self, path: str | Path, check_every: float = 5.0):
        self.path = Path(path)
        self.check_every = check_every
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._mtime = self._stat()

    def _stat(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None

    def refresh(self, rt: runtime.Runtime, force: bool = False) -> bool:
        """Serve the file's calendar if the file changed since it was last read; True when it was reloaded."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_every:
            return False
        with self._lock:
            self._checked = now
            mtime = self._stat()
            if mtime == self._mtime:
                return False
            self._mtime = mtime
            try:
                overrides = None
                if mtime is not None:
                    with self.path.open("rb") as fh:
                        overrides = tomllib.load(fh)
                rt.use_calendar(overrides)
            except (OSError, tomllib.TOMLDecodeError, CalendarError) as exc:
                log.error("%s changed but cannot be used; the calendar in service stays: %s", self.path, exc)
                return False
        log.warning("calendar reloaded from %s", self.path)
        return True

    def settled(self) -> bool:
        """The file has not changed for twice the check interval: every process serves it by now, so deadlines
        recomputed from here on are not computed again on the old data by a slower process."""
        return self._mtime is None or time.time() - self._mtime / 1e9 >= 2 * self.check_every


def watch(app, rt: runtime.Runtime) -> None:
    """Watch the app's calendar file (create_app, when the runtime was built from it): checked before requests."""
    path = app.config.get("JIEFEN_CALENDAR_FILE")
    if not path:
        return
    calendar_file = CalendarFile(path, float(app.config["JIEFEN_CALENDAR_CHECK_SECONDS"]))
    app.extensions[KEY] = calendar_file
    @app.before_request
    def _serve_edited_calendar_file() -> None:  # returns None: a before-request value would be the response
        calendar_file.refresh(rt)


NOTICES_KEY = "jiefen.calendar_notices"  # app.extensions[NOTICES_KEY]: the check of the years saved in the console


def watch_notices(app) -> None:
    """Serve the calendar years saved in the console (any process may save them): checked before requests."""
    from engine.services import calendar_admin
    from webui.extensions import current_runtime, db
    from webui.settings_watch import DatabaseWatch

    # the years saved in the console (calendar_notices): one SELECT of the highest version at most every
    # JIEFEN_CALENDAR_CHECK_SECONDS, forced on the scheduler's tick
    notices = DatabaseWatch(calendar_admin.refresh, "calendar years", lambda rt: rt.calendar_version,
                            (CalendarError, SQLAlchemyError), float(app.config["JIEFEN_CALENDAR_CHECK_SECONDS"]))
    app.extensions[NOTICES_KEY] = notices
    @app.before_request
    def _serve_saved_calendar_years() -> None:
        notices.refresh(db.session, current_runtime())
