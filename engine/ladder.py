"""The supervision ladder (domain.md §4): 提示 → 催办 → 督办 → 挂牌督办, in one place.

Policy (config/org.toml [ladder]: on/off per tier, when each step falls, who gets the follow-up task), the
steps and their moments, the one timer row per task that brings the next step (the timer index asks
next_ladder_step), firing a step (the warning level, the 督办单 / 挂牌督办 follow-up task), and answering
a follow-up task (书面答复).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import bindparam, exists, insert, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine import chain, forms, runtime, task_index
from engine.clock import CHINA_TZ
from engine.errors import CalendarError
from engine.models import CaseModel, TaskModel, TimerModel

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


def ladder_moments(created: datetime, due: datetime, rt: runtime.Runtime) -> dict[str, datetime]:
    """When each ladder step falls for a task opened at `created` and due at `due` (domain.md §4), each moved
    so that it fires on a working day (on_working_day), in strictly increasing order."""
    settings = rt.settings
    two_thirds = created + (due - created) * 2 / 3
    days_before = due - timedelta(days=settings.ladder_reminder_days_before)
    prompt = min(two_thirds, days_before) if days_before > created else two_thirds
    notice = due + timedelta(days=settings.ladder_notice_days_after)
    wanted: dict[str, datetime | None] = {"prompt": prompt, "reminder": due, "notice": notice, "listing": None}
    moments: dict[str, datetime] = {}
    previous = None
    for name in wanted:
        try:
            moment = wanted[name]
            if moment is None:  # listing: N working days after the deadline
                moment = rt.calendar.workdays_dt(settings.ladder_listing_workdays_after, due)
            if previous is not None:
                moment = max(moment, previous + timedelta(seconds=1))
        except CalendarError as exc:
            # A deadline years ahead has no holiday data yet: that step waits until the calendar knows the
            # year (the index is rebuilt with every command on the case), the other steps stand.
            log.warning("no %s step for a task due %s: %s", name, due.isoformat(), exc.message)
            continue
        try:
            moment = on_working_day(moment, rt)
        except CalendarError:
            pass  # a year the calendar does not know: the step stands where it falls (escalating beats silence)
        moments[name] = previous = moment
    return moments


def on_working_day(moment: datetime, rt: runtime.Runtime) -> datetime:
    """`moment`, or a later one, so that a ladder step due then fires on a working day (no 催办 on Saturday).

    A timer fires just after its moment (timer_firing.effective_moment), and 23:59:59 stands for 24:00, so the
    day it fires on is the China day of moment + 1 s. When that day is a rest day (rt.calendar: weekends,
    holidays, closures; 调休 make-up days work), the step moves to 23:59:59 China time of the last rest day
    before the next working day: it fires at the start of that working day. Raises CalendarError for a year
    the calendar does not know."""
    fires_on = (moment + timedelta(seconds=1)).astimezone(CHINA_TZ).date()
    if rt.calendar.is_workday(fires_on):
        return moment
    day = fires_on
    while not rt.calendar.is_workday(day + timedelta(days=1)):
        day += timedelta(days=1)
    moved = datetime.combine(day, time(23, 59, 59), CHINA_TZ)
    return moved.astimezone(moment.tzinfo) if moment.tzinfo is not None else moved


@dataclass(frozen=True)
class LadderStep:
    """A supervision-ladder step of one task: the timer row it has (the next step) or will get (the later ones)."""

    ref: str  # "<task id>:<step name>", the timer row's ref
    due_at: datetime
    name: str  # as the timer row and the case page show it: "催办：调解"
    kind: str = "ladder"


def ladder_on(case, rt: runtime.Runtime) -> bool:
    settings = rt.settings
    return settings.ladder_enabled and settings.tier_ladder.get(case.tier or "", True)


def ladder_steps(task, rt: runtime.Runtime, fired=frozenset()) -> list[LadderStep]:
    """The steps still to come for a task (a task row: id, title, created_at, due_at, warning_level), in order.

    `fired`: (ref, due_at) of the case's fired timer rows; such a step does not come again."""
    if task.due_at is None:
        return []
    moments = ladder_moments(task.created_at, task.due_at, rt)
    out = []
    for step in LADDER:
        ref = f"{task.id}:{step.name}"
        if step.name in moments and step.level > task.warning_level and (ref, moments[step.name]) not in fired:
            out.append(LadderStep(ref, moments[step.name], f"{step.title}：{task.title}"))
    return out


def next_ladder_step(task, rt: runtime.Runtime, fired=frozenset()) -> LadderStep | None:
    """The one step of a task that has a timer row: firing it raises the warning level and adds the next.

    A row per step cost four inserts when a task opened and four deletes when it closed (bench/README.md)."""
    steps = ladder_steps(task, rt, fired)
    return steps[0] if steps else None


