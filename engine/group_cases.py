"""群体性 / 高风险 cases (issue 17 §2): a case whose data says high_risk, or whose people_involved reaches the
configured threshold, is marked, its center's director is told at once (a task), and the director calls a
会商研判 (joint consultation) of the departments they choose, each getting its own task.

config/org.toml [group_case] (EngineSettings: group_people_at_least, group_director_role,
group_consultation_roles). Follow-up tasks of kind "consultation", outside the workflow like the ladder's."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import chain, forms, routing, runtime, task_index
from engine.ladder import sheet_of
from engine.errors import InvalidData
from engine.messages import msg
from engine.models import CaseModel, OrgUnitModel, RoleModel, TaskModel

KIND = "consultation"
ALERT_SPEC, CONSULT_SPEC = "group_alert", "group_consult"
ALERT_BASIS = "群体性、高风险矛盾纠纷须当日报告中心主任，并于1个工作日内组织会商研判"
CONSULT_BASIS = "会商研判意见须在2个工作日内提出"


def flags(data: dict | None, settings) -> list[str]:
    """Why a case's data makes it a 群体性 / 高风险 case (labels staff read), or [] when it does not."""
    data = data or {}
    out = []
    if data.get("high_risk") is True:
        out.append("高风险")
    people = data.get("people_involved")
    if isinstance(people, int) and not isinstance(people, bool) and people >= settings.group_people_at_least:
        out.append(f"群体性（{people}人）")
    return out


def after_command(session: Session, case: CaseModel, before: dict | None, actor: str, now: datetime) -> None:
    """After a command changed the case's data: when it has just become 群体性 / 高风险, record it and tell the
    director (a task at the case's unit, or the nearest unit above that has a director). Flushes only."""
    settings = runtime.of(session).settings
    reasons = flags(case.data, settings)
    if case.status != "open" or not reasons or flags(before, settings):
        return
    chain.append_event(session, case, "case_flagged", actor, now, {"reasons": reasons})
    role = settings.group_director_role
    unit = session.get(OrgUnitModel, case.org_unit_id)
    _open(session, case, task_id=f"gc-{case.id}-{case.event_seq}", spec=ALERT_SPEC,
          title=f"{'、'.join(r.partition('（')[0] for r in reasons)}案件报告：会商研判", role=role,
          org_id=routing.nearest_staffed_unit(session, role, unit), basis=ALERT_BASIS,
          sheet={"gc_reasons": "；".join(reasons)}, now=now, workdays=1)


def _open(session: Session, case: CaseModel, *, task_id: str, spec: str, title: str, role: str, org_id: int,
          basis: str, sheet: dict, now: datetime, workdays: int) -> TaskModel:
    due = runtime.of(session).calendar.workdays_dt(workdays, now).astimezone(timezone.utc)
    task = task_index.add_follow_up_task(session, case, task_id=task_id, kind=KIND, source_task_id=None,
                                         spec_name=spec, title=title, role=role, org_unit_id=org_id, due_at=due,
                                         due_basis=basis, now=now)
    chain.append_event(session, case, "task_opened", "system", now,
                       {"roles": task.roles, "due_at": task.due_at.isoformat(), "basis": basis, "sheet": sheet},
                       task.id, task.title)
    return task


def _field(id_: str, label: str, type_: str = "string", *, required: bool = False, maxlength=None,
           readonly: bool = False, default=None) -> dict:
    return {"id": id_, "label": label, "type": type_, "required": required, "enum": None, "default": default,
            "min": None, "max": None, "minlength": None, "maxlength": maxlength, "readonly": readonly}


def _role_titles(session: Session, roles) -> dict[str, str]:
    return {name: title or name for name, title in session.execute(
        select(RoleModel.name, RoleModel.title).where(RoleModel.name.in_(list(roles))))}


def _alert_fields(session: Session) -> list[dict]:
    roles = runtime.of(session).settings.group_consultation_roles
    titles = _role_titles(session, roles)
    return ([_field(f"consult_{role}", f"会商部门：{titles.get(role, role)}", "boolean") for role in roles]
            + [_field("consult_topic", "会商议题", required=True, maxlength=1000)])


CONSULT_FORM = [_field("consult_opinion", "会商研判意见", required=True, maxlength=1000)]
_CONSULT_SCHEMA = forms.build_schema(CONSULT_FORM, name="Form_group_consult")


def task_form(session: Session, task) -> list[dict]:
    """The director's alert (why the case is flagged, read-only; the departments to consult; the topic), or a
    department's 会商研判 task (the topic read-only; its opinion)."""
    sheet = sheet_of(session, task)
    if task.spec_name == ALERT_SPEC:
        return [_field("gc_reasons", "标记原因", readonly=True, default=sheet.get("gc_reasons", ""), maxlength=200),
                *_alert_fields(session)]
    return [_field("gc_reasons", "标记原因", readonly=True, default=sheet.get("gc_reasons", ""), maxlength=200),
            _field("gc_topic", "会商议题", readonly=True, default=sheet.get("gc_topic", ""), maxlength=1000),
            *CONSULT_FORM]


DONE_EVENTS = ("consultation_called", "consultation_answered")


def answer(session: Session, case: CaseModel, task, username: str, now: datetime, data: dict) -> dict:
    """The director calls the 会商研判 (one task per department chosen), or a department gives its opinion.
    Each is recorded in the case history. Flushes only. Raises InvalidData (per-field messages)."""
    rt = runtime.of(session)
    sheet = sheet_of(session, task)
    if task.spec_name != ALERT_SPEC:
        values = forms.validate_form(_CONSULT_SCHEMA, data, rt)
        chain.append_event(session, case, "consultation_answered", username, now, {"data": values}, task.id,
                           task.title)
        task_index.remove_task(session, task.id)
        return values
    fields = _alert_fields(session)
    values = forms.validate_form(forms.build_schema(fields, name="Form_group_alert"), data, rt)
    chosen = [role for role in rt.settings.group_consultation_roles if values.get(f"consult_{role}") is True]
    if not chosen:
        first = fields[0]["id"] if len(fields) > 1 else "consult_topic"
        raise InvalidData(msg("group.no_department"), {first: [msg("group.no_department")]})
    topic = values["consult_topic"].strip()
    titles = _role_titles(session, chosen)
    chain.append_event(session, case, "consultation_called", username, now,
                       {"roles": chosen, "departments": [titles.get(r, r) for r in chosen], "topic": topic},
                       task.id, task.title)
    task_index.remove_task(session, task.id)
    unit = session.get(OrgUnitModel, case.org_unit_id)
    for number, role in enumerate(chosen, 1):
        _open(session, case, task_id=f"{task.id}-d{number}", spec=CONSULT_SPEC,
              title=f"会商研判：{titles.get(role, role)}", role=role,
              org_id=routing.nearest_staffed_unit(session, role, unit), basis=CONSULT_BASIS,
              sheet={**sheet, "gc_topic": topic}, now=now, workdays=2)
    return values
