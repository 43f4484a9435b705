"""The org tree in the administration console (issue 20 §2): units (市 → 县/区 → 乡镇/街道 → 村/社区, and
departments resident at a center), their presence and the week's duty roster, moving a unit (with what the
move changes, before it is confirmed), and the roles' names.

Every change is one command (one commit) with a row in the admin log. Nothing here is cached in a process: the
tree is read from the database by every request and every command (routing, access, the task lists), so a
change is in force for every web worker and scheduler from their next statement.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import admin_log, case_data, presence, runtime, settings_store
from engine.actors import Actor
from engine.clock import CHINA_TZ
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.messages import msg
from engine.models import (CaseModel, MembershipModel, OrgUnitModel, ProcessVersionModel, RoleModel,
                           StatsDailyModel, TaskCandidateModel, TaskModel)

log = logging.getLogger(__name__)

# 市级 0, 县级 1, 乡镇（街道）2, 村（社区）3; a department takes its center's level.
LEVELS = {"city": 0, "county": 1, "township": 2, "village": 3}
KINDS = ("city", "county", "township", "village", "department")
# What may be added under a unit of each kind: the next administrative level, and departments resident at a
# center (not at a village committee, and nothing under a department).
CHILD_KINDS = {"city": ("county", "department"), "county": ("township", "department"),
               "township": ("village", "department"), "village": (), "department": ()}
# 行政区划代码-like codes: 6 digits (county), 9 (township: the county's 6 and 3), 12 (village: the township's 9
# and 3); a city or county center may use 6 or 9 (330106 or 330106000). A department's code is a center's digits,
# a hyphen and a short name of lowercase letters, digits or _ (330106-court).
_CODE = {"city": re.compile(r"\d{6}(\d{3})?"), "county": re.compile(r"\d{6}(\d{3})?"),
         "township": re.compile(r"\d{9}"), "village": re.compile(r"\d{12}"),
         "department": re.compile(r"\d{6}(\d{3}){0,2}-[a-z0-9_]{1,30}")}
_CODE_HINTS = {"city": msg("field.org_code_city"), "county": msg("field.org_code_county"),
               "township": msg("field.org_code_township"), "village": msg("field.org_code_village"),
               "department": msg("field.org_code_department")}
_AREA = re.compile(r"\d{6}")
_PHONE = re.compile(r"[0-9][0-9 ()（）+\-]{5,38}")
_UNSET = object()


def _require_admin(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("admin.change_forbidden"))


def _require_reader(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_auditor or actor.is_system):
        raise Forbidden(msg("admin.read_forbidden"))


def _unit(session: Session, code: str, field: str = "code") -> OrgUnitModel:
    org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == code))
    if org is None:
        raise NotFound(msg("org.not_found", org_unit=code), {field: [msg("field.unknown_org", org_unit=code)]})
    return org


def _snapshot(unit: OrgUnitModel, parent_code: str | None = None) -> dict:
    return {"code": unit.code, "name": unit.name, "kind": unit.kind, "level": unit.level, "area_code": unit.area_code,
            "phone": unit.phone, "presence": unit.presence, "rota_days": unit.rota_days,
            **({"parent": parent_code} if parent_code is not None else {})}


# ---------------------------------------------------------------- checks of one field each

def _check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidData(msg("form.invalid"), {"name": [msg("field.required")]})
    if len(name) > 200:
        raise InvalidData(msg("form.invalid"), {"name": [msg("field.between", min=1, max=200)]})
    case_data.check_name("name", name)
    return name


def _check_code(session: Session, code: str | None, kind: str, own_id: int | None = None) -> str:
    code = (code or "").strip()
    if not _CODE[kind].fullmatch(code):
        raise InvalidData(msg("org.code_invalid", code=code), {"code": [_CODE_HINTS[kind]]})
    taken = session.scalar(select(OrgUnitModel.id).where(OrgUnitModel.code == code))
    if taken is not None and taken != own_id:
        raise Conflict(msg("org.code_taken", code=code), {"code": [msg("org.code_taken", code=code)]})
    return code


def _check_area(area_code: str | None) -> str:
    area_code = (area_code or "").strip()
    if not _AREA.fullmatch(area_code):
        raise InvalidData(msg("org.area_code_invalid"), {"area_code": [msg("field.six_digits")]})
    return area_code


def _check_phone(phone: str | None) -> str | None:
    phone = (phone or "").strip() or None
    if phone is not None and not _PHONE.fullmatch(phone):
        raise InvalidData(msg("org.phone_invalid"), {"phone": [msg("field.phone_number")]})
    return phone


def _check_presence(kind: str, value, rota_days) -> tuple[str | None, str | None]:
    kind_presence, days = presence.normalise(value, rota_days)
    if kind_presence is not None and kind != "department":
        raise InvalidData(msg("org.presence_departments_only"), {"presence": [msg("org.presence_departments_only")]})
    return kind_presence, days


def _check_child(parent: OrgUnitModel, kind: str, field: str = "kind") -> None:
    if kind not in KINDS:
        raise InvalidData(msg("org.unknown_kind", kind=kind), {"kind": [msg("field.org_kind")]})
    if kind not in CHILD_KINDS[parent.kind]:
        raise InvalidData(msg("org.kind_not_under", parent=parent.name),
                          {field: [msg("org.kind_not_under", parent=parent.name)]})


# ---------------------------------------------------------------- reading

@dataclass(frozen=True)
class UnitRow:
    unit: OrgUnitModel
    depth: int  # 0 for the top
    parent_code: str | None
    members: int  # memberships held at the unit
    open_cases: int  # open cases handled there
    today: presence.Presence  # a resident department's presence today (state "none" for other units)


def _china_today(rt: runtime.Runtime) -> date:
    return rt.clock.now().astimezone(CHINA_TZ).date()


def org_tree(session: Session, actor: Actor) -> list[UnitRow]:
    """Every unit in tree order (the top first, each unit before those below it), with its members, open cases
    and today's presence. Read-only. Raises Forbidden (neither administrator nor auditor)."""
    _require_reader(actor)
    rt = runtime.of(session)
    today = _china_today(rt)
    working = rt.calendar.is_workday(today)
    units = list(session.scalars(select(OrgUnitModel).order_by(OrgUnitModel.path)))
    codes = {u.id: u.code for u in units}
    members = dict(session.execute(select(MembershipModel.org_unit_id, func.count())
                                   .group_by(MembershipModel.org_unit_id)).all())
    cases = dict(session.execute(select(CaseModel.org_unit_id, func.count()).where(CaseModel.status == "open")
                                 .group_by(CaseModel.org_unit_id)).all())
    return [UnitRow(u, u.path.count("/") - 2, codes.get(u.parent_id), members.get(u.id, 0), cases.get(u.id, 0),
                    presence.on_day(u.presence, u.rota_days, today, working)) for u in _tree_order(units)]


