"""Recomputing deadlines after a year's calendar changed: the per-case step (below the services; the command
is services/deadlines.recompute_deadlines, the replay of its event is history.verify_case). See that service's
docstring for what is recomputed and what is only reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, union
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition, TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import case_store, casework, routing, runtime, task_index
from engine.clock import CHINA_TZ, running_at
from engine.models import CaseModel, TaskModel, TimerModel
from engine.timer_index import SET_ASIDE

# How far apart the two moments are at which a timer expression is evaluated to learn whether its value
# depends on "now" (a period without an explicit start): longer than any period, so no two answers agree
# by accident.
_PROBE = timedelta(days=3653)


@dataclass
class Moved:
    element: str  # the element's name as staff know it
    kind: str  # "timer" | "task"
    old: datetime | None  # None: a party's window held for confirmation (its moment set aside), now re-armed
    new: datetime


@dataclass
class CaseRecomputed:
    case_id: int
    code: str
    moved: list[Moved] = field(default_factory=list)
    unsure: list[str] = field(default_factory=list)  # elements whose deadline could not be recomputed safely


class Unchanged(Exception):
    """Nothing moved in this case: leave it untouched (no event, no write)."""


def affected_cases(session: Session, year: int) -> list[int]:
    """Open cases with a pending BPMN timer or an open task due in `year` or later (a period ending before the
    year counts no day of it, so it cannot move)."""
    start = datetime(year, 1, 1, tzinfo=CHINA_TZ).astimezone(timezone.utc)
    timers = select(TimerModel.case_id).where(TimerModel.fired_at.is_(None), TimerModel.kind == "bpmn",
                                              TimerModel.due_at >= start)
    tasks = select(TaskModel.case_id).where(TaskModel.kind == "bpmn", TaskModel.due_at >= start)
    ids = union(timers, tasks).subquery()
    return list(session.scalars(select(CaseModel.id).where(CaseModel.id.in_(select(ids.c.case_id)),
                                                            CaseModel.status == "open").order_by(CaseModel.id)))


def recompute(found: CaseRecomputed, year: int, reason: str):
    """The `apply` step (casework.execute) recomputing one case's deadlines; raises Unchanged when none moved."""
    def apply(ctx):
        session, workflow = ctx.session, ctx.workflow
        rt = runtime.of(session)
        rows = {row.id: row for row in session.scalars(select(TaskModel).where(TaskModel.case_id == ctx.case.id,
                                                                                 TaskModel.kind == "bpmn"))}
        start = datetime(year, 1, 1, tzinfo=CHINA_TZ)
        recorded = []
        for task in workflow.get_tasks(state=TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, TimeDateEventDefinition):
                continue
            old_value = task._get_internal_data("event_value")
            if old_value is None:
                continue
            old = TimerEventDefinition.get_datetime(str(old_value))
            if old < start:
                continue
            name = task.task_spec.bpmn_name or task.task_spec.bpmn_id
            new_value = _timer_value(task, definition, rows, ctx.now)
            if new_value is None:
                found.unsure.append(name)
                continue
            new = TimerEventDefinition.get_datetime(str(new_value))
            if new != old:
                task._set_internal_data(event_value=new_value)
                # a window held for confirmation (engine/expiry.py) is re-armed: it had no moment of its own
                found.moved.append(Moved(name, "timer", None if old_value == SET_ASIDE else old, new))
                recorded.append({"spec_name": task.task_spec.name, "event_value": new_value,
                                 "ordinal": _waiting_ordinal(workflow, task)})
        for row in rows.values():
            if row.due_at is None or row.due_at < start:
                continue
            spiff_task = casework.find_task(workflow, row.id)
            info = ctx.version.user_task(row.spec_name) or {}
            if spiff_task is None or not info.get("due_date"):
                continue
            try:
                with running_at(row.created_at):
                    new_due = routing.due_at(info, spiff_task, row.created_at, rt)
            except Exception:  # a due date that no longer evaluates: reported, not guessed
                found.unsure.append(row.title)
                continue
            if new_due is not None and new_due != row.due_at:
                found.moved.append(Moved(row.title, "task", row.due_at, new_due))
                task_index.set_due(session, row.id, new_due)
                set_committed_value(row, "due_at", new_due)
        if not found.moved:
            raise Unchanged()
        # what replay needs (the timers' values) and what the history shows (what moved, and why)
        command = {"timers": recorded, "year": year, "reason": reason,
                   "moved": [{"element": m.element, "kind": m.kind, "old": m.old.isoformat() if m.old else None,
                              "new": m.new.isoformat()} for m in found.moved]}
        return None, command
    return apply


def _timer_value(task, definition, rows: dict, now: datetime) -> str | None:
    """The timer's value under the calendar now in force, or None when it cannot be known safely."""
    try:
        return _evaluated(task, definition, rows, now)
    except Exception:  # an expression that no longer evaluates (data changed, a year unknown): review it
        return None


def _evaluated(task, definition, rows: dict, now: datetime) -> str | None:
    engine = task.workflow.script_engine
    with running_at(now):
        here = engine.evaluate(task, definition.expression)
    with running_at(now + _PROBE):
        later = engine.evaluate(task, definition.expression)
    if here == later:
        return str(here)  # the value does not depend on the moment: an explicit start, or a stored value
    armed = _armed_at(task, rows)
    if armed is None:
        return None
    with running_at(armed):
        return str(engine.evaluate(task, definition.expression))


def _armed_at(task, rows: dict) -> datetime | None:
    """When a boundary timer was armed: when the user task it is attached to opened (its row's created_at)."""
    parent = task.parent
    for sibling in (parent.children if parent is not None else []):
        row = rows.get(str(sibling.id))
        if row is not None:
            return row.created_at
    return None


def _waiting_ordinal(workflow, task) -> int:
    same = [t for t in workflow.get_tasks(state=TaskState.WAITING) if t.task_spec.name == task.task_spec.name]
    return next(i for i, t in enumerate(same) if t.id == task.id)


def replay(workflow, command: dict) -> None:
    """Apply a recorded deadlines_recomputed command to a replayed workflow (history.verify_case)."""
    for entry in command.get("timers", []):
        same = [t for t in workflow.get_tasks(state=TaskState.WAITING) if t.task_spec.name == entry["spec_name"]]
        if entry["ordinal"] < len(same):
            same[entry["ordinal"]]._set_internal_data(event_value=entry["event_value"])


def recompute_cases(session, year: int, actor_name: str, now, reason: str, dry_run: bool = False) -> list:
    """Recompute the open deadlines of every case that may depend on `year`'s calendar: one command per case
    that changed, committed (or rolled back: `dry_run`, the administration console's preview). Returns the
    cases that changed or need a review (CaseRecomputed). The one loop behind `jiefen calendar recompute`, the
    scheduler's recompute and a year saved in the console."""
    out = []
    for case_id in affected_cases(session, year):
        case = case_store.lock_case(session, case_id)
        found = CaseRecomputed(case.id, case.code)
        try:
            casework.execute(session, case, actor_name, now, recompute(found, year, reason), "deadlines_recomputed")
            if dry_run:
                session.rollback()
            else:
                session.commit()
        except Unchanged:
            session.rollback()
        except Exception:
            session.rollback()
            raise
        if found.moved or found.unsure:
            out.append(found)
    return out
