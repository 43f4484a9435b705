"""Durable timers: the index of what is due (BPMN timers and supervision-ladder steps) and the drain loop."""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, bindparam, delete, exists, false, insert, literal, or_, select, update
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import casework, runtime
from engine.db import send
from engine.errors import CalendarError, CaseError
from engine.models import CaseModel, IncidentModel, TaskCandidateModel, TaskModel, TimerModel

log = logging.getLogger(__name__)

# warning levels shown in task lists
LEVEL_NAMES = {0: None, 1: "提示", 2: "催办", 3: "督办", 4: "挂牌督办"}


@dataclass(frozen=True)
class _Step:
    name: str
    title: str
    level: int


LADDER = (_Step("prompt", "提示", 1), _Step("reminder", "催办", 2), _Step("notice", "督办", 3),
          _Step("listing", "挂牌督办", 4))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------- the index

def _timer_due(task) -> datetime | None:
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(value, dict):  # cycle: {'cycles', 'next', 'duration'}
        if value.get("cycles") == 0:
            return None
        value = value.get("next")
    try:
        moment = TimerEventDefinition.get_datetime(str(value))
    except (ValueError, TypeError):
        return None
    return moment.astimezone(timezone.utc)


def _waiting_timers(workflow, pending: list | None = None) -> list[tuple[str, str, datetime]]:
    out = []
    waiting = (workflow.get_tasks(state=TaskState.WAITING) if pending is None
               else (t for t in pending if t.state == TaskState.WAITING))
    for task in waiting:
        definition = getattr(task.task_spec, "event_definition", None)
        definitions = getattr(definition, "event_definitions", None) or [definition]
        if not any(isinstance(d, TimerEventDefinition) for d in definitions):
            continue
        due = _timer_due(task)
        if due is not None:
            name = task.task_spec.bpmn_name or getattr(definition, "name", None) or task.task_spec.bpmn_id
            out.append((str(task.id), name or task.task_spec.name, due))
    return out


def ladder_moments(created: datetime, due: datetime) -> dict[str, datetime]:
    """When each ladder step falls for a task opened at `created` and due at `due` (domain.md §4)."""
    settings = runtime.get().settings
    two_thirds = created + (due - created) * 2 / 3
    days_before = due - timedelta(days=settings.ladder_reminder_days_before)
    prompt = min(two_thirds, days_before) if days_before > created else two_thirds
    notice = due + timedelta(days=settings.ladder_notice_days_after)
    moments = {"prompt": prompt, "reminder": due, "notice": notice}
    try:
        listing = runtime.get().calendar.workdays_dt(settings.ladder_listing_workdays_after, due)
        moments["listing"] = max(listing, notice + timedelta(seconds=1))
    except CalendarError as exc:
        # A deadline years ahead has no holiday data yet: the red listing waits until the calendar knows
        # that year (the index is rebuilt with every command on the case), the other steps stand.
        log.warning("no 挂牌督办 step for a task due %s: %s", due.isoformat(), exc.message)
    return moments


@dataclass(frozen=True)
class LadderStep:
    """A supervision-ladder step of one task: the timer row it has (the next step) or will get (the later ones)."""

    ref: str  # "<task id>:<step name>", the timer row's ref
    due_at: datetime
    name: str  # as the timer row and the case page show it: "催办：调解"
    kind: str = "ladder"


def ladder_on(case) -> bool:
    settings = runtime.get().settings
    return settings.ladder_enabled and settings.tier_ladder.get(case.tier or "", True)


def ladder_steps(task, fired=frozenset()) -> list[LadderStep]:
    """The steps still to come for a task (a task row: id, title, created_at, due_at, warning_level), in order.

    `fired`: (ref, due_at) of the case's fired timer rows; such a step does not come again."""
    if task.due_at is None:
        return []
    moments = ladder_moments(task.created_at, task.due_at)
    out = []
    for step in LADDER:
        ref = f"{task.id}:{step.name}"
        if step.name in moments and step.level > task.warning_level and (ref, moments[step.name]) not in fired:
            out.append(LadderStep(ref, moments[step.name], f"{step.title}：{task.title}"))
    return out


def next_ladder_step(task, fired=frozenset()) -> LadderStep | None:
    """The one step of a task that has a timer row: firing it raises the warning level and adds the next.

    A row per step cost four inserts when a task opened and four deletes when it closed (bench/README.md)."""
    steps = ladder_steps(task, fired)
    return steps[0] if steps else None


# Built once (see casework): rebuild_timers runs in every case command.
TIMERS = TimerModel.__table__
_CASE_TIMERS = select(TIMERS.c.id, TIMERS.c.kind, TIMERS.c.ref, TIMERS.c.due_at, TIMERS.c.fired_at).where(
    TIMERS.c.case_id == bindparam("case_id"))
_DELETE_TIMER = delete(TIMERS).where(TIMERS.c.id == bindparam("timer_id"))  # executemany: no IN list to re-render
_DELETE_PENDING_OF_CASE = delete(TIMERS).where(TIMERS.c.case_id == bindparam("case_id"), TIMERS.c.fired_at.is_(None))
_INSERT_TIMERS = insert(TIMERS).inline()  # buffered (db.run_writes): no implicit RETURNING of the id


