"""Durable timers: the index of what is due (BPMN timers and supervision-ladder steps) and the drain loop."""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, bindparam, delete, exists, insert, literal, or_, select, update
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import runtime
from engine.db import send
from engine.errors import CalendarError
from engine.models import CaseModel, TaskCandidateModel, TaskModel, TimerModel

log = logging.getLogger(__name__)

# warning levels shown in task lists
LEVEL_NAMES = {0: None, 1: "提示", 2: "催办", 3: "督办", 4: "挂牌督办"}
CLAIM_LEASE = timedelta(minutes=5)


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


_PENDING_OF_CASE = (select(TimerModel).where(TimerModel.case_id == bindparam("case_id"), TimerModel.fired_at.is_(None))
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


def next_due(session: Session) -> datetime | None:
    """The earliest pending due moment (the scheduler's exact wake-up)."""
    return session.scalar(select(TimerModel.due_at).where(TimerModel.fired_at.is_(None))
                          .order_by(TimerModel.due_at).limit(1))


# ---------------------------------------------------------------- the drain loop

@dataclass
class DrainResult:
    fired: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def claim_due(session: Session, now: datetime, batch: int, worker: str) -> list[int]:
    """Claim up to `batch` due rows, oldest first, for this worker (SKIP LOCKED on PostgreSQL). Commits."""
    due = and_(TimerModel.fired_at.is_(None), TimerModel.due_at <= now,
               or_(TimerModel.claimed_until.is_(None), TimerModel.claimed_until < now))
    stmt = select(TimerModel.id).where(due).order_by(TimerModel.due_at, TimerModel.id).limit(batch)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(session.scalars(stmt))
    if ids:
        session.execute(update(TimerModel).where(TimerModel.id.in_(ids), due)
                        .values(claimed_by=worker, claimed_until=now + CLAIM_LEASE))
    session.commit()
    return ids


def fire_due_timers(session: Session, now: datetime | None = None, batch: int = 200,
                    worker: str | None = None, limit: int | None = None) -> DrainResult:
    """Fire every timer due at `now`, oldest first, each in its own transaction (one command = one commit).

    Safe to run in several processes at once: a timer is claimed before firing, and firing re-checks the row
    under the case lock, so each timer takes effect once."""
    from engine.services.cases import fire_timer  # the case command lives with the other case commands

    now = now or runtime.get().clock.now()
    worker = worker or worker_name()
    result = DrainResult()
    while limit is None or result.fired + result.skipped + result.failed < limit:
        ids = claim_due(session, now, batch if limit is None else min(batch, limit), worker)
        if not ids:
            break
        for timer_id in ids:
            try:
                outcome = fire_timer(session, timer_id, now, worker)
            except Exception as exc:  # one broken case must not stop the others: record and go on
                session.rollback()
                log.exception("timer %s failed", timer_id)
                result.failed += 1
                result.errors.append(f"timer {timer_id}: {exc}")
                _release(session, timer_id, now)
                continue
            if outcome:
                result.fired += 1
            else:
                result.skipped += 1
    log.debug("drain at %s: %s", now.isoformat(), result)
    return result


def _release(session: Session, timer_id: int, now: datetime) -> None:
    # A failing timer backs off for a lease period instead of spinning; the failure is in the log and events.
    session.execute(update(TimerModel).where(TimerModel.id == timer_id)
                    .values(claimed_by="failed", claimed_until=now + CLAIM_LEASE))
    session.commit()


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