def _tree_order(units: list[OrgUnitModel]) -> list[OrgUnitModel]:
    """Depth first, children by kind (centers before departments) then code: a path sorts by id as text
    ("/1/10/" before "/1/2/"), which is no order a reader knows."""
    children: dict[int | None, list[OrgUnitModel]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    out: list[OrgUnitModel] = []

    def walk(parent_id: int | None) -> None:
        for unit in sorted(children.get(parent_id, []), key=lambda u: (u.kind == "department", u.code)):
            out.append(unit)
            walk(unit.id)
    walk(None)
    return out


def get_unit(session: Session, actor: Actor, code: str) -> OrgUnitModel:
    """One unit. Read-only. Raises Forbidden, NotFound."""
    _require_reader(actor)
    return _unit(session, code)


# ---------------------------------------------------------------- adding and changing

def add_unit(session: Session, actor: Actor, code: str, name: str, kind: str, parent_code: str,
             area_code: str | None = None, phone: str | None = None, presence_kind: str | None = None,
             rota_days=None) -> OrgUnitModel:
    """An administrator adds a unit under a parent: its level follows from its kind (a department takes its
    center's), its area code from the parent unless given. Commits, with an org_unit_added row in the admin log.

    Raises Forbidden, NotFound (parent), InvalidData (the field named: a kind that does not belong under the
    parent, a code not shaped like an administrative division code, name, area code, phone, presence),
    Conflict (the code is taken)."""
    _require_admin(actor)
    admin_log.serialise(session)
    parent = _unit(session, parent_code, "parent")
    _check_child(parent, kind)
    name = _check_name(name)
    code = _check_code(session, code, kind)
    area_code = _check_area(area_code) if area_code else parent.area_code
    phone = _check_phone(phone)
    presence_kind, days = _check_presence(kind, presence_kind, rota_days)
    level = parent.level if kind == "department" else LEVELS[kind]
    unit = OrgUnitModel(code=code, name=name, kind=kind, level=level, area_code=area_code, phone=phone,
                        presence=presence_kind, rota_days=days, parent_id=parent.id, path="/")
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path}{unit.id}/"
    admin_log.append(session, actor.username, runtime.of(session).clock.now(), "org_unit_added", "org_unit", code,
                     None, _snapshot(unit, parent.code))
    session.commit()
    log.info("org unit %s %s added under %s by %s", code, name, parent.code, actor.username)
    return unit


