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


class SettingsWatch:
    def __init__(self, check_every: float = 5.0):
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
                changed = settings_admin.refresh(session, rt)
            except (SQLAlchemyError, ValueError) as exc:
                session.rollback()
                log.error("the settings saved in the console cannot be read; the settings in service stay: %s", exc)
                return False
        if changed:
            log.warning("settings saved in the console reloaded (version %d)", rt.settings_version)
        return changed


def watch(app) -> None:
    """Serve the settings saved in the console (any process may save them): checked before requests."""
    from webui.extensions import current_runtime, db

    watcher = SettingsWatch(float(app.config["JIEFEN_SETTINGS_CHECK_SECONDS"]))
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
