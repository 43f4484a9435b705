"""Firing one timer row under its case's lock: the step shared by the drain (services/timers.fire_timer) and an
operator's retry of an incident (services/incidents.retry_incident). Flushes only.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, bindparam, exists, false, or_, select, update
from sqlalchemy.orm import Session

from engine import casework, expiry, ladder
from engine.models import CaseModel, TimerModel

TIMERS = TimerModel.__table__


def wall_now() -> datetime:
    """The real time, for leases and back-off: never the moment a drain fires as of (`run-due --now`)."""
    return datetime.now(timezone.utc)


def effective_moment(last_at: datetime | None, due_at: datetime, now: datetime) -> datetime:
    """The moment a timer takes effect: just after due_at (SpiffWorkflow fires strictly after it), so a drain
    catching up after downtime fires each timer as if on time — but never before the case's latest recorded
    event (a case's history stays in time order), and never after `now`."""
    earliest = due_at + timedelta(microseconds=1)
    return min(max(earliest, last_at or earliest), max(now, earliest))


# A case's timers fire in due order, (due_at, id): a row waits while an earlier one of its case that is not
# an incident is unfired. The claim leaves out rows whose case has an earlier row held by a live claim or
# backing off (the drain could not fire them yet); fire_timer checks the rule again under the case lock.
_EARLIER = TIMERS.alias("earlier")
_E = _EARLIER.c


def earlier_unfired(outer) -> object:
    """EXISTS: an unfired timer of the same case as the `outer` row, due before it, not an incident."""
    return (exists().where(_E.case_id == outer.case_id, _E.fired_at.is_(None), _E.incident == false(),
                           or_(_E.due_at < outer.due_at, and_(_E.due_at == outer.due_at, _E.id < outer.id))))


# The row under the case lock, and whether an earlier-due timer of its case is still to fire (due order).
TIMER_ROW = select(TIMERS.c.id, TIMERS.c.case_id, TIMERS.c.kind, TIMERS.c.name, TIMERS.c.ref, TIMERS.c.due_at,
                   TIMERS.c.claimed_by, TIMERS.c.fired_at, TIMERS.c.incident,
                   earlier_unfired(TIMERS.c).label("blocked")).where(TIMERS.c.id == bindparam("timer_id"))
_MARK_FIRED = update(TIMERS).where(TIMERS.c.id == bindparam("timer_id")).values(fired_at=bindparam("fired_at"))


def fire_timer_row(session: Session, case: CaseModel, timer, now: datetime, actor: str) -> datetime:
    """Fire a timer row (read under the case lock) at its effective moment; returns that moment. Flushes only.

    Shared by the drain (fire_timer) and an operator's retry of an incident (incidents.retry_incident)."""
    moment = effective_moment(case.event_at, timer.due_at, now)
    # when it really fired (lateness); events carry the effective moment. Written before the command
    # rebuilds the timer index from the table.
    session.execute(_MARK_FIRED, {"timer_id": timer.id, "fired_at": max(now, moment)})
    if timer.kind == "ladder":
        ladder.fire_step(session, case, timer, moment, actor)
    elif case.status == "open":
        # a party's window closing in a provisional year waits for a person (engine/expiry.py)
        years = expiry.provisional_years(session, case, timer) if timer.kind == "bpmn" else []

        def apply(ctx):
            if years:
                expiry.check(ctx, timer)  # raises Hold before anything changed
            casework.run_engine(ctx.workflow, refresh_timers=True)
            return None, {"fire": True, "timer": timer.name, "due_at": timer.due_at.isoformat()}

        try:
            casework.execute(session, case, actor, moment, apply, "timer_fired")
        except expiry.Hold:
            expiry.hold(session, case, timer, moment, years)
    return moment