def update_unit(session: Session, actor: Actor, code: str, *, name=_UNSET, new_code=_UNSET, area_code=_UNSET,
                phone=_UNSET, presence_kind=_UNSET, rota_days=_UNSET) -> OrgUnitModel:
    """An administrator renames a unit or changes its code, area code, phone or presence. Commits, with an
    org_unit_updated row (old -> new) in the admin log; nothing changed, nothing written.

    A new code must not be named by a deployed process (`role@<code>` in its candidate groups): their tasks
    would no longer find the unit. Raises Forbidden, NotFound, InvalidData (the field named), Conflict (the code
    is taken or a process names the old one)."""
    _require_admin(actor)
    admin_log.serialise(session)
    unit = _unit(session, code)
    before = _snapshot(unit)
    if name is not _UNSET:
        unit.name = _check_name(name)
    if new_code is not _UNSET and (new_code or "").strip() != unit.code:
        new_code = _check_code(session, new_code, unit.kind, unit.id)
        named_by = _processes_naming(session, unit.code)
        if named_by:
            raise Conflict(msg("org.code_in_process", code=unit.code, processes="、".join(named_by)),
                           {"code": [msg("org.code_in_process", code=unit.code, processes="、".join(named_by))]})
        unit.code = new_code
    if area_code is not _UNSET:
        unit.area_code = _check_area(area_code)
    if phone is not _UNSET:
        unit.phone = _check_phone(phone)
    if presence_kind is not _UNSET or rota_days is not _UNSET:
        unit.presence, unit.rota_days = _check_presence(
            unit.kind, unit.presence if presence_kind is _UNSET else presence_kind,
            unit.rota_days if rota_days is _UNSET else rota_days)
    after = _snapshot(unit)
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        session.rollback()
        return unit
    session.flush()
    admin_log.append(session, actor.username, runtime.of(session).clock.now(), "org_unit_updated", "org_unit",
                     before["code"], {k: before[k] for k in changed}, {k: after[k] for k in changed})
    session.commit()
    log.info("org unit %s changed by %s: %s", before["code"], actor.username, ", ".join(changed))
    return unit


def _processes_naming(session: Session, code: str) -> list[str]:
    """The processes (any stored version) whose candidate groups name the unit by code (`role@<code>`)."""
    named = []
    for process_id, meta in session.execute(select(ProcessVersionModel.process_id, ProcessVersionModel.meta)):
        for info in ((meta or {}).get("user_tasks") or {}).values():
            if any(str(entry).partition("@")[2].strip() == code for entry in info.get("candidate_groups") or ()):
                named.append(process_id)
                break
    return sorted(set(named))


# ---------------------------------------------------------------- moving

@dataclass(frozen=True)
class MovePreview:
    """What moving a unit (and everything below it) under another parent changes, shown before confirming."""

    unit: OrgUnitModel
    old_parent: OrgUnitModel
    new_parent: OrgUnitModel
    units: int  # the unit and those below it
    open_cases: int  # open cases handled there
    open_tasks: int  # their open tasks (they stay with whom they were routed to)
    members: int  # memberships held there (they stay)
    old_chain: list[str]  # names of the centers above it now, nearest first (上报, oversight)
    new_chain: list[str]  # … after the move
    level: int  # the unit's level after the move (a department takes its new center's)