def rebuild_timers(session: Session, case: CaseModel, workflow, task_rows: list, writes: list,
                   new_case: bool = False, pending: list | None = None) -> None:
    """Make the case's pending timer rows match its waiting BPMN timers and its tasks' ladders.

    Rows that stay the same are kept (with any claim a drain holds on them); only changes are written, as
    (statement, parameters) appended to `writes` for the command to send with its others (db.run_writes).
    A case inserted by this command (new_case) has no rows yet, so none are read. `pending`: the workflow's
    READY and WAITING tasks (casework.pending_tasks), when the caller has them."""
    if case.status != "open":
        # A closed case waits for nothing: its pending rows go in one statement, without reading them first.
        if not new_case:
            writes.append((_DELETE_PENDING_OF_CASE, {"case_id": case.id}))
        return
    rows = [] if new_case else send(session.connection(), _CASE_TIMERS, {"case_id": case.id})
    fired = {(row.ref, row.due_at) for row in rows if row.fired_at is not None}
    wanted: dict[tuple[str, str, datetime], str] = {}
    for ref, name, due in _waiting_timers(workflow, pending):
        if (ref, due) not in fired:
            wanted[("bpmn", ref, due)] = name
    if ladder_on(case):
        for task in task_rows:
            step = next_ladder_step(task, fired) if task.kind == "bpmn" else None
            if step is not None:
                wanted[("ladder", step.ref, step.due_at)] = step.name
    stale = []
    for row in (r for r in rows if r.fired_at is None):
        if wanted.pop((row.kind, row.ref, row.due_at), None) is None:
            stale.append(row.id)
    if stale:
        writes.append((_DELETE_TIMER, [{"timer_id": timer_id} for timer_id in stale]))
    if wanted:
        writes.append((_INSERT_TIMERS, [{"case_id": case.id, "kind": kind, "name": name, "ref": ref, "due_at": due,
                                         "claimed_by": None, "claimed_until": None, "fired_at": None}
                                        for (kind, ref, due), name in wanted.items()]))


# The next ladder step of a task, unless a pending row has that ref already (a case from before migration
# 0009 still has a row for every step): one statement either way.
_T = TIMERS.c
_ADD_LADDER_STEP = insert(TIMERS).from_select(
    ["case_id", "kind", "name", "ref", "due_at"],
    select(bindparam("case_id", type_=_T.case_id.type), literal("ladder"), bindparam("name", type_=_T.name.type),
           bindparam("ref", type_=_T.ref.type), bindparam("due_at", type_=_T.due_at.type))
    .where(~exists().where(_T.case_id == bindparam("case_id"), _T.ref == bindparam("ref"), _T.fired_at.is_(None))))


def add_next_ladder_step(session: Session, case: CaseModel, task) -> None:
    """After a ladder step of `task` fired (its warning level raised): put the next step in the index."""
    step = next_ladder_step(task) if case.status == "open" and ladder_on(case) else None
    if step is not None:
        session.execute(_ADD_LADDER_STEP, {"case_id": case.id, "name": step.name, "ref": step.ref, "due_at": step.due_at})


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
    later = [step for task in case_tasks if task.id in laddered
             for step in ladder_steps(task) if step.ref not in have]
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

def wall_now() -> datetime:
    """The real time, for leases and back-off: never the moment a drain fires as of (`run-due --now`)."""
    return datetime.now(timezone.utc)


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
    from engine.services.cases import fire_timer  # the case command lives with the other case commands

    policy = policy or TimerPolicy()
    now = now or runtime.get().clock.now()
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
    case = casework.lock_case_of_timer(session, timer_id)
    row = session.execute(_FAILED_ROW, {"timer_id": timer_id}).one_or_none() if case is not None else None
    if row is None or row.fired_at is not None or row.claimed_by != worker:
        session.rollback()  # the row went, or another drain took it over meanwhile
        return False
    message = (exc.message if isinstance(exc, CaseError) else f"{type(exc).__name__}: {exc}")[:4000]
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
                             element_id=element_id, due_at=row.due_at, message=message, attempts=attempts,
                             created_at=wall)
    session.add(incident)
    session.flush()
    casework.append_event(session, case, "incident_opened", "system", effective_moment(case.event_at, row.due_at, now),
                          {"incident": incident.id, "timer": row.name, "element_id": element_id,
                           "due_at": row.due_at.isoformat(), "attempts": attempts, "message": message},
                          task_name=row.name)
    session.commit()
    log.error("timer %s of case %s failed %s times: incident %s", timer_id, row.case_id, attempts, incident.id)
    return True


def open_supervision_task(session: Session, case: CaseModel, task: TaskModel, step: str, now: datetime,
                          timer_id: int) -> TaskModel | None:
    """督办 / 挂牌督办: a follow-up task for the unit head, or the next-level center's supervision desk. Flushes."""
    if step == "notice":
        role, org_id, title = "unit_head", task.org_unit_id, f"督办单：{task.title}"
    elif step == "listing":
        parent = case.org_unit.parent_id or case.org_unit_id
        role, org_id, title = "supervisor", parent, f"挂牌督办：{task.title}"
    else:
        return None
    follow = TaskModel(id=f"sv-{timer_id}", kind="supervision", source_task_id=task.id, case_id=case.id,
                       process_id=case.process_id, spec_name=f"supervision_{step}", title=title, lane=None,
                       roles=[role], org_unit_id=org_id, assignee=None,
                       due_at=runtime.get().calendar.workdays_dt(2, now).astimezone(timezone.utc),
                       due_basis="督办单须在2个工作日内书面答复 (domain.md §4)", warning_level=0, created_at=now)
    follow.candidates = [TaskCandidateModel(task_id=follow.id, role=role, org_unit_id=org_id, due_sort=follow.due_at,
                                            created_at=now, warning_level=0, assignee=None,
                                            process_id=case.process_id, category=case.category,
                                            case_code=case.code, title=title)]
    session.add(follow)
    session.flush()
    return follow