# The next ladder step of a task, unless a pending row has that ref already (a case from before migration
# 0009 still has a row for every step): one statement either way.
TIMERS = TimerModel.__table__
_T = TIMERS.c
_ADD_LADDER_STEP = insert(TIMERS).from_select(
    ["case_id", "kind", "name", "ref", "due_at"],
    select(bindparam("case_id", type_=_T.case_id.type), literal("ladder"), bindparam("name", type_=_T.name.type),
           bindparam("ref", type_=_T.ref.type), bindparam("due_at", type_=_T.due_at.type))
    .where(~exists().where(_T.case_id == bindparam("case_id"), _T.ref == bindparam("ref"), _T.fired_at.is_(None))))


def add_next_ladder_step(session: Session, case: CaseModel, task) -> None:
    """After a ladder step of `task` fired (its warning level raised): put the next step in the index."""
    rt = runtime.of(session)
    step = next_ladder_step(task, rt) if case.status == "open" and ladder_on(case, rt) else None
    if step is not None:
        session.execute(_ADD_LADDER_STEP, {"case_id": case.id, "name": step.name, "ref": step.ref, "due_at": step.due_at})


def fire_step(session: Session, case: CaseModel, timer, moment: datetime, actor: str = "system") -> None:
    """One ladder step of a task (`timer`: the timer row, read under the case lock): raise the task's warning
    level, put its next step in the index, record it, and open the step's follow-up task. Flushes only."""
    task_id, _, step_name = timer.ref.rpartition(":")
    step = next(s for s in LADDER if s.name == step_name)
    task = session.get(TaskModel, task_id)
    if task is None or task.warning_level >= step.level:
        return
    task_index.set_warning_level(session, task.id, step.level)
    set_committed_value(task, "warning_level", step.level)  # written above; the object agrees without a read
    add_next_ladder_step(session, case, task)
    chain.append_event(session, case, "task_escalated", actor, moment,
                       {"step": step.name, "title": step.title, "level": step.level,
                        "due_at": task.due_at.isoformat() if task.due_at else None}, task.id, task.title)
    follow = open_follow_up(session, case, task, step.name, moment, timer.id)
    if follow is not None:
        chain.append_event(session, case, "task_opened", "system", moment,
                           {"roles": follow.roles, "due_at": follow.due_at.isoformat(), "basis": follow.due_basis},
                           follow.id, follow.title)


def open_follow_up(session: Session, case: CaseModel, task: TaskModel, step: str, now: datetime,
                   timer_id: int) -> TaskModel | None:
    """督办 / 挂牌督办: a follow-up task for the head of the unit holding the late task (督办单), or the
    supervising center one level up (挂牌督办); the roles are config/org.toml [ladder] notice_role and
    listing_role. Flushes."""
    rt = runtime.of(session)
    settings = rt.settings
    if step == "notice":
        role, org_id, title = settings.ladder_notice_role, task.org_unit_id, f"督办单：{task.title}"
    elif step == "listing":
        parent = case.org_unit.parent_id or case.org_unit_id
        role, org_id, title = settings.ladder_listing_role, parent, f"挂牌督办：{task.title}"
    else:
        return None
    due = rt.calendar.workdays_dt(2, now).astimezone(timezone.utc)
    return task_index.add_follow_up_task(
        session, case, task_id=f"sv-{timer_id}", kind="supervision", source_task_id=task.id,
        spec_name=f"supervision_{step}", title=title, role=role, org_unit_id=org_id, due_at=due,
        due_basis="督办单须在2个工作日内书面答复", now=now)  # shown to staff: the rule, not our docs (domain.md §4)


# ---------------------------------------------------------------- answering a follow-up task

ANSWER_FORM = [
    {"id": "response", "label": "书面答复 / written response", "type": "string", "required": True, "enum": None,
     "default": None, "min": None, "max": None, "minlength": 2, "maxlength": 2000, "readonly": False},
]
_ANSWER_SCHEMA = forms.build_schema(ANSWER_FORM, name="Form_supervision")  # built once


def answer(session: Session, case: CaseModel, task, username: str, now: datetime, data: dict) -> dict:
    """The supervised unit's written answer to a follow-up task: recorded, and the task is done. Flushes only.
    Raises InvalidData (per-field messages)."""
    values = forms.validate_form(_ANSWER_SCHEMA, data, runtime.of(session))
    chain.append_event(session, case, "supervision_answered", username, now, {"data": values}, task.id, task.title)
    task_index.remove_task(session, task.id)
    return values
