"""Scheduler wiring: APScheduler only wakes the drain loop; the timers table holds what is due."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.services.deadlines import recompute_changed_years
from engine.services.timers import TimerPolicy, fire_due_timers, next_due
from webui import settings_watch

log = logging.getLogger(__name__)

_drain_lock = threading.Lock()


def timer_policy(config) -> TimerPolicy:
    """The drain's lease and retry settings from the app's config (README: configuration)."""
    return TimerPolicy(lease=timedelta(seconds=config["JIEFEN_TIMER_LEASE_SECONDS"]),
                       max_attempts=config["JIEFEN_TIMER_MAX_ATTEMPTS"],
                       backoff=timedelta(seconds=config["JIEFEN_TIMER_BACKOFF_SECONDS"]))


def drain(app, scheduler) -> None:
    """One drain pass, then an exact wake-up at the next due moment (if sooner than the interval)."""
    from webui.extensions import current_runtime, db

    if not _drain_lock.acquire(blocking=False):
        return  # a pass is already running in this process
    try:
        with app.app_context():
            settings_watch.tick(app, db.session)  # the ladder policy and routing saved by any process
            now = current_runtime().clock.now()
            result = fire_due_timers(db.session, now, app.config["JIEFEN_TIMER_BATCH"],
                                     policy=timer_policy(app.config))
            if result.fired or result.failed:
                log.info("timers fired=%s failed=%s incidents=%s", result.fired, result.failed, result.incidents)
            upcoming = next_due(db.session, after=now)
            _calendar_tick(app, db.session)
            db.session.remove()
        interval = timedelta(seconds=app.config["JIEFEN_SCHEDULER_INTERVAL"])
        if upcoming is not None and upcoming - now < interval:
            when = max(upcoming + timedelta(milliseconds=5), datetime.now(timezone.utc) + timedelta(milliseconds=50))
            scheduler.add_job(drain, "date", run_date=when, args=[app, scheduler], id="jiefen-exact",
                              replace_existing=True, misfire_grace_time=None)
    except Exception:  # the scheduler must keep running; the failure is logged with its traceback
        log.exception("timer drain failed")
    finally:
        _drain_lock.release()


def _calendar_tick(app, session) -> None:
    """A changed calendar (config/calendar.toml): serve it, and once every process does, recompute the years
    whose data changed (on start and on every tick; one small SELECT when nothing changed). A failure is
    logged and retried on the next tick; it never stops the timers."""
    from webui.calendar_file import KEY, NOTICES_KEY
    from webui.extensions import current_runtime

    try:
        notices = app.extensions.get(NOTICES_KEY)
        if notices is not None:
            notices.refresh(session, current_runtime(), force=True)
        calendar_file = app.extensions.get(KEY)
        if calendar_file is not None:
            calendar_file.refresh(current_runtime(), force=True)
            if not calendar_file.settled():
                return
        for done in recompute_changed_years(session):
            log.warning("calendar of %s changed: deadlines of %d case(s) recomputed", done.year, len(done.cases))
    except Exception:
        session.rollback()
        log.exception("recomputing deadlines after a calendar change failed (retried on the next tick)")


def _configure(scheduler, app) -> None:
    scheduler.add_job(drain, "interval", seconds=app.config["JIEFEN_SCHEDULER_INTERVAL"], args=[app, scheduler],
                      id="jiefen-drain", next_run_time=datetime.now(timezone.utc), coalesce=True,
                      max_instances=1, misfire_grace_time=None)


def start_scheduler(app) -> BackgroundScheduler:
    """Run the drain loop in a background thread of this process (`jiefen run`, demo)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    _configure(scheduler, app)
    scheduler.start()
    app.extensions["jiefen_scheduler"] = scheduler
    log.info("timer scheduler started (interval %ss)", app.config["JIEFEN_SCHEDULER_INTERVAL"])
    return scheduler


def run_scheduler_forever(app) -> None:
    """`jiefen scheduler`: a dedicated process; several may run at once (claims are safe)."""
    scheduler = BlockingScheduler(timezone="UTC")
    _configure(scheduler, app)
    log.info("timer scheduler running (interval %ss)", app.config["JIEFEN_SCHEDULER_INTERVAL"])
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
