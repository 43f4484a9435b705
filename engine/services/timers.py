"""Durable timers: the index of what is due (BPMN timers and supervision-ladder steps) and the drain loop."""
from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, false, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import case_store, chain, runtime
from engine.errors import CaseError, Conflict
from engine.ladder import LEVEL_NAMES, ladder_steps  # noqa: F401 (LEVEL_NAMES: public here for the web layer)
from engine.messages import msg
from engine.models import CaseModel, IncidentModel, TaskModel, TimerModel
from engine.timer_firing import TIMER_ROW, effective_moment, fire_timer_row, wall_now  # noqa: F401 (public here)

log = logging.getLogger(__name__)

TIMERS = TimerModel.__table__


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# An incident's timer is not "still to fire": the case page shows it among the incidents.
_PENDING_OF_CASE = (select(TimerModel).where(TimerModel.case_id == bindparam("case_id"), TimerModel.fired_at.is_(None),
                                             TimerModel.incident == false())
                    .order_by(TimerModel.due_at, TimerModel.id))


def pending_timers(session: Session, case_id: int, case_tasks: list | None = None) -> list:
    """What is still to fire for a case, soonest first: its pending timer rows, and for each task whose next
    ladder step has a row, the later steps (LadderStep, not rows: each gets its row when the one before fires).

    `case_tasks`: the case's task rows (cases.open_tasks), when the caller has read them already."""
    rows = list(session.scalars(_PENDING_OF_CASE, {"case_id": case_id}))
    laddered = {row.ref.rpartition(":")[0] for row in rows if row.kind == "ladder"}
    if not laddered:
        return rows
    if case_tasks is None:
        case_tasks = session.scalars(select(TaskModel).where(TaskModel.id.in_(laddered)))
    have = {row.ref for row in rows}
    tier = session.scalar(select(CaseModel.tier).where(CaseModel.id == case_id))
    later = [step for task in case_tasks if task.id in laddered
             for step in ladder_steps(task, runtime.of(session), tier=tier) if step.ref not in have]
    return sorted(rows + later, key=lambda t: t.due_at)


def next_due(session: Session, after: datetime | None = None) -> datetime | None:
    """The earliest pending due moment, or the earliest one later than `after` (the scheduler's exact wake-up:
    a row due already and still pending waits for a reason — its case's earlier timer held elsewhere, a
    back-off, an incident — that the regular interval revisits)."""
    stmt = select(TimerModel.due_at).where(TimerModel.fired_at.is_(None))
    if after is not None:
        stmt = stmt.where(TimerModel.due_at > after)
    return session.scalar(stmt.order_by(TimerModel.due_at).limit(1))


# ---------------------------------------------------------------- the drain loop


@dataclass(frozen=True)
class TimerPolicy:
    """How a drain holds and retries timers (config: JIEFEN_TIMER_LEASE_SECONDS, _MAX_ATTEMPTS, _BACKOFF_SECONDS).

    Leases and back-off are measured on `wall` (the real clock), due-ness on the drain's `now`: a drain of a
    simulated future moment still lets go of its claims seconds after it dies (security.md M3)."""

    lease: timedelta = timedelta(seconds=30)
    max_attempts: int = 3  # failed firings before the timer becomes an incident
    backoff: timedelta = timedelta(seconds=30)  # before the second attempt; doubled for each one after
    wall: Callable[[], datetime] = wall_now

    def __post_init__(self):
        if self.lease <= timedelta(0) or self.max_attempts < 1 or self.backoff < timedelta(0):
            raise ValueError("timer policy: the lease must be positive, max_attempts at least 1, the back-off not "
                             f"negative (got {self.lease}, {self.max_attempts}, {self.backoff})")

    def backoff_after(self, attempts: int) -> timedelta:
        return self.backoff * 2 ** max(attempts - 1, 0)


@dataclass
class DrainResult:
    fired: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0  # not fired yet: an earlier-due timer of the same case is held elsewhere or was due first
    incidents: int = 0  # failed for the last allowed time: now incidents
    errors: list[str] = field(default_factory=list)


_T = TIMERS.c
# A deferred timer lets go of its claim: the next pass takes it once the earlier one of its case fired.
_RELEASE = update(TIMERS).where(_T.id == bindparam("timer_id")).values(claimed_by=None, claimed_until=None)


_CLAIMABLE = and_(_T.fired_at.is_(None), _T.due_at <= bindparam("now"), _T.incident == false(),
                  or_(_T.claimed_until.is_(None), _T.claimed_until < bindparam("wall")),
                  or_(_T.retry_at.is_(None), _T.retry_at <= bindparam("wall")))
