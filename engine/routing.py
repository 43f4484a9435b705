"""Routing a task: who may act on it (candidate roles at org units) and when it is due.

candidateGroups (`role`, `role@parent`, `role@first`, `role@unit_of:<role>`, `role@<unit code>`), a
`=expression`, else the lane's
role (config/org.toml [lane_roles]); a role without a unit goes to the case's unit or the nearest unit above it
where somebody holds the role; `@first` is the unit that registered the case (首问负责). A role nobody holds at
the unit it resolves to is refused (InvalidData naming role and unit), and so is a unit an administrator disabled
(停用): the command that would open the unreachable task is rolled back and its user sees why. Due dates: an ISO duration, a date, or a `=expression`
with the calendar helpers (legal_days, workdays).

Form fields whose options depend on the case (`jiefen.options`, docs/designers.md): `org_units_below` lists the
units below the case's unit with the roles they staff (交办 down); `jiefen.parent_only_options` names options
offered only where the case's unit has a parent center (上报 is not offered at the top).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine import presence, runtime, scripting
from engine.clock import CHINA_TZ
from engine.fastpath import send
from engine.errors import CaseError, InvalidData, TaskFailed
from engine.messages import msg
from engine.models import CaseModel, MembershipModel, OrgUnitModel, RoleModel, UserModel

def due_at(info: dict, task, now: datetime, rt: runtime.Runtime) -> datetime | None:
    """When a task opened `now` is due (its userTask's dueDate), in UTC; None without one. Raises TaskFailed."""
    raw = (info or {}).get("due_date")
    if not raw:
        return None
    try:
        if raw.startswith("="):
            value = scripting.evaluate(raw[1:], {**task.data, **rt.helpers}, limits=rt.script_limits)
        elif raw.upper().startswith("P"):
            parsed = TimerEventDefinition.parse_iso_duration(raw)
            return now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
        else:
            value = raw
        if isinstance(value, datetime):
            moment = value
        else:
            moment = TimerEventDefinition.get_datetime(str(value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone(timedelta(hours=8)))
        return moment.astimezone(timezone.utc)
    except CaseError:
        raise
    except Exception as exc:  # a designer's expression: report it with the element, never a traceback
        raise TaskFailed(msg("routing.due_date_failed", element_id=task.task_spec.bpmn_id, error=str(exc)),
                         {"element_id": task.task_spec.bpmn_id, "message": str(exc)}) from exc


def candidates(session: Session, case: CaseModel, info: dict, task) -> list[tuple[str, int]]:
    """(role, org unit id) pairs allowed to act on a task (candidateGroups, `=expr`, else the lane's role)."""
    rt = runtime.of(session)
    entries: list[str] = []
    if info.get("candidate_groups_expr"):
        try:
            value = scripting.evaluate(info["candidate_groups_expr"].lstrip("="), {**task.data, **rt.helpers},
                                       limits=rt.script_limits)
        except CaseError:
            raise
        except Exception as exc:
            raise TaskFailed(msg("routing.candidates_failed", element_id=task.task_spec.bpmn_id, error=str(exc)),
                             {"element_id": task.task_spec.bpmn_id, "message": str(exc)}) from exc
        entries = [v.strip() for v in (value.split(",") if isinstance(value, str) else value or []) if str(v).strip()]
    entries += list(info.get("candidate_groups") or [])
    if not entries and info.get("lane"):
        entries = [rt.settings.lane_roles.get(info["lane"], info["lane"])]
    pairs = []
    staffed_any = False  # somebody holds one of the roles where it resolves (known without a query for most)
    for entry in entries:
        role, _, unit = str(entry).partition("@")
        role, unit = role.strip(), unit.strip()
        org_id = case.org_unit_id
        if not unit:
            org_id, found = _nearest_staffed(session, role, case.org_unit)
            staffed_any = staffed_any or found
        elif unit == "parent":
            org_id = case.org_unit.parent_id or org_id
        elif unit == "first":
            org_id = case.first_unit_id or org_id
        elif unit.startswith(UNIT_OF):
            # the unit where another role of the case resolves: the competent body's own head approves
            # (信访工作条例 第34条 经本机关负责人批准), not a center's head
            org_id = nearest_staffed_unit(session, unit.removeprefix(UNIT_OF).strip(), case.org_unit)
        elif unit:
            org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == unit))
            if org is None:
                raise TaskFailed(msg("routing.unknown_org", element_id=task.task_spec.bpmn_id, org_unit=unit),
                                 {"element_id": task.task_spec.bpmn_id, "message": f"unknown org unit {unit!r}"})
            org_id = org.id
        pairs.append((role, org_id))
    pairs = list(dict.fromkeys(pairs))
    if rt.disabled_units and any(org_id in rt.disabled_units for _, org_id in pairs):
        _refuse_disabled(session, [org_id for _, org_id in pairs if org_id in rt.disabled_units], task)
    if pairs and not staffed_any and not any(_staffed(session, role, org_id) for role, org_id in pairs):
        _refuse_unstaffed(session, pairs, task)
    return pairs


