"""The timer index: the timers table's pending rows kept equal to what a case waits for — its waiting BPMN
timers and the next supervision-ladder step of each of its tasks. Rebuilt by every case command (casework.save);
the drain (services/timers.py) reads it.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import runtime, task_index
from engine.fastpath import send
from engine.ladder import ladder_on, next_ladder_step, task_laddered
from engine.models import CaseModel, TimerModel

# A party's window held for a supervisor's confirmation (engine/expiry.py): its timer's moment is set aside
# (this value, far beyond any deadline) and its fired row has kind HELD, until it is confirmed or moot.
HELD = "held"
SET_ASIDE = "9999-12-31T00:00:00+00:00"


def held_task_id(timer_id: int) -> str:
    """The confirmation task of a held timer row."""
    return f"ex-{timer_id}"


def _timer_due(task) -> datetime | None:
    value = task._get_internal_data("event_value")
    if value is None or value == SET_ASIDE:
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


# Built once (see casework): rebuild_timers runs in every case command.
TIMERS = TimerModel.__table__
_CASE_TIMERS = select(TIMERS.c.id, TIMERS.c.kind, TIMERS.c.ref, TIMERS.c.due_at, TIMERS.c.fired_at).where(
    TIMERS.c.case_id == bindparam("case_id"))
_DELETE_TIMER = delete(TIMERS).where(TIMERS.c.id == bindparam("timer_id"))  # executemany: no IN list to re-render
_DELETE_PENDING_OF_CASE = delete(TIMERS).where(TIMERS.c.case_id == bindparam("case_id"), TIMERS.c.fired_at.is_(None))
_INSERT_TIMERS = insert(TIMERS).inline()  # buffered (fastpath.run_writes): no implicit RETURNING of the id


def rebuild_timers(session: Session, case: CaseModel, workflow, task_rows: list, writes: list,
                   new_case: bool = False, pending: list | None = None) -> dict[int, str]:
    """Make the case's pending timer rows match its waiting BPMN timers and its tasks' ladders.

    Rows that stay the same are kept (with any claim a drain holds on them); only changes are written, as
    (statement, parameters) appended to `writes` for the command to send with its others (fastpath.run_writes).
    A case inserted by this command (new_case) has no rows yet, so none are read. `pending`: the workflow's
    READY and WAITING tasks (casework.pending_tasks), when the caller has them. Returns the held expiries that
    went moot ({timer row id: confirmation task id}: the caller records their cancellation)."""
    if case.status != "open":
        # A closed case waits for nothing: its pending rows go in one statement, without reading them first.
        if not new_case:
            writes.append((_DELETE_PENDING_OF_CASE, {"case_id": case.id}))
        return {}
    rows = [] if new_case else send(session.connection(), _CASE_TIMERS, {"case_id": case.id})
    moot = _moot_holds(rows, workflow, pending, writes)
    fired = {(row.ref, row.due_at) for row in rows if row.fired_at is not None and row.id not in moot}
    wanted: dict[tuple[str, str, datetime], str] = {}
    for ref, name, due in _waiting_timers(workflow, pending):
        if (ref, due) not in fired:
            wanted[("bpmn", ref, due)] = name
    rt = runtime.of(session)
    if ladder_on(case, rt):
        for task in task_rows:
            step = next_ladder_step(task, rt, fired, case.tier) if task_laddered(session, case, task) else None
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
    return moot


def _moot_holds(rows, workflow, pending, writes: list) -> dict[int, str]:
    """Held rows (engine/expiry.py) whose timer no longer waits set aside — the window closed another way, or
    `jiefen calendar recompute` re-armed it — go, with their confirmation tasks (buffered writes); a timer
    re-armed at the same moment then gets a fresh pending row. Costs nothing when the case holds none.
    Returns {row id: confirmation task id} of the rows that went."""
    held = [row for row in rows if row.kind == HELD]
    if not held:
        return {}
    waiting = (workflow.get_tasks(state=TaskState.WAITING) if pending is None
               else (t for t in pending if t.state == TaskState.WAITING))
    set_aside = {str(t.id) for t in waiting if t._get_internal_data("event_value") == SET_ASIDE}
    moot = {row.id: held_task_id(row.id) for row in held if row.ref not in set_aside}
    if moot:
        task_index.drop_tasks(writes, list(moot.values()))
        writes.append((_DELETE_TIMER, [{"timer_id": row_id} for row_id in moot]))
    return moot