_DUE_ROWS = select(_T.id, _T.case_id, _T.due_at).where(_CLAIMABLE).order_by(_T.due_at, _T.id)
_AFTER = or_(_T.due_at > bindparam("after_due"), and_(_T.due_at == bindparam("after_due"), _T.id > bindparam("after_id")))
# The held rows of the cases a claim found, by case_id (its index). Asked apart from the walk over due rows:
# as a NOT EXISTS inside it, PostgreSQL's planner read every timer row once per claim (200 ms at 200,000 rows).
_HELD_OF_CASES = select(_T.case_id, _T.due_at, _T.id).where(
    _T.case_id.in_(bindparam("case_ids", expanding=True)), _T.fired_at.is_(None), _T.incident == false(),
    or_(_T.claimed_until >= bindparam("wall"), _T.retry_at > bindparam("wall")))


def claim_due(session: Session, now: datetime, batch: int, worker: str, policy: TimerPolicy | None = None) -> list[int]:
    """Claim up to `batch` rows due at `now`, oldest first, for this worker (SKIP LOCKED on PostgreSQL), leased
    for policy.lease of real time; a row whose case has an earlier-due row held elsewhere is left. Commits."""
    policy = policy or TimerPolicy()
    wall = policy.wall()
    params = {"now": now, "wall": wall}
    postgresql = session.get_bind().dialect.name == "postgresql"
    ids: list[int] = []
    after = None
    for _page in range(5):  # past a few pages of held-back rows, the next pass (or the lease's end) comes first
        stmt = _DUE_ROWS if after is None else _DUE_ROWS.where(_AFTER)
        stmt = stmt.limit(batch)
        if postgresql:
            stmt = stmt.with_for_update(of=TIMERS, skip_locked=True)
        rows = session.execute(stmt, {**params, "after_due": after[0], "after_id": after[1]} if after else params).all()
        if not rows:
            break
        held: dict[int, tuple] = {}
        for case_id, due_at, timer_id in session.execute(_HELD_OF_CASES, {"wall": wall,
                                                                         "case_ids": sorted({r.case_id for r in rows})}):
            held[case_id] = min(held.get(case_id, (due_at, timer_id)), (due_at, timer_id))
        ids = [r.id for r in rows if r.case_id not in held or (r.due_at, r.id) < held[r.case_id]]
        if ids or len(rows) < batch:
            break
        after = (rows[-1].due_at, rows[-1].id)
    if ids:
        session.execute(update(TIMERS).where(_T.id.in_(ids), _CLAIMABLE)
                        .values(claimed_by=worker, claimed_until=wall + policy.lease), params)
    session.commit()
    return ids


def _renew(session: Session, ids: list[int], worker: str, until: datetime) -> None:
    """Extend this worker's lease on the claimed rows it has not fired yet (the drain's heartbeat). Commits."""
    session.execute(update(TIMERS).where(_T.id.in_(ids), _T.claimed_by == worker, _T.fired_at.is_(None))
                    .values(claimed_until=until))
    session.commit()


def fire_due_timers(session: Session, now: datetime | None = None, batch: int = 200,
                    worker: str | None = None, limit: int | None = None,
                    policy: TimerPolicy | None = None) -> DrainResult:
    """Fire every timer due at `now`, oldest first and in due order per case, each in its own transaction
    (one command = one commit).

    Safe to run in several processes at once: a timer is claimed before firing, and firing re-checks the row
    under the case lock, so each timer takes effect once. The claims' lease is renewed while the drain works,
    so a drain that dies lets go of them within policy.lease. A timer that fails is tried again after a
    back-off, and after policy.max_attempts failures becomes an incident (engine/services/incidents.py)."""
    policy = policy or TimerPolicy()
    now = now or runtime.of(session).clock.now()
    worker = worker or worker_name()
    result = DrainResult()
    deferred: set[int] = set()
    while limit is None or result.fired + result.skipped + result.failed < limit:
        ids = claim_due(session, now, batch if limit is None else min(batch, limit), worker, policy)
        if not ids:
            break
        progress = False
        renewed = policy.wall()
        for i, timer_id in enumerate(ids):
            if policy.wall() - renewed > policy.lease / 3:
                renewed = policy.wall()
                _renew(session, ids[i:], worker, renewed + policy.lease)
            try:
                outcome = fire_timer(session, timer_id, now, worker)
            except Exception as exc:  # one broken case must not stop the others: record and go on
                session.rollback()
                log.exception("timer %s failed", timer_id)
                result.failed += 1
                result.errors.append(f"timer {timer_id}: {exc}")
                if record_failure(session, timer_id, worker, exc, now, policy):
                    result.incidents += 1
                progress = True
                continue
            if outcome == "fired":
                result.fired += 1
                progress = True
            elif outcome == "deferred":
                result.deferred += 1
                progress = progress or timer_id not in deferred
                deferred.add(timer_id)
            else:
                result.skipped += 1
        if not progress:
            # Only rows deferred before came back (their earlier row is held by a claim still being taken):
            # the next pass takes them.
            break
    log.debug("drain at %s: %s", now.isoformat(), result)
    return result