def _chain(session: Session, unit: OrgUnitModel) -> list[OrgUnitModel]:
    """The units above `unit`, nearest first (from its path)."""
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    by_id = {u.id: u for u in session.scalars(select(OrgUnitModel).where(OrgUnitModel.id.in_(ids)))}
    return [by_id[i] for i in reversed(ids) if i != unit.id and i in by_id]


def _check_move(session: Session, code: str, parent_code: str) -> tuple[OrgUnitModel, OrgUnitModel]:
    unit = _unit(session, code)
    if unit.parent_id is None:
        raise InvalidData(msg("org.move_top"), {"code": [msg("org.move_top")]})
    parent = _unit(session, parent_code, "parent")
    if parent.path.startswith(unit.path):
        raise InvalidData(msg("org.move_below_itself", parent=parent.name),
                          {"parent": [msg("org.move_below_itself", parent=parent.name)]})
    if parent.id == unit.parent_id:
        raise InvalidData(msg("org.move_same_parent", parent=parent.name),
                          {"parent": [msg("org.move_same_parent", parent=parent.name)]})
    _check_child(parent, unit.kind, "parent")
    return unit, parent


def move_preview(session: Session, actor: Actor, code: str, parent_code: str) -> MovePreview:
    """What moving the unit under `parent_code` would change: its open cases and tasks, the centers it reports
    up to (上报) and that oversee it, before and after. Read-only. Raises Forbidden, NotFound, InvalidData (the
    top cannot move; not under itself or a unit below it; not under a unit of a kind it does not belong under)."""
    _require_admin(actor)
    unit, parent = _check_move(session, code, parent_code)
    below = select(OrgUnitModel.id).where(OrgUnitModel.path.startswith(unit.path))
    count = session.scalar(select(func.count()).select_from(below.subquery()))
    cases = session.scalar(select(func.count()).select_from(CaseModel)
                           .where(CaseModel.status == "open", CaseModel.org_unit_id.in_(below)))
    tasks = session.scalar(select(func.count()).select_from(TaskModel).where(TaskModel.org_unit_id.in_(below)))
    members = session.scalar(select(func.count()).select_from(MembershipModel)
                             .where(MembershipModel.org_unit_id.in_(below)))
    new_chain = [parent, *_chain(session, parent)]
    return MovePreview(unit, session.get(OrgUnitModel, unit.parent_id), parent, count, cases, tasks, members,
                       [u.name for u in _chain(session, unit)], [u.name for u in new_chain],
                       parent.level if unit.kind == "department" else unit.level)


def move_unit(session: Session, actor: Actor, code: str, parent_code: str) -> OrgUnitModel:
    """Move a unit and everything below it under another parent, in one transaction: the materialised paths of
    all of them are rewritten, a department takes its new center's level. From the commit on, its cases report
    up (上报) to the new parent, roles looked for up the tree are looked for along the new chain, and the new
    chain's supervisors oversee it; tasks already open stay with whom they were routed to. Commits, with an
    org_unit_moved row in the admin log. Raises as move_preview."""
    _require_admin(actor)
    admin_log.serialise(session)
    unit, parent = _check_move(session, code, parent_code)
    old_parent = session.get(OrgUnitModel, unit.parent_id)
    old_prefix, new_prefix = unit.path, f"{parent.path}{unit.id}/"
    moved = list(session.scalars(select(OrgUnitModel).where(OrgUnitModel.path.startswith(old_prefix))))
    for row in moved:
        row.path = new_prefix + row.path[len(old_prefix):]
    unit.parent_id = parent.id
    old_level = unit.level
    if unit.kind == "department":
        unit.level = parent.level
    session.flush()
    admin_log.append(session, actor.username, runtime.of(session).clock.now(), "org_unit_moved", "org_unit",
                     unit.code, {"parent": old_parent.code, "level": old_level},
                     {"parent": parent.code, "level": unit.level, "units_moved": len(moved)})
    session.commit()
    log.info("org unit %s moved from %s to %s by %s (%d units)", unit.code, old_parent.code, parent.code,
             actor.username, len(moved))
    return unit