# `role@unit_of:other_role`: `role` at the unit where `other_role` resolves for the case (nearest staffed).
UNIT_OF = "unit_of:"


def first_contact_assignee(session: Session, case: CaseModel, info: dict) -> str | None:
    """首问负责: a task for `role@first` (the unit that registered the case) goes to the officer who registered
    it (cases.opened_by) by name, when that user is still active and still holds one of those roles at that
    unit; otherwise None, and the task waits in the first unit's pool. One indexed look-up, only for tasks
    with a static `@first` candidate group (the dispute's 结果反馈)."""
    roles = [entry.partition("@")[0].strip() for entry in info.get("candidate_groups") or ()
             if entry.partition("@")[2].strip() == "first"]
    if not roles or not case.opened_by or case.first_unit_id is None:
        return None
    return session.scalar(_FIRST_OFFICER, {"username": case.opened_by, "roles": roles, "unit": case.first_unit_id})


def _staffed(session: Session, role: str, org_id: int) -> bool:
    """Somebody holds `role` at the unit (one indexed EXISTS, built once: this runs as tasks open)."""
    return bool(send(session.connection(), _STAFFED_ONE, {"role": role, "unit": org_id}))


def _refuse_disabled(session: Session, org_ids: list[int], task) -> None:
    """The task would go to a unit an administrator disabled (停用: services/org.py): refuse the command, naming
    the unit, rather than open a task in a list nobody works from any more."""
    units = [session.get(OrgUnitModel, org_id) for org_id in dict.fromkeys(org_ids)]
    names = "、".join(f"{u.name}（{u.code}）" for u in units)
    element = task.task_spec.bpmn_name or task.task_spec.bpmn_id
    message = msg("routing.unit_disabled", org_unit=names, task=element)
    raise InvalidData(message, {"org_unit": [message], "element_id": task.task_spec.bpmn_id})


def _refuse_unstaffed(session: Session, pairs: list[tuple[str, int]], task) -> None:
    """Nobody holds any of the task's candidate roles at the unit each resolves to (nor above it, for a role
    without a unit): the task would sit in nobody's list, and its timers would pile supervision on it. Refuse
    the command instead, naming the roles and units."""
    titles, units = [], []
    for role, org_id in pairs:
        titles.append(session.scalar(select(RoleModel.title).where(RoleModel.name == role)) or role)
        units.append(session.get(OrgUnitModel, org_id))
    role_text = "、".join(dict.fromkeys(titles))
    unit_text = "、".join(dict.fromkeys(u.name for u in units))
    element = task.task_spec.bpmn_name or task.task_spec.bpmn_id
    message = msg("routing.unstaffed", role=role_text, org_unit=unit_text, task=element)
    raise InvalidData(message, {"role": [message], "org_unit": [u.code for u in dict.fromkeys(units)],
                                "element_id": task.task_spec.bpmn_id})


# ---------------------------------------------------------------- options that depend on the case

def units_below(session: Session, org: OrgUnitModel) -> list[tuple[str, str, list[str], dict | None]]:
    """(code, name, titles of the roles staffed there, presence today) of every unit below `org`, in tree
    order: where a case can be handed down to (交办: township centers, village committees, resident
    departments). The presence ({"presence", "rota_days", "today"}: engine/presence.py) is a resident
    department's, None for other units: a 轮驻 department away today still receives the case (its task waits
    in its list), the dispatcher is told it is away."""
    units = session.scalars(select(OrgUnitModel).where(OrgUnitModel.path.startswith(org.path),
                                                       OrgUnitModel.id != org.id).order_by(OrgUnitModel.path)).all()
    if not units:
        return []
    staffed: dict[int, list[str]] = {}
    rows = session.execute(select(MembershipModel.org_unit_id, RoleModel.name,
                                  func.coalesce(RoleModel.name_zh, RoleModel.title))
                           .join(RoleModel, RoleModel.id == MembershipModel.role_id)
                           .where(MembershipModel.org_unit_id.in_([u.id for u in units]))
                           .distinct().order_by(RoleModel.name)).all()
    for org_id, name, title in rows:
        staffed.setdefault(org_id, []).append(title or name)
    rt = runtime.of(session)
    today = rt.clock.now().astimezone(CHINA_TZ).date()
    working = rt.calendar.is_workday(today) if any(u.presence for u in units) else True

    def today_of(unit: OrgUnitModel) -> dict | None:
        if not unit.presence:
            return None
        state = presence.on_day(unit.presence, unit.rota_days, today, working)
        return {"presence": state.kind, "rota_days": list(state.rota_days), "today": state.state}
    return [(u.code, u.name, staffed.get(u.id, []), today_of(u)) for u in units]