_FAILED_ROW = select(_T.id, _T.case_id, _T.kind, _T.name, _T.ref, _T.due_at, _T.claimed_by, _T.fired_at,
                     _T.attempts).where(_T.id == bindparam("timer_id"))


def record_failure(session: Session, timer_id: int, worker: str, exc: Exception, now: datetime,
                   policy: TimerPolicy) -> bool:
    """After a failed firing (rolled back): count the attempt, and either let the timer back off or, at the
    last allowed attempt, make it an incident with a case event. True if it became an incident. Commits."""
    case = case_store.lock_case_of_timer(session, timer_id)
    row = session.execute(_FAILED_ROW, {"timer_id": timer_id}).one_or_none() if case is not None else None
    if row is None or row.fired_at is not None or row.claimed_by != worker:
        session.rollback()  # the row went, or another drain took it over meanwhile
        return False
    message = (exc.message if isinstance(exc, CaseError) else f"{type(exc).__name__}: {exc}")[:4000]
    message_id = getattr(exc, "message_id", None) if isinstance(exc, CaseError) else None
    # JSON-safe (a parameter may be a datetime or another message: its text)
    params = json.loads(json.dumps(exc.params, default=str, ensure_ascii=False)) if message_id else None
    attempts = row.attempts + 1
    wall = policy.wall()
    released = {"claimed_by": None, "claimed_until": None, "attempts": attempts, "last_error": message}
    if attempts < policy.max_attempts:
        session.execute(update(TIMERS).where(_T.id == timer_id)
                        .values(retry_at=wall + policy.backoff_after(attempts), **released))
        session.commit()
        log.warning("timer %s of case %s failed (attempt %s of %s), tried again in %s",
                    timer_id, row.case_id, attempts, policy.max_attempts, policy.backoff_after(attempts))
        return False
    details = getattr(exc, "details", None)
    element_id = details.get("element_id") if isinstance(details, dict) else None
    session.execute(update(TIMERS).where(_T.id == timer_id).values(retry_at=None, incident=True, **released))
    incident = IncidentModel(case_id=row.case_id, timer_id=row.id, kind=row.kind, ref=row.ref, name=row.name,
                             element_id=element_id, due_at=row.due_at, message=message, message_id=message_id,
                             message_params=params, attempts=attempts,
                             created_at=wall)
    session.add(incident)
    session.flush()
    chain.append_event(session, case, "incident_opened", "system", effective_moment(case.event_at, row.due_at, now),
                          {"incident": incident.id, "timer": row.name, "element_id": element_id,
                           "due_at": row.due_at.isoformat(), "attempts": attempts, "message": message,
                           "message_id": message_id, "params": params},
                          task_name=row.name)
    session.commit()
    log.error("timer %s of case %s failed %s times: incident %s", timer_id, row.case_id, attempts, incident.id)
    return True


def fire_timer(session: Session, timer_id: int, now: datetime, worker: str) -> str:
    """Fire one claimed timer through the case command. Commits.

    Returns "fired"; "skipped" if it was already fired or taken; "deferred" (claim released) if an earlier-due
    timer of the same case has not fired yet — a case's timers fire in due order. Raises Conflict, TaskFailed."""
    case = case_store.lock_case_of_timer(session, timer_id)
    # Read the row under the lock (a Core row): another drain may have fired or taken it meanwhile.
    timer = session.execute(TIMER_ROW, {"timer_id": timer_id}).one_or_none() if case is not None else None
    if timer is None or timer.fired_at is not None or timer.claimed_by != worker:
        session.rollback()
        return "skipped"
    if timer.blocked:
        session.execute(_RELEASE, {"timer_id": timer_id})
        session.commit()
        return "deferred"
    fire_timer_row(session, case, timer, now, "system")
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(msg("case.changed_concurrently")) from exc
    return "fired"
