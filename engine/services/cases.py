"""Cases: open a case (一案一码), read it, and fire its timers — each function one transaction."""
from __future__ import annotations

import logging

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import access, case_store, casework, forms, routing, runtime, task_index
from engine.actors import Actor
from engine.case_codes import CHANNEL_DIGITS, check_digit, valid_code  # noqa: F401 (public here)
from engine.fastpath import send
from engine.directory import top_org
from engine.errors import Conflict, Forbidden, InvalidData
from engine.messages import msg
from engine.models import CaseModel, OrgUnitModel, TaskModel
from engine.versions import active_loaded_version

log = logging.getLogger(__name__)

# Built once: Session.get builds and keys a new SELECT on every call (~0.08 ms more per case opened).
_ORG_BY_ID = select(*case_store.ORGS.c).where(case_store.ORGS.c.id == bindparam("org_id"))


def _start_org(session: Session, actor: Actor, allowed_roles: set[str], org_code: str | None) -> OrgUnitModel:
    if org_code:
        org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == org_code))
        if org is None:
            raise InvalidData(msg("case.start_org_unknown", org_unit=org_code),
                              {"org_unit": [msg("field.unknown_org", org_unit=org_code)]})
        if not actor.is_system and not any(actor.holds(role, org.id) for role in allowed_roles):
            raise Forbidden(msg("case.start_forbidden_in", org_name=org.name, org_code=org.code))
        return org
    if actor.is_system:
        return top_org(session)
    for grant in actor.grants:
        if grant.role in allowed_roles:
            [row] = send(session.connection(), _ORG_BY_ID, {"org_id": grant.org_unit_id})
            return case_store.attach_loaded(session, OrgUnitModel, row._asdict())
    raise Forbidden(msg("case.start_forbidden"),
                    {"roles": sorted(allowed_roles)})


def start_roles(meta: dict, rt: runtime.Runtime) -> set[str]:
    """Roles that may open a case of a process version: its starter groups, and the candidate roles of its
    first user tasks (registration) — literal groups, else the lane's role."""
    roles = set(meta.get("start_roles") or [])
    for name in meta.get("first_user_tasks") or []:
        info = meta["user_tasks"].get(name) or {}
        roles.update(entry.split("@", 1)[0] for entry in info.get("candidate_groups") or [])
        if not info.get("candidate_groups") and not info.get("candidate_groups_expr") and info.get("lane"):
            roles.add(rt.settings.lane_roles.get(info["lane"], info["lane"]))
    return roles


_START_FORM = "<start>"  # the start event's form schema in LoadedVersion.schemas (no task is named so)


def start_data(version, data: dict, rt: runtime.Runtime) -> dict:
    """Start data checked as the browser's intake checks it: against the start event's form (every rule, required
    fields too), else against the first registration task's form (which the registration task completes later,
    so its required fields may still be missing), else only {} is accepted. Raises InvalidData."""
    start_form = version.meta.get("start_form")
    if start_form:
        schema = version.schemas.get(_START_FORM)
        if schema is None:  # built once per cached version
            schema = version.schemas[_START_FORM] = forms.build_schema(start_form, name="Form_start")
        return forms.validate_form(schema, data, rt)
    first = next(iter(version.meta.get("first_user_tasks") or []), None)
    if first is not None and first in version.schemas:
        return forms.validate_form(version.schemas[first], data, rt, partial=True)
    return forms.validate_form(forms.NO_FIELDS, data, rt)