def case_form(session: Session, case: CaseModel, form: list[dict]) -> list[dict]:
    """A task's form as the case's unit offers it: `jiefen.options` fields get their options (code, name,
    roles), `jiefen.parent_only_options` are left out at a unit without a parent center."""
    if not any(f.get("options_from") or f.get("parent_only") for f in form):
        return form
    out = []
    for spec in form:
        spec = dict(spec)
        if spec.get("options_from") == "org_units_below":
            spec["enum"] = [list(row) for row in units_below(session, case.org_unit)]
        if spec.get("parent_only") and case.org_unit.parent_id is None:
            spec["enum"] = [o for o in spec.get("enum") or [] if o[0] not in spec["parent_only"]]
        out.append(spec)
    return out


def check_case_choices(session: Session, case: CaseModel, form: list[dict], values: dict) -> None:
    """Refuse a choice the case's form does not offer (a unit not below the case's unit, 上报 at the top).
    Raises InvalidData naming the field."""
    problems: dict = {}
    for spec in case_form(session, case, [f for f in form if f.get("options_from") or f.get("parent_only")]):
        value = values.get(spec["id"])
        if value in (None, ""):
            continue
        offered = {o[0] for o in spec.get("enum") or []}
        for item in value if isinstance(value, list) else [value]:
            if item not in offered:
                problems[spec["id"]] = [msg("form.option_not_offered", label=spec.get("label") or spec["id"],
                                            value=item)]
    if problems:
        raise InvalidData(msg("form.invalid"), problems)


# The unit chain as a fixed row of bind parameters (padded with the case's own unit): a statement built
# once, where an expanding IN list is re-rendered on every command. Deeper trees (rare: county, township,
# village is three levels) take the expanding form.
_CHAIN_SLOTS = 8
_M, _R, _O = MembershipModel.__table__.c, RoleModel.__table__.c, OrgUnitModel.__table__.c
# The units of the chain where somebody holds the role: an EXISTS per unit, which stops at its first member
# (ix_memberships_role_org: one seek), where a join returned every member's row (a county center's 30
# mediators were 30 rows to fetch on every task opened; 30,000 memberships made it 12-15 ms).
_HOLDS_ROLE = (select(_M.id).join(RoleModel.__table__, _R.id == _M.role_id)
               .where(_M.org_unit_id == _O.id, _R.name == bindparam("role")).exists())
_STAFFED = select(_O.id).where(_HOLDS_ROLE)
_STAFFED_UNITS = _STAFFED.where(_O.id.in_([bindparam(f"unit_{i}") for i in range(_CHAIN_SLOTS)]))
_STAFFED_UNITS_DEEP = _STAFFED.where(_O.id.in_(bindparam("chain", expanding=True)))
_STAFFED_ONE = _STAFFED.where(_O.id == bindparam("unit"))
_U = UserModel.__table__.c
_FIRST_OFFICER = (select(_U.username).select_from(UserModel.__table__.join(MembershipModel.__table__,
                                                                         _M.user_id == _U.id)
                                                 .join(RoleModel.__table__, _R.id == _M.role_id))
                  .where(_U.username == bindparam("username"), _U.active.is_(True),
                         _R.name.in_(bindparam("roles", expanding=True)), _M.org_unit_id == bindparam("unit"))
                  .limit(1))


def nearest_staffed_unit(session: Session, role: str, org: OrgUnitModel) -> int:
    """The case's org unit, or the nearest unit above it where somebody holds the role."""
    return _nearest_staffed(session, role, org)[0]


def _nearest_staffed(session: Session, role: str, org: OrgUnitModel) -> tuple[int, bool]:
    """(nearest_staffed_unit, whether somebody holds the role there: False when nobody does up the tree).

    Departments sit at the county center (常驻/轮驻/随驻), so a village case sent to a department reaches
    the department's staff instead of waiting at a village where nobody holds that role."""
    chain = [int(part) for part in org.path.strip("/").split("/") if part]  # root ... this unit
    if len(chain) > _CHAIN_SLOTS:
        staffed = set(session.scalars(_STAFFED_UNITS_DEEP, {"role": role, "chain": chain}))
    else:
        params = {f"unit_{i}": chain[i] if i < len(chain) else org.id for i in range(_CHAIN_SLOTS)}
        staffed = {row[0] for row in send(session.connection(), _STAFFED_UNITS, {"role": role, **params})}
    for org_id in reversed(chain):
        if org_id in staffed:
            return org_id, True
    return org.id, False
