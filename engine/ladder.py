"""The supervision ladder (domain.md §4): 提示 → 催办 → 督办 → 挂牌督办, in one place.

Policy (engine/ladder_policy.py: on/off per tier, when each step falls per tier, who answers and who reviews per
kind of unit; config/org.toml [ladder] is the default, an administrator changes it in /admin/ladder), which tasks get it (not those marked jiefen.ladder = off), the steps and their moments, the one timer
row per task that brings the next step (the timer index asks next_ladder_step), firing a step (the warning
level, the 督办单 / 挂牌督办 with its sheet), and the follow-up tasks: the supervised unit's 书面答复, the
supervising center's review (销号 / 退回).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import bindparam, exists, insert, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine import chain, forms, ladder_policy, routing, runtime, stats, task_index, versions
from engine.clock import CHINA_TZ
from engine.errors import CalendarError, InvalidData
from engine.messages import msg
from engine.models import (CaseEventModel, CaseModel, OrgUnitModel, ProcessVersionModel, RoleModel, TaskModel,
                           TimerModel, UserModel)

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


def ladder_moments(created: datetime, due: datetime, rt: runtime.Runtime, tier: str | None = None,
                   policy: ladder_policy.LadderPolicy | None = None) -> dict[str, datetime]:
    """When each ladder step falls for a task opened at `created` and due at `due` in a case of `tier` (domain.md
    §4), under `policy` (default: the one the task follows, Runtime.ladder_policy_at), each moved so that it fires
    on a working day (on_working_day), in strictly increasing order. No steps when the policy turns the tier's
    ladder off; a step the policy leaves out has none."""
    policy = policy or rt.ladder_policy_at(created)
    rules = policy.tier(tier)
    if not (policy.enabled and rules.enabled):
        return {}
    moments: dict[str, datetime] = {}
    previous = None
    for rule in rules.steps:
        name = rule.step
        try:
            moment = ladder_policy.step_moment(rule, created, due, rt.calendar)
            if moment is None:  # a warning due before the task opened: none
                continue
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
    """The ladder runs at all (each task's policy then says whether its case's tier has one: ladder_moments)."""
    return rt.settings.ladder_enabled


def task_laddered(session: Session, case: CaseModel, task) -> bool:
    """The task gets the ladder: a BPMN user task not marked jiefen.ladder = off (a party's own window such as
    the 复查 / 复核 request periods, the 司法确认 application window or the enforcement application; a
    court-internal limit; a task whose lateness the process supervises itself, like the petition's 第40条 督办)."""
    if task.kind != "bpmn":
        return False
    info = versions.load_version(session, case.process_version_id).user_task(task.spec_name) or {}
    return info.get("ladder", True)


def ladder_steps(task, rt: runtime.Runtime, fired=frozenset(), tier: str | None = None) -> list[LadderStep]:
    """The steps still to come for a task (a task row: id, title, created_at, due_at, warning_level) of a case of
    `tier`, in order, under the policy the task follows.

    `fired`: (ref, due_at) of the case's fired timer rows; such a step does not come again."""
    if task.due_at is None:
        return []
    moments = ladder_moments(task.created_at, task.due_at, rt, tier)
    out = []
    for step in LADDER:
        ref = f"{task.id}:{step.name}"
        if step.name in moments and step.level > task.warning_level and (ref, moments[step.name]) not in fired:
            out.append(LadderStep(ref, moments[step.name], f"{step.title}：{task.title}"))
    return out


def next_ladder_step(task, rt: runtime.Runtime, fired=frozenset(), tier: str | None = None) -> LadderStep | None:
    """The one step of a task that has a timer row: firing it raises the warning level and adds the next.

    A row per step cost four inserts when a task opened and four deletes when it closed (bench/README.md)."""
    steps = ladder_steps(task, rt, fired, tier)
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
    on = case.status == "open" and ladder_on(case, rt) and task_laddered(session, case, task)
    step = next_ladder_step(task, rt, tier=case.tier) if on else None
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
    row = chain.append_event(session, case, "task_escalated", actor, moment,
                             {"step": step.name, "title": step.title, "level": step.level,
                              "due_at": task.due_at.isoformat() if task.due_at else None}, task.id, task.title)
    stats.count_events(session, case, [row])
    open_follow_up(session, case, task, step.name, moment, timer.id)


def _roles_for(settings, unit_kind: str) -> dict[str, str]:
    """notice / listing role for a late task held by a unit of `unit_kind` (config/org.toml [ladder.roles])."""
    return settings.ladder_roles.get(unit_kind) or {"notice": settings.ladder_notice_role,
                                                    "listing": settings.ladder_listing_role}


# Units that have no 督办岗 of their own: their center supervises them (a resident department its county center,
# a village its township, a township its county). A county or city center reviews its own staff's lateness at
# its own 督办岗: the city does not review a county window's late 研判.
_SUPERVISED_BY_PARENT = ("department", "village", "township")


def _supervising_unit(unit: OrgUnitModel) -> OrgUnitModel:
    """The center that reviews answers about a late task held at `unit`: the center one level up for a
    department, village or township; a county or city center itself (and the top of the tree)."""
    if unit.kind in _SUPERVISED_BY_PARENT and unit.parent is not None:
        return unit.parent
    return unit


def _at_unit(session: Session, role: str, unit: OrgUnitModel) -> int:
    """`unit`, or the nearest unit above it where somebody holds `role` (never a task nobody can reach below)."""
    return routing.nearest_staffed_unit(session, role, unit)


def open_follow_up(session: Session, case: CaseModel, task: TaskModel, step: str, now: datetime,
                   timer_id: int) -> TaskModel | None:
    """催办 / 督办 / 挂牌督办: a follow-up task for the head of the unit holding the late task (config/org.toml
    [ladder] / [ladder.roles.<unit kind>]). A 催办 is light: the head urges the holder and records it (已督促 and
    a note); it closes by itself if the late task is done first (close_reminders). A 督办单 (or 挂牌督办单) is
    answered in writing (书面答复) and that answer goes to the supervising center one level up for review
    (answer()). The sheet (what is late, since when, who holds it, what earlier steps said) is written into
    the task's task_opened event. Flushes."""
    if step not in _STEP_TITLES:
        return None
    rt = runtime.of(session)
    unit = session.get(OrgUnitModel, task.org_unit_id)
    role = _roles_for(rt.settings, unit.kind)["notice"]
    sheet = _sheet(session, case, task, step, now, unit)
    reminder = step == "reminder"
    return _open(session, case, task_id=f"sv-{timer_id}", source=task.id, spec=f"supervision_{step}",
                 title=f"{_STEP_TITLES[step]}：{task.title}", role=role, org_id=_at_unit(session, role, unit),
                 basis=REMINDER_BASIS if reminder else ANSWER_BASIS, sheet=sheet, now=now,
                 workdays=1 if reminder else 2)


_STEP_TITLES = {"reminder": "催办", "notice": "督办单", "listing": "挂牌督办"}
REMINDER_SPEC = "supervision_reminder"
# shown to staff: the rule, not our docs (domain.md §4)
REMINDER_BASIS = "收到催办后1个工作日内督促承办人办理，并记录督促情况"
ANSWER_BASIS = "督办单须在2个工作日内书面答复"
REVIEW_BASIS = "收到书面答复后2个工作日内审核，销号或退回"


def _open(session: Session, case: CaseModel, *, task_id: str, source: str, spec: str, title: str, role: str,
          org_id: int, basis: str, sheet: dict, now: datetime, workdays: int = 2) -> TaskModel:
    rt = runtime.of(session)
    due = rt.calendar.workdays_dt(workdays, now).astimezone(timezone.utc)
    follow = task_index.add_follow_up_task(
        session, case, task_id=task_id, kind="supervision", source_task_id=source, spec_name=spec, title=title,
        role=role, org_unit_id=org_id, due_at=due, due_basis=basis, now=now)
    chain.append_event(session, case, "task_opened", "system", now,
                       {"roles": follow.roles, "due_at": follow.due_at.isoformat(), "basis": follow.due_basis,
                        "sheet": sheet}, follow.id, follow.title)
    return follow


# ---------------------------------------------------------------- the 督办单 (what the follow-up task shows)

# The sheet's read-only fields, in order: id -> label. Keys starting with "_" are kept but not shown.
SHEET_LABELS = {
    "sv_case": "案件", "sv_task": "逾期事项", "sv_holder": "承办人（单位）", "sv_due": "原办理期限",
    "sv_basis": "期限依据", "sv_late": "逾期", "sv_step": "督办级别", "sv_earlier": "此前各级督办情况",
    "sv_reason": "逾期原因", "sv_measures": "整改措施", "sv_new_date": "承诺办结日期", "sv_answered_by": "答复人",
    "sv_returned": "退回意见",
}
_LONG = {"sv_earlier", "sv_reason", "sv_measures", "sv_returned", "sv_basis"}


def _china(moment: datetime, deadline: bool = False) -> str:
    """A moment as staff read it (China time, to the minute). A deadline at 23:59:59 is that day's 24:00; a
    step that fired just after 23:59:59 fired at the start (00:00) of the next day."""
    local = moment.astimezone(CHINA_TZ)
    if local.time() >= time(23, 59, 59):
        if deadline:
            return f"{local:%Y-%m-%d} 24:00"
        return f"{local.date() + timedelta(days=1):%Y-%m-%d} 00:00"
    return f"{local:%Y-%m-%d %H:%M}"


_TAGS = re.compile(r"\[(?:L|P|D)(?:/(?:L|P|D))*\]\s*")


def _basis_text(text: str | None) -> str:
    """A task's basis as staff read it: the statute and the period, without our [L]/[P]/[D] tags."""
    return _TAGS.sub("", text or "").strip()


def _display(session: Session, username: str | None) -> str:
    if not username:
        return ""
    if username == "system":
        return "系统"
    return session.scalar(select(UserModel.display_name).where(UserModel.username == username)) or username


def _limit_in_workdays(session: Session, case: CaseModel, task: TaskModel) -> bool:
    """The late task's limit is counted in working days (its dueDate uses workdays(...))."""
    if task.kind != "bpmn":
        return True  # a follow-up task's 2 working days
    info = versions.load_version(session, case.process_version_id).user_task(task.spec_name) or {}
    return "workdays(" in (info.get("due_date") or "")


def days_late(due: datetime, moment: datetime, workdays: bool, rt: runtime.Runtime) -> tuple[int, str]:
    """How many days `moment` is past `due`, counted in the limit's unit: the days after the deadline's day up
    to and including the day `moment` falls on (a step at 24:00 belongs to the next day), working days only
    for a limit in working days. Returns (count, unit text); a year the calendar does not know counts
    natural days and says so."""
    first = (due - timedelta(seconds=1)).astimezone(CHINA_TZ).date()
    last = (moment + timedelta(seconds=1)).astimezone(CHINA_TZ).date()
    days = [first + timedelta(days=i) for i in range(1, (last - first).days + 1)]
    if not workdays:
        return len(days), "日"
    try:
        return sum(1 for d in days if rt.calendar.is_workday(d)), "个工作日"
    except CalendarError:
        return len(days), "日（日历未覆盖该年度，按自然日计）"


def _holder(session: Session, task: TaskModel, unit: OrgUnitModel) -> str:
    titles = dict(session.execute(
        select(RoleModel.name, RoleModel.title).where(RoleModel.name.in_(task.roles or []))).all())
    roles = "、".join(titles.get(r) or r for r in task.roles or [])
    who = _display(session, task.assignee) if task.assignee else "未认领"
    return f"{who}（{unit.name}{'，' + roles if roles else ''}）"


def _earlier(session: Session, case: CaseModel, source: str, now_step: str | None) -> str:
    """What the earlier ladder steps of the late task `source` did and said, one line each, oldest first."""
    events = session.scalars(select(CaseEventModel).where(
        CaseEventModel.case_id == case.id,
        CaseEventModel.type.in_(("task_escalated", "supervision_answered", "supervision_closed",
                                 "supervision_returned", "reminder_recorded"))).order_by(CaseEventModel.seq)).all()
    lines = []
    for e in events:
        p = e.payload or {}
        if e.type == "task_escalated":
            if e.task_id == source and p.get("step") != now_step:
                lines.append(f"{_china(e.at)} {p.get('title')}")
            continue
        if p.get("source") != source:
            continue
        step = _STEP_TITLES.get(p.get("step"), "")
        who = _display(session, e.actor)
        if e.type == "reminder_recorded":
            lines.append(f"{_china(e.at)} 催办：已督促承办人（{who}）：{(p.get('data') or {}).get('urge_note', '')}")
        elif e.type == "supervision_answered":
            d = p.get("data") or {}
            lines.append(f"{_china(e.at)} {step}书面答复（{who}）：原因：{d.get('reason', '')}；"
                         f"措施：{d.get('measures', '')}；承诺办结：{d.get('new_date', '')}")
        elif e.type == "supervision_closed":
            lines.append(f"{_china(e.at)} {step}销号（{who}）" + (f"：{p['note']}" if p.get("note") else ""))
        else:
            lines.append(f"{_china(e.at)} {step}退回重新答复（{who}）：{p.get('note', '')}")
    return "\n".join(lines) or "无"


def _case_title(session: Session, case: CaseModel) -> str:
    """The case as staff name it: its code, the process and the category (no party data: the sheet is history)."""
    name = session.scalar(select(ProcessVersionModel.name).where(ProcessVersionModel.id == case.process_version_id))
    label = case.category
    meta = versions.load_version(session, case.process_version_id).meta
    for info in (meta.get("user_tasks") or {}).values():
        for field in info.get("form") or []:
            if field.get("id") == "category" and field.get("enum"):
                label = dict((k, v) for k, v in field["enum"]).get(case.category, label)
    title = "·".join(part for part in (name, label) if part)
    return f"{case.code}（{title}）" if title else case.code


def _sheet(session: Session, case: CaseModel, task: TaskModel, step: str, now: datetime,
           unit: OrgUnitModel) -> dict:
    rt = runtime.of(session)
    count, unit_text = days_late(task.due_at, now, _limit_in_workdays(session, case, task), rt)
    level = next(s.level for s in LADDER if s.name == step)
    return {
        "sv_case": _case_title(session, case),
        "sv_task": task.title,
        "sv_holder": _holder(session, task, unit),
        "sv_due": _china(task.due_at, deadline=True),
        "sv_basis": _basis_text(task.due_basis),
        "sv_late": f"已逾期{count}{unit_text}" if count else "已过期限，不足1日",
        "sv_step": f"{LEVEL_NAMES[level]}（第{level}级，共4级：提示、催办、督办、挂牌督办）",
        "sv_earlier": _earlier(session, case, task.id, step),
        "_step": step, "_unit": unit.id,
    }


def _sheet_of(session: Session, task) -> dict:
    """The sheet written when the follow-up task opened (its task_opened event)."""
    payload = session.scalar(select(CaseEventModel.payload).where(
        CaseEventModel.case_id == task.case_id, CaseEventModel.task_id == task.id,
        CaseEventModel.type == "task_opened").order_by(CaseEventModel.seq.desc()).limit(1)) or {}
    return payload.get("sheet") or {}


sheet_of = _sheet_of  # engine/group_cases.py reads its follow-up tasks' sheets the same way


def _shown(sheet: dict) -> list[dict]:
    return [{"id": key, "label": SHEET_LABELS[key], "type": "string", "required": False, "enum": None,
             "default": sheet[key], "min": None, "max": None, "minlength": None,
             "maxlength": 4000 if key in _LONG else 200, "readonly": True}
            for key in SHEET_LABELS if key in sheet]


# ---------------------------------------------------------------- answering, reviewing

def _field(id_: str, label: str, type_: str = "string", *, required: bool = True, enum=None, minlength=None,
           maxlength=None) -> dict:
    return {"id": id_, "label": label, "type": type_, "required": required, "enum": enum, "default": None,
            "min": None, "max": None, "minlength": minlength, "maxlength": maxlength, "readonly": False}


# The supervised unit's 书面答复 (信访工作条例 第40条: 被督办单位应当书面答复).
ANSWER_FORM = [
    _field("reason", "逾期原因", minlength=2, maxlength=1000),
    _field("measures", "整改措施", minlength=2, maxlength=1000),
    _field("new_date", "承诺办结日期", "date"),
]
# The supervising center's review of the answer: never the answer itself.
REVIEW_FORM = [
    _field("decision", "审核结论", "enum", enum=[["close", "销号（答复属实，措施到位）"], ["return", "退回重新答复"]]),
    _field("review_note", "审核意见（退回时必填）", required=False, maxlength=1000),
]
_ANSWER_SCHEMA = forms.build_schema(ANSWER_FORM, name="Form_supervision_answer")  # built once
_REVIEW_SCHEMA = forms.build_schema(REVIEW_FORM, name="Form_supervision_review")


# The unit head's record of a 催办: what they did (no written answer, no review: that is the 督办单's).
REMINDER_FORM = [
    _field("urge_action", "处理情况", "enum", enum=[["urged", "已督促承办人"]]),
    _field("urge_note", "督促情况说明", minlength=2, maxlength=1000),
]
_REMINDER_SCHEMA = forms.build_schema(REMINDER_FORM, name="Form_supervision_reminder")

# History events that complete a follow-up task (an answer, a review's 销号 or 退回, a 催办 recorded or closed
# by itself because the late task was done first).
DONE_EVENTS = ("supervision_answered", "supervision_closed", "supervision_returned", "reminder_recorded",
               "reminder_closed")


def is_review(task) -> bool:
    return task.spec_name.endswith("_review")


def follow_up_form(session: Session, task) -> list[dict]:
    """A follow-up task's form: the sheet read-only, then the 催办 record, the answer (or, for the reviewer,
    the answer read-only and the review)."""
    if task.spec_name == REMINDER_SPEC:
        return _shown(_sheet_of(session, task)) + REMINDER_FORM
    return _shown(_sheet_of(session, task)) + (REVIEW_FORM if is_review(task) else ANSWER_FORM)


_OPEN_REMINDERS = select(TaskModel.id, TaskModel.title, TaskModel.source_task_id).where(
    TaskModel.case_id == bindparam("case_id"), TaskModel.kind == "supervision",
    TaskModel.spec_name == REMINDER_SPEC, TaskModel.source_task_id.in_(bindparam("sources", expanding=True)))


def close_reminders(session: Session, case: CaseModel, late_tasks: list[str], now: datetime, writes: list,
                    events: list) -> None:
    """The late tasks `late_tasks` (ids of tasks that had reached 催办) were done or cancelled in this command:
    their 催办 tasks still open close by themselves, each recorded (reminder_closed). Buffered writes; only
    runs when a task that reached 催办 closes, so a command on a task in time reads nothing more."""
    if not late_tasks:
        return
    rows = session.execute(_OPEN_REMINDERS, {"case_id": case.id, "sources": late_tasks}).all()
    for row in rows:
        chain.append_event(session, case, "reminder_closed", "system", now,
                           {"step": "reminder", "source": row.source_task_id}, row.id, row.title, batch=events)
    task_index.drop_tasks(writes, [row.id for row in rows])


def _round_ids(task_id: str) -> tuple[str, int]:
    """sv-12 -> ("sv-12", 1); sv-12-r1 / sv-12-a2 -> ("sv-12", 1 / 2)."""
    parts = task_id.split("-")
    base = "-".join(parts[:2])
    return base, int(parts[2][1:]) if len(parts) > 2 else 1


def answer(session: Session, case: CaseModel, task, username: str, now: datetime, data: dict) -> dict:
    """A follow-up task done: the supervised unit's written answer (then a review task for the supervising
    center one level up), or that center's review (销号 closes; 退回 opens a new answer task with the note).
    Each is recorded in the case history. Flushes only. Raises InvalidData (per-field messages)."""
    rt = runtime.of(session)
    if task.spec_name == REMINDER_SPEC:
        values = forms.validate_form(_REMINDER_SCHEMA, data, rt)
        recorded = {**values, "urge_note": values["urge_note"].strip()}
        chain.append_event(session, case, "reminder_recorded", username, now,
                           {"data": recorded, "step": "reminder", "source": task.source_task_id}, task.id, task.title)
        task_index.remove_task(session, task.id)
        return recorded
    sheet = {k: v for k, v in _sheet_of(session, task).items() if not k.startswith("sv_") or k in _CARRIED}
    sheet.setdefault("sv_task", task.title.partition("：")[2] or task.title)  # a follow-up from before the sheet
    step = sheet.get("_step") or task.spec_name.removeprefix("supervision_").removesuffix("_review")
    base, round_ = _round_ids(task.id)
    unit = session.get(OrgUnitModel, sheet.get("_unit") or task.org_unit_id)
    roles = _roles_for(rt.settings, unit.kind)
    if is_review(task):
        values = forms.validate_form(_REVIEW_SCHEMA, data, rt)
        note = (values.get("review_note") or "").strip()
        if values["decision"] == "return" and not note:
            raise InvalidData(msg("supervision.return_needs_note"), {"review_note": [msg("form.required")]})
        kind = "supervision_closed" if values["decision"] == "close" else "supervision_returned"
        chain.append_event(session, case, kind, username, now,
                           {"step": step, "source": task.source_task_id, "note": note}, task.id, task.title)
        task_index.remove_task(session, task.id)
        if kind == "supervision_returned":
            again = {**sheet, **_fresh(session, case, task.source_task_id, step), "sv_returned": note}
            _open(session, case, task_id=f"{base}-a{round_ + 1}", source=task.source_task_id,
                  spec=f"supervision_{step}", title=f"{_STEP_TITLES[step]}：{sheet.get('sv_task', '')}",
                  role=roles["notice"], org_id=_at_unit(session, roles["notice"], unit), basis=ANSWER_BASIS,
                  sheet=again, now=now)
        return values
    values = forms.validate_form(_ANSWER_SCHEMA, data, rt)
    new_date = values["new_date"]
    new_date = new_date if isinstance(new_date, date) else date.fromisoformat(str(new_date))
    if new_date < now.astimezone(CHINA_TZ).date():
        raise InvalidData(msg("supervision.new_date_past"), {"new_date": [msg("supervision.new_date_past")]})
    recorded = {**values, "new_date": new_date.isoformat()}
    chain.append_event(session, case, "supervision_answered", username, now,
                       {"data": recorded, "step": step, "source": task.source_task_id}, task.id, task.title)
    task_index.remove_task(session, task.id)
    review = {key: value for key, value in sheet.items() if key != "sv_returned"}
    review.update(_fresh(session, case, task.source_task_id, step))
    review.update({"sv_reason": recorded["reason"], "sv_measures": recorded["measures"],
                   "sv_new_date": recorded["new_date"], "sv_answered_by": _display(session, username)})
    supervising = _supervising_unit(unit)
    _open(session, case, task_id=f"{base}-r{round_}", source=task.source_task_id,
          spec=f"supervision_{step}_review", title=f"{_STEP_TITLES[step]}审核：{sheet.get('sv_task', '')}",
          role=roles["listing"], org_id=_at_unit(session, roles["listing"], supervising), basis=REVIEW_BASIS,
          sheet=review, now=now)
    return recorded


# What a later task of the same 督办单 keeps from the one before (the late task may be done by then).
_CARRIED = {"sv_case", "sv_task", "sv_holder", "sv_due", "sv_basis", "sv_late", "sv_step"}


def _fresh(session: Session, case: CaseModel, source: str, step: str) -> dict:
    return {"sv_earlier": _earlier(session, case, source, step)}
