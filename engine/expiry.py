"""A party's window does not close on a provisional calendar without a person confirming it (issue 17 §3).

A timer event marked `jiefen.expiry = party` (复查/复核 request windows, the 30-day 司法确认 application window,
the enforcement application window) closes a party's window or ends a case when it fires. While a year its
moment depends on is provisional (no State Council notice yet: its 调休 and bridge days are not known, so the
true last day may be later), firing it is held, in one recorded command (`expiry_held`): the timer's moment
is set aside in the workflow (timer_index.SET_ASIDE, so no other timer's firing takes it along), its fired row
is marked held, and the supervisor of the case's unit gets a confirmation task showing the computed moment and
why it may move. Confirming (`expiry_confirmed`) puts the moment back and fires the timer.

The confirmation goes by itself (timer_index.rebuild_timers, at no extra read) when the window closes another
way — the party's request is registered, the case moves on — or when `jiefen calendar recompute` re-arms the
timer once the notice is entered: it then fires at its recomputed moment, in a year that is known.

Staff deadlines (task due dates, the ladder) may use provisional dates: only marked expiries are held.
Replay (history.verify_case) applies both commands (replay()).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update
from sqlalchemy.orm import Session
from SpiffWorkflow.util.task import TaskState

from engine import casework, chain, forms, routing, runtime, task_index
from engine.clock import CHINA_TZ
from engine.errors import Conflict, InvalidData
from engine.ladder import sheet_of
from engine.messages import msg
from engine.models import CaseModel, OrgUnitModel, TaskModel, TimerModel
from engine.timer_index import HELD, SET_ASIDE, held_task_id
from engine.versions import load_version

KIND = "expiry"  # tasks.kind of a confirmation task
SPEC = "expiry_confirmation"
BASIS = "该年放假安排尚未公布：当事人期间届满须经核对确认，不得径行终结"
TIMERS = TimerModel.__table__
# A period's end moves with the rest days near it: the years this many days before its moment count too.
_LOOK_BACK = timedelta(days=60)


class Hold(Exception):
    """Raised inside a firing command: this timer is a marked expiry in a provisional year (fire_timer_row)."""


def provisional_years(session: Session, case: CaseModel, timer) -> list[int]:
    """The provisional years a BPMN timer row's moment depends on, if the case's process marks any expiry
    ([] otherwise: a process without markers costs one cached lookup)."""
    if not load_version(session, case.process_version_id).meta.get("expiry"):
        return []
    due = timer.due_at.astimezone(CHINA_TZ).date()
    return runtime.of(session).calendar.provisional_years(due - _LOOK_BACK, due)


def check(ctx, timer) -> None:
    """In the firing command (casework.execute's apply): raise Hold when the row's timer is a marked expiry."""
    task = casework.find_task(ctx.workflow, timer.ref)
    if task is not None and task.state == TaskState.WAITING and \
            (task.task_spec.bpmn_id or "") in (ctx.version.meta.get("expiry") or {}):
        raise Hold()


def _ordinal(workflow, task) -> int:
    same = [t for t in workflow.get_tasks(state=TaskState.WAITING) if t.task_spec.name == task.task_spec.name]
    return next(i for i, t in enumerate(same) if t.id == task.id)


def _waiting(workflow, spec_name: str, ordinal: int):
    same = [t for t in workflow.get_tasks(state=TaskState.WAITING) if t.task_spec.name == spec_name]
    return same[ordinal] if ordinal < len(same) else None


def hold(session: Session, case: CaseModel, timer, moment: datetime, years: list[int]) -> TaskModel:
    """Hold a marked expiry (its row read under the case lock, fired already): one command sets its moment
    aside, the row is marked held, the confirmation task opens. Flushes only."""
    rt = runtime.of(session)
    listed = "、".join(str(y) for y in years)
    why = (f"{listed}年国务院放假安排尚未公布：期间按法定节假日推算，调休未计入，届满日可能推后。请核对后确认届满；"
           f"放假安排录入并重算期限后，本任务自动撤销，期间按重算的日期届满。")

    def apply(ctx):
        task = casework.find_task(ctx.workflow, timer.ref)
        command = {"spec_name": task.task_spec.name, "ordinal": _ordinal(ctx.workflow, task),
                   "event_value": SET_ASIDE, "timer": timer.name, "due_at": timer.due_at.isoformat(),
                   "years": years, "why": why}
        task._set_internal_data(event_value=SET_ASIDE)
        return None, command

    casework.execute(session, case, "system", moment, apply, "expiry_held")
    session.execute(update(TIMERS).where(TIMERS.c.id == timer.id).values(kind=HELD))
    role = rt.settings.expiry_confirm_role
    unit = session.get(OrgUnitModel, case.org_unit_id)
    follow = task_index.add_follow_up_task(
        session, case, task_id=held_task_id(timer.id), kind=KIND, source_task_id=None, spec_name=SPEC,
        title=f"确认期间届满：{timer.name}", role=role, org_unit_id=routing.nearest_staffed_unit(session, role, unit),
        due_at=rt.calendar.workdays_dt(1, moment).astimezone(timezone.utc), due_basis=BASIS, now=moment)
    sheet = {"ex_window": timer.name, "ex_due": _moment_text(timer.due_at), "ex_why": why, "_timer_id": timer.id}
    chain.append_event(session, case, "task_opened", "system", moment,
                       {"roles": follow.roles, "due_at": follow.due_at.isoformat(), "basis": BASIS, "sheet": sheet},
                       follow.id, follow.title)
    return follow


def _moment_text(moment: datetime) -> str:
    local = moment.astimezone(CHINA_TZ)
    if (local.hour, local.minute, local.second) == (23, 59, 59):
        return f"{local.date().isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------- the confirmation task

SHEET_LABELS = {"ex_window": "期间", "ex_due": "推算的届满时间", "ex_why": "为何须确认"}
CONFIRM_FORM = [
    {"id": "ex_confirm", "label": "已核对，确认期间届满", "type": "boolean", "required": True, "enum": None,
     "default": None, "min": None, "max": None, "minlength": None, "maxlength": None, "readonly": False},
    {"id": "ex_note", "label": "核对说明", "type": "string", "required": False, "enum": None, "default": None,
     "min": None, "max": None, "minlength": None, "maxlength": 500, "readonly": False},
]
_SCHEMA = forms.build_schema(CONFIRM_FORM, name="Form_expiry_confirmation")


def task_form(session: Session, task) -> list[dict]:
    """The confirmation task: what closes and when (read-only), why it waits, then the confirmation."""
    sheet = sheet_of(session, task)
    shown = [{"id": key, "label": label, "type": "string", "required": False, "enum": None,
              "default": str(sheet.get(key, "")), "min": None, "max": None, "minlength": None, "maxlength": 500,
              "readonly": True} for key, label in SHEET_LABELS.items()]
    return shown + CONFIRM_FORM


def confirm(session: Session, case: CaseModel, task, username: str, now: datetime, data: dict) -> None:
    """The supervisor confirms: the timer's moment is put back and it fires now, in one command
    (`expiry_confirmed`); the task is done. Not confirming is no answer: the task stays. Flushes only.
    Raises InvalidData, Conflict (the window closed or was re-armed meanwhile)."""
    values = forms.validate_form(_SCHEMA, data, runtime.of(session))
    if values.get("ex_confirm") is not True:
        raise InvalidData(msg("expiry.not_confirmed"), {"ex_confirm": [msg("expiry.not_confirmed")]})
    timer_id = sheet_of(session, task).get("_timer_id")
    row = session.execute(TIMERS.select().where(TIMERS.c.id == timer_id)).one_or_none() if timer_id else None
    if row is None or row.kind != HELD:
        raise Conflict(msg("expiry.gone"), {"task_id": task.id})
    task_index.remove_task(session, task.id)
    session.execute(update(TIMERS).where(TIMERS.c.id == row.id).values(kind="bpmn"))

    def apply(ctx):
        spiff = casework.find_task(ctx.workflow, row.ref)
        if spiff is None or spiff.state != TaskState.WAITING:
            raise Conflict(msg("expiry.gone"), {"task_id": task.id})
        value = row.due_at.isoformat()
        command = {"spec_name": spiff.task_spec.name, "ordinal": _ordinal(ctx.workflow, spiff), "event_value": value,
                   "timer": row.name, "due_at": value, "note": values.get("ex_note"), "task_id": task.id}
        spiff._set_internal_data(event_value=value)
        casework.run_engine(ctx.workflow, refresh_timers=True)
        return None, command

    casework.execute(session, case, username, now, apply, "expiry_confirmed")


def replay(workflow, command: dict) -> None:
    """Apply a recorded expiry_held / expiry_confirmed command to a replayed workflow (history.verify_case)."""
    task = _waiting(workflow, command["spec_name"], command["ordinal"])
    if task is not None:
        task._set_internal_data(event_value=command["event_value"])
    if command["event_value"] != SET_ASIDE:
        casework.run_engine(workflow, refresh_timers=True)