# ---------------------------------------------------------------- disabling (停用) and enabling

def open_tasks_at(session: Session, actor: Actor, code: str) -> list[tuple[TaskModel, str]]:
    """The open tasks held at a unit (task, its case's code), oldest due first: shown before the unit is disabled
    (they stay where they are: handled there, or reassigned by a supervisor). Read-only. Raises Forbidden,
    NotFound."""
    _require_reader(actor)
    unit = _unit(session, code)
    return [(task, case_code) for task, case_code in session.execute(
        select(TaskModel, CaseModel.code).join(CaseModel, CaseModel.id == TaskModel.case_id)
        .where(TaskModel.org_unit_id == unit.id).order_by(TaskModel.due_sort, TaskModel.id))]


def set_unit_active(session: Session, actor: Actor, code: str, active: bool) -> OrgUnitModel:
    """停用 / 启用: a disabled unit gets nothing new — a task that would be routed to it is refused, naming it
    (routing.candidates), in every process within the settings' check interval (the list of disabled units is
    a settings row: settings_store.mark_disabled_units); its open tasks stay until handled or reassigned. Enabled
    again, routing reaches it as before. Commits, with an org_unit_disabled / org_unit_enabled row in the admin log
    (with how many open tasks it held); nothing changed, nothing written. Raises Forbidden, NotFound, Conflict
    (the top-level center cannot be disabled)."""
    _require_admin(actor)
    admin_log.serialise(session)
    unit = _unit(session, code)
    active = bool(active)
    if unit.active == active:
        return unit
    if not active and unit.parent_id is None:
        raise Conflict(msg("org.disable_top"), {"code": [msg("org.disable_top")]})
    rt = runtime.of(session)
    now = rt.clock.now()
    tasks = session.scalar(select(func.count()).select_from(TaskModel).where(TaskModel.org_unit_id == unit.id))
    unit.active = active
    session.flush()
    settings_store.mark_disabled_units(session, actor, now)
    admin_log.append(session, actor.username, now, "org_unit_enabled" if active else "org_unit_disabled",
                     "org_unit", unit.code, {"active": not active}, {"active": active, "open_tasks": tasks})
    session.commit()
    settings_store.refresh(session, rt)
    log.info("org unit %s %s by %s (%d open tasks)", unit.code, "enabled" if active else "disabled",
             actor.username, tasks)
    return unit


# ---------------------------------------------------------------- deleting

def delete_unit(session: Session, actor: Actor, code: str) -> None:
    """Delete a unit nothing refers to: no unit below it, no membership, no case (open or closed, handled or
    registered there), no task, no statistics, not named by a process. Commits, with an org_unit_deleted row in
    the admin log. Raises Forbidden, NotFound, Conflict (naming what still refers to it)."""
    _require_admin(actor)
    admin_log.serialise(session)
    unit = _unit(session, code)
    if unit.parent_id is None:
        raise Conflict(msg("org.delete_top"), {"code": [msg("org.delete_top")]})
    uses = {
        "units": session.scalar(select(func.count()).select_from(OrgUnitModel).where(OrgUnitModel.parent_id == unit.id)),
        "members": session.scalar(select(func.count()).select_from(MembershipModel)
                                  .where(MembershipModel.org_unit_id == unit.id)),
        "cases": session.scalar(select(func.count()).select_from(CaseModel).where(
            or_(CaseModel.org_unit_id == unit.id, CaseModel.first_unit_id == unit.id))),
        "tasks": session.scalar(select(func.count()).select_from(TaskModel).where(TaskModel.org_unit_id == unit.id))
        + session.scalar(select(func.count()).select_from(TaskCandidateModel)
                         .where(TaskCandidateModel.org_unit_id == unit.id)),
        "statistics": session.scalar(select(func.count()).select_from(StatsDailyModel)
                                     .where(StatsDailyModel.org_unit_id == unit.id)),
        "processes": len(_processes_naming(session, unit.code)),
    }
    used = {k: v for k, v in uses.items() if v}
    if used:
        said = msg("org.delete_in_use", org_unit=unit.name, **uses)
        raise Conflict(said, {"code": [said], "uses": used})
    parent = session.get(OrgUnitModel, unit.parent_id)
    before = _snapshot(unit, parent.code)
    session.delete(unit)
    session.flush()
    admin_log.append(session, actor.username, runtime.of(session).clock.now(), "org_unit_deleted", "org_unit",
                     code, before, None)
    session.commit()
    log.info("org unit %s deleted by %s", code, actor.username)