def start_case(session: Session, process_id: str, data: dict | None, actor: Actor, org_unit: str | None = None,
               linked_case_id: int | None = None, link_kind: str | None = None) -> CaseModel:
    """Open a case of the newest version of a process and run it to its first wait state. Commits.

    Raises NotFound (process), Forbidden (no start role), InvalidData (data not an object, not within the data
    limits or not what the start form accepts: start_data), TaskFailed."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidData(msg("data.not_object"), {"data": [msg("field.must_be_object")]})
    rt = runtime.of(session)
    version = active_loaded_version(session, process_id)
    org = _start_org(session, actor, start_roles(version.meta, rt), org_unit)
    data = start_data(version, data, rt)
    now = rt.clock.now()
    case = casework.open_case(session, version, data, actor.username, org, now, linked_case_id, link_kind)
    session.commit()
    log.info("case %s opened: %s v%s by %s", case.id, process_id, version.version, actor.username)
    return case


def check_may_open(session: Session, process_id: str, actor: Actor) -> None:
    """Raise Forbidden unless the actor may open a case of the process's newest version (one of its start roles
    anywhere), as register_case would decide: the intake page asks before anyone fills in the form. Read-only.

    Raises NotFound (process), Forbidden."""
    version = active_loaded_version(session, process_id)
    _start_org(session, actor, start_roles(version.meta, runtime.of(session)), None)


def register_case(session: Session, process_id: str, data: dict | None, actor: Actor,
                  org_unit: str | None = None) -> CaseModel:
    """Intake (受理登记) as one command: validate the registration form, open a case of the newest version of
    a process with that data and complete its registration task (its first user task) with the same data, in
    one transaction. Commits once: a registration that fails leaves no case behind, so a resubmitted form
    cannot open a second one. When the actor may not act on the registration task the case stays open at it.

    Raises NotFound (process), Forbidden (no start role), InvalidData (per-field messages), TaskFailed (the
    process failed after the registration task), Conflict."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidData(msg("data.not_object"), {"data": [msg("field.must_be_object")]})
    rt = runtime.of(session)
    version = active_loaded_version(session, process_id)
    first = next(iter(version.meta.get("first_user_tasks") or []), None)
    if first is not None:  # before anything is written
        data = forms.validate_form(version.schemas.get(first) or forms.NO_FIELDS, data, rt)
    org = _start_org(session, actor, start_roles(version.meta, rt), org_unit)
    now = rt.clock.now()
    case = casework.open_case(session, version, data, actor.username, org, now, None, None)
    rows = task_index.task_rows_of(session, case.id, "")[0] if first is not None else {}
    task = next((row for row in rows.values() if row.spec_name == first), None)
    if task is not None and access.can_act(session, actor, task):
        routing.check_case_choices(session, case, (version.user_task(first) or {}).get("form", []), data)
        casework.execute(session, case, actor.username, now, casework.completion(task.id, data), "task_completed",
                         task_rows=rows)
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(msg("case.changed_concurrently")) from exc
    log.info("case %s registered: %s v%s by %s", case.id, process_id, version.version, actor.username)
    return case


def get_case(session: Session, case_id: int, actor: Actor, what: str | None = "case") -> CaseModel:
    """A case the actor may read (engine/access.py has the rule); a read by an auditor or administrator is
    recorded as `what` (None: a check inside a larger read that records itself). Raises NotFound, Forbidden."""
    return access.readable_case(session, actor, case_id, what)


def get_case_by_code(session: Session, code: str) -> CaseModel | None:
    return session.scalar(select(CaseModel).where(CaseModel.code == code))


def lookup_case(session: Session, code: str, phone: str) -> CaseModel | None:
    """The public look-up: the case with this code whose party phone matches (digits only), else None.

    One answer for an unknown code and a wrong phone, compared in constant time, so nobody learns
    whether a code exists."""
    import hmac
    import re

    def digits(value: str | None) -> str:
        return re.sub(r"\D", "", value or "")

    case = get_case_by_code(session, code.strip().upper()) if code else None
    stored, given = digits(case.party_phone if case else None), digits(phone)
    if case is None or not stored or not given or not hmac.compare_digest(stored.encode(), given.encode()):
        return None
    return case


def ensure_can_read(session: Session, actor: Actor, case: CaseModel, what: str | None = None) -> None:
    """Raise Forbidden unless the actor may read the case (engine/access.py, the one rule)."""
    access.ensure_can_read(session, actor, case, what)


def open_tasks(session: Session, case_id: int) -> list[TaskModel]:
    return list(session.scalars(select(TaskModel).where(TaskModel.case_id == case_id)
                                .order_by(TaskModel.created_at, TaskModel.id)))
