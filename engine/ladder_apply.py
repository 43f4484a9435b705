"""A ladder policy saved "for open tasks too" (services/settings_admin.py): every open case whose tasks' next ladder
step moves under it gets one recorded command (ladder_policy_applied: which task, which step when before and
after), in which the timer index is rebuilt as in every command. A case where nothing moves is left untouched.

The command changes no workflow state: replay (history.verify_case) passes over it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import case_store, casework, runtime
from engine.ladder import LEVEL_NAMES, next_ladder_step, task_laddered
from engine.models import CaseModel, TaskModel, TimerModel

REASON = "督办阶梯规则已调整并适用于在办事项，重新计算下一督办节点"


@dataclass
class StepMoved:
    task: str  # the task's title
    old: tuple[str, datetime] | None  # (step title, moment) of its pending step before
    new: tuple[str, datetime] | None


@dataclass
class CaseReladdered:
    case_id: int
    code: str
    moved: list[StepMoved] = field(default_factory=list)


class _Unchanged(Exception):
    pass


def _step_of(ref: str) -> str:
    return ref.rpartition(":")[2]


_TITLES = {"prompt": LEVEL_NAMES[1], "reminder": LEVEL_NAMES[2], "notice": LEVEL_NAMES[3], "listing": LEVEL_NAMES[4]}


def _apply(found: CaseReladdered, version: int):
    def apply(ctx):
        session, case = ctx.session, ctx.case
        rt = runtime.of(session)
        timers = session.execute(select(TimerModel.ref, TimerModel.due_at, TimerModel.fired_at).where(
            TimerModel.case_id == case.id, TimerModel.kind == "ladder")).all()
        fired = {(t.ref, t.due_at) for t in timers if t.fired_at is not None}
        pending = {t.ref.rpartition(":")[0]: (t.ref, t.due_at) for t in timers if t.fired_at is None}
        tasks = session.scalars(select(TaskModel).where(TaskModel.case_id == case.id, TaskModel.kind == "bpmn")
                                .order_by(TaskModel.created_at, TaskModel.id)).all()
        for task in tasks:
            step = next_ladder_step(task, rt, fired, case.tier) if task_laddered(session, case, task) else None
            old = pending.get(task.id)
            new = (step.ref, step.due_at) if step is not None else None
            if old != new:
                found.moved.append(StepMoved(task.title, old and (_TITLES[_step_of(old[0])], old[1]),
                                             new and (_TITLES[_step_of(new[0])], new[1])))
        if not found.moved:
            raise _Unchanged()
        return None, {"policy_version": version, "reason": REASON, "moved": [
            {"task": m.task, "old": m.old and {"step": m.old[0], "at": m.old[1].isoformat()},
             "new": m.new and {"step": m.new[0], "at": m.new[1].isoformat()}} for m in found.moved]}
    return apply


def apply_to_open_tasks(session: Session, actor_name: str, now: datetime, version: int) -> list[CaseReladdered]:
    """Rebuild the next ladder step of every open case's tasks under the policy in force (the caller saved it for
    open tasks and serves it): one command per case where a step moved, each committed. Returns those cases."""
    case_ids = list(session.scalars(
        select(CaseModel.id).where(CaseModel.status == "open", CaseModel.id.in_(
            select(TaskModel.case_id).where(TaskModel.kind == "bpmn", TaskModel.due_at.is_not(None))))
        .order_by(CaseModel.id)))
    out = []
    for case_id in case_ids:
        case = case_store.lock_case(session, case_id)
        found = CaseReladdered(case.id, case.code)
        try:
            casework.execute(session, case, actor_name, now, _apply(found, version), "ladder_policy_applied")
            session.commit()
        except _Unchanged:
            session.rollback()
            continue
        except Exception:
            session.rollback()
            raise
        out.append(found)
    return out