# ---------------------------------------------------------------- the duty roster

@dataclass(frozen=True)
class RosterDay:
    day: date
    working: bool  # a working day of the work calendar (holidays, weekends and closures are not)


@dataclass(frozen=True)
class RosterRow:
    unit: OrgUnitModel
    center: str  # the name of the center it is resident at
    days: list[presence.Presence]  # one per day of the week


@dataclass(frozen=True)
class Roster:
    monday: date
    days: list[RosterDay]
    rows: list[RosterRow]


def week_roster(session: Session, actor: Actor, day: date | None = None) -> Roster:
    """Who of the resident departments is present at their center on each day of the week holding `day`
    (default: this week, China time): 常驻 every working day, 轮驻 on its rota's working days, 随驻 on call;
    nobody on a rest day of the work calendar. Read-only. Raises Forbidden (neither administrator nor auditor)."""
    _require_reader(actor)
    rt = runtime.of(session)
    day = day or _china_today(rt)
    monday = day - timedelta(days=day.weekday())
    days = [RosterDay(monday + timedelta(days=n), rt.calendar.is_workday(monday + timedelta(days=n)))
            for n in range(7)]
    units = [u for u in _tree_order(list(session.scalars(select(OrgUnitModel))))
             if u.kind == "department" and u.presence]
    centers = dict(session.execute(select(OrgUnitModel.id, OrgUnitModel.name)
                                   .where(OrgUnitModel.id.in_({u.parent_id for u in units}))).all())
    rows = [RosterRow(u, centers.get(u.parent_id, ""), [presence.on_day(u.presence, u.rota_days, d.day, d.working)
                                                         for d in days]) for u in units]
    return Roster(monday, days, rows)


# ---------------------------------------------------------------- roles and the lane -> role map

def list_roles(session: Session, actor: Actor) -> list[RoleModel]:
    """Every role, built-in first, by key. Read-only. Raises Forbidden."""
    _require_reader(actor)
    return list(session.scalars(select(RoleModel).order_by(RoleModel.builtin.desc(), RoleModel.name)))


def rename_role(session: Session, actor: Actor, role: str, name_zh: str | None, name_en: str | None) -> RoleModel:
    """An administrator names a role in Chinese and English (its key, which processes and memberships use, never
    changes); an empty name falls back to the built-in one. Commits, with a role_renamed row in the admin log.
    Raises Forbidden, NotFound, InvalidData (the field named)."""
    _require_admin(actor)
    admin_log.serialise(session)
    row = session.scalar(select(RoleModel).where(RoleModel.name == role))
    if row is None:
        raise NotFound(msg("role.not_found", role=role), {"role": [msg("field.unknown_role", role=role)]})
    new = {}
    for field, value in (("name_zh", name_zh), ("name_en", name_en)):
        value = (value or "").strip() or None
        if value is not None:
            if len(value) > 200:
                raise InvalidData(msg("form.invalid"), {field: [msg("field.between", min=1, max=200)]})
            case_data.check_name(field, value)
        new[field] = value
    old = {"name_zh": row.name_zh, "name_en": row.name_en}
    if old == new:
        return row
    row.name_zh, row.name_en = new["name_zh"], new["name_en"]
    session.flush()
    admin_log.append(session, actor.username, runtime.of(session).clock.now(), "role_renamed", "role", role,
                     old, new)
    session.commit()
    log.info("role %s renamed by %s", role, actor.username)
    return row


def lane_roles(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """(lane name, role key) of config/org.toml [lane_roles]: a user task in that lane without candidate groups
    goes to that role. Read-only (the file is the setting). Raises Forbidden."""
    _require_reader(actor)
    return sorted(runtime.of(session).settings.lane_roles.items())
