"""Settings saved in the administration console (engine/services/settings_admin.py: the ladder policy, the lane
map, group cases, ranking weights, disabled org units) served by this process within seconds: before requests (at
most every JIEFEN_SETTINGS_CHECK_SECONDS, one SELECT of the highest version) and on every scheduler tick (forced).
A failed check is logged and the settings in service stay."""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from engine import runtime
from engine.services import settings_admin

log = logging.getLogger(__name__)

KEY = "jiefen.settings_watch"  # app.extensions[KEY]


class DatabaseWatch:
    """Something administrators save in the database that every process serves (the settings; the calendar years,
    webui/calendar_file.py): `reload(session, rt)` reads the highest saved version and serves it when it moved
    (True). Looked at no more often than every `check_every` seconds unless forced; a failed check (one of
    `errors`) is logged and what is in service stays."""

    def __init__(self, reload, what: str, version, errors: tuple[type[Exception], ...], check_every: float = 5.0):
        self._reload, self.what, self._version, self._errors = reload, what, version, errors
        self.check_every = check_every
        self._lock = threading.Lock()
        self._checked = float("-inf")

    def refresh(self, session, rt: runtime.Runtime, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self._checked < self.check_every:
            return False
        with self._lock:
            self._checked = now
            try:
                changed = self._reload(session, rt)
            except self._errors as exc:
                session.rollback()
                log.error("the %s saved in the console cannot be used; what is in service stays: %s", self.what, exc)
                return False
        if changed:
            log.warning("%s saved in the console reloaded (version %d)", self.what, self._version(rt))
        return changed


def watch(app) -> None:
    """Serve the settings saved in the console (any process may save them): checked before requests."""
    from webui.extensions import current_runtime, db

    watcher = DatabaseWatch(settings_admin.refresh, "settings", lambda rt: rt.settings_version,
                            (SQLAlchemyError, ValueError), float(app.config["JIEFEN_SETTINGS_CHECK_SECONDS"]))
    app.extensions[KEY] = watcher

    @app.before_request
    def _serve_saved_settings() -> None:  # returns None: a before-request value would be the response
        watcher.refresh(db.session, current_runtime())


def tick(app, session) -> None:
    """The scheduler's check, before it fires timers: a ladder policy saved elsewhere is the one it uses."""
    from webui.extensions import current_runtime

    watcher = app.extensions.get(KEY)
    if watcher is not None:
        watcher.refresh(session, current_runtime(), force=True)
