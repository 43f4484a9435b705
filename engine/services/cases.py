"""Cases: open a case (一案一码), read it, and fire its timers — each function one transaction."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Integer, bindparam, column, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import access, casework, forms, runtime
from engine.clock import CHINA_TZ, running_at
from engine.db import send
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.models import CaseModel, OrgUnitModel, TaskCandidateModel, TaskModel, TimerModel
from engine.services.processes import latest_loaded_version
from engine.services.timers import add_next_ladder_step, earlier_unfired, effective_moment, open_supervision_task
from engine.services.users import Actor

log = logging.getLogger(__name__)

# Channel digit in the case code (domain.md §6); 0 = other / not given.
CHANNEL_DIGITS = {"walk_in": "1", "phone": "2", "letter": "3", "online": "4", "grid": "5", "hotline_12345": "6",
                  "dept_referral": "7", "court_referral": "8", "higher_assignment": "9"}


def check_digit(body: str) -> str:
    """ISO 7064 MOD 11-2 check character (as in the citizen ID number): '0'-'9' or 'X'."""
    total = 0
    for ch in body:
        total = (total + int(ch)) * 2 % 11
    value = (12 - total) % 11
    return "X" if value == 10 else str(value)


def valid_code(code: str) -> bool:
    return len(code) >= 2 and code[:-1].isdigit() and check_digit(code[:-1]) == code[-1]


# One atomic upsert, the same SQL on SQLite (>= 3.35) and PostgreSQL. Written as text() because SQLAlchemy
# gives its dialect-specific ON CONFLICT construct no cache key: it was compiled anew on every case opened
# (~2 ms, a quarter of the bench lifecycle).
_NEXT_SEQUENCE = text(
    "INSERT INTO case_sequences (area_code, year, last_value) VALUES (:area, :year, 1) "
    "ON CONFLICT (area_code, year) DO UPDATE SET last_value = case_sequences.last_value + 1 "
    "RETURNING last_value").columns(column("last_value", Integer))


def _next_sequence(session: Session, area_code: str, year: int) -> int:
    # One atomic upsert: concurrent openings in the same area and year serialise on this row, never repeat.
    [(value,)] = send(session.connection(), _NEXT_SEQUENCE, {"area": area_code, "year": year})
    if value > 999_999:
        raise Conflict(f"{area_code} {year} 年案件编号已用尽 / case numbers for {area_code} in {year} are exhausted")
    return value


def make_case_code(session: Session, org: OrgUnitModel, channel: str | None, now: datetime) -> str:
    """{6-digit area}{level}{channel}{YYYY}{6-digit sequence}{check} — domain.md §6."""
    year = now.astimezone(CHINA_TZ).year
    seq = _next_sequence(session, org.area_code, year)
    body = f"{org.area_code}{org.level}{CHANNEL_DIGITS.get(channel or '', '0')}{year}{seq:06d}"
    return body + check_digit(body)


# Built once: Session.get builds and keys a new SELECT on every call (~0.08 ms more per case opened).
_ORG_BY_ID = select(*casework.ORGS.c).where(casework.ORGS.c.id == bindparam("org_id"))


def _start_org(session: Session, actor: Actor, allowed_roles: set[str], org_code: str | None) -> OrgUnitModel:
    if org_code:
        org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == org_code))
        if org is None:
            raise InvalidData(f"机构不存在 / unknown org unit {org_code!r}", {"org_unit": [f"unknown org unit {org_code!r}"]})
        if not actor.is_system and not any(actor.holds(role, org.id) for role in allowed_roles):
            raise Forbidden(f"您在 {org.name} 没有受理该流程的角色 / you hold no role that opens this process in {org.code}")
        return org
    if actor.is_system:
        from engine.services.users import top_org
        return top_org(session)
    for grant in actor.grants:
        if grant.role in allowed_roles:
            [row] = send(session.connection(), _ORG_BY_ID, {"org_id": grant.org_unit_id})
            return casework.attach_loaded(session, OrgUnitModel, row._asdict())
    raise Forbidden("您没有受理该流程的角色 / you hold no role that may open a case of this process",
                    {"roles": sorted(allowed_roles)})


def start_roles(meta: dict) -> set[str]:
    """Roles that may open a case of a process version: its starter groups, and the candidate roles of its
    first user tasks (registration) — literal groups, else the lane's role."""
    roles = set(meta.get("start_roles") or [])
    for name in meta.get("first_user_tasks") or []:
        info = meta["user_tasks"].get(name) or {}
        roles.update(entry.split("@", 1)[0] for entry in info.get("candidate_groups") or [])
        if not info.get("candidate_groups") and not info.get("candidate_groups_expr") and info.get("lane"):
            roles.add(runtime.get().settings.lane_roles.get(info["lane"], info["lane"]))
    return roles


_START_FORM = "<start>"  # the start event's form schema in LoadedVersion.schemas (no task is named so)
_NO_FIELDS = forms.build_schema([], name="Form_start_empty")


def start_data(version, data: dict) -> dict:
    """Start data checked as the browser's intake checks it: against the start event's form (every rule, required
    fields too), else against the first registration task's form (which the registration task completes later,
    so its required fields may still be missing), else only {} is accepted. Raises InvalidData."""
    start_form = version.meta.get("start_form")
    if start_form:
        schema = version.schemas.get(_START_FORM)
        if schema is None:  # built once per cached version
            schema = version.schemas[_START_FORM] = forms.build_schema(start_form, name="Form_start")
        return forms.validate_form(schema, data)
    first = next(iter(version.meta.get("first_user_tasks") or []), None)
    if first is not None and first in version.schemas:
        return forms.validate_form(version.schemas[first], data, partial=True)
    return forms.validate_form(_NO_FIELDS, data)


def start_case(session: Session, process_id: str, data: dict | None, actor: Actor, org_unit: str | None = None,
               linked_case_id: int | None = None, link_kind: str | None = None) -> CaseModel:
    """Open a case of the newest version of a process and run it to its first wait state. Commits.

    Raises NotFound (process), Forbidden (no start role), InvalidData (data not an object, not within the data
    limits or not what the start form accepts: start_data), TaskFailed."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidData("data 必须是对象 / data must be a JSON object", {"data": ["must be an object"]})
    version = latest_loaded_version(session, process_id)
    org = _start_org(session, actor, start_roles(version.meta), org_unit)
    data = start_data(version, data)
    now = runtime.get().clock.now()
    case = _open_case(session, version, data, actor, org, now, linked_case_id, link_kind)
    session.commit()
    log.info("case %s opened: %s v%s by %s", case.id, process_id, version.version, actor.username)
    return case


def register_case(session: Session, process_id: str, data: dict | None, actor: Actor,
                  org_unit: str | None = None) -> CaseModel:
    """Intake (受理登记) as one command: validate the registration form, open a case of the newest version of
    a process with that data and complete its registration task (its first user task) with the same data, in
    one transaction. Commits once: a registration that fails leaves no case behind, so a resubmitted form
    cannot open a second one. When the actor may not act on the registration task the case stays open at it.

    Raises NotFound (process), Forbidden (no start role), InvalidData (per-field messages), TaskFailed (the
    process failed after the registration task), Conflict."""
    from engine.services.tasks import _NO_FIELDS, can_act  # tasks builds on this module

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidData("data 必须是对象 / data must be a JSON object", {"data": ["must be an object"]})
    version = latest_loaded_version(session, process_id)
    first = next(iter(version.meta.get("first_user_tasks") or []), None)
    if first is not None:  # before anything is written
        data = forms.validate_form(version.schemas.get(first) or _NO_FIELDS, data)
    org = _start_org(session, actor, start_roles(version.meta), org_unit)
    now = runtime.get().clock.now()
    case = _open_case(session, version, data, actor, org, now, None, None)
    rows = casework.task_rows_of(session, case.id, "")[0] if first is not None else {}
    task = next((row for row in rows.values() if row.spec_name == first), None)
    if task is not None and can_act(session, actor, task):
        casework.execute(session, case, actor.username, now, casework.completion(task.id, data), "task_completed",
                         task_rows=rows)
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict("案件已被并发修改 / the case changed concurrently") from exc
    log.info("case %s registered: %s v%s by %s", case.id, process_id, version.version, actor.username)
    return case


def _open_case(session: Session, version, data: dict, actor: Actor, org: OrgUnitModel, now: datetime,
               linked_case_id: int | None, link_kind: str | None) -> CaseModel:
    workflow = casework.new_workflow(version)
    case = casework.insert_case(session, dict(
        code=make_case_code(session, org, data.get("channel"), now), process_version_id=version.id,
        process_id=version.process_id, status="open", outcome=None, org_unit_id=org.id, category=None, tier=None,
        channel=None, party_phone=None, opened_by=actor.username, opened_at=now, closed_at=None,
        linked_case_id=linked_case_id, link_kind=link_kind, data={}, workflow_json="{}", task_count=0,
        lock_version=1, event_seq=0, event_hash=casework.GENESIS, event_at=None), org)
    ctx = casework.Ctx(session, case, version, workflow, now, actor.username, new_case=True)
    casework.snapshot(ctx)
    with running_at(now):
        workflow.data.update(data)
        workflow.task_tree.data.update(data)
        casework.run_engine(workflow)
        command = {"process_version_id": version.id, "data": data, "org_unit": org.code,
                   "linked_case_id": linked_case_id, "link_kind": link_kind}
        casework.save(ctx, "case_started", command)
    return case


def open_linked_case(session: Session, source: CaseModel, process_id: str, data: dict, link_kind: str,
                     now: datetime) -> CaseModel:
    """Open a case linked to `source` inside the running command (flushes only): data copied, flagged repeat."""
    version = latest_loaded_version(session, process_id)
    copied = {k: v for k, v in data.items() if not k.startswith("_")}
    copied.update({"repeat": True, "linked_from": source.code})
    return _open_case(session, version, copied, Actor(username="system"), source.org_unit, now, source.id, link_kind)


def get_case(session: Session, case_id: int, actor: Actor, what: str | None = "case") -> CaseModel:
    """A case the actor may read (engine/access.py has the rule); a read by an auditor or administrator is
    recorded as `what` (None: a check inside a larger read that records itself). Raises NotFound, Forbidden."""
    case = session.get(CaseModel, case_id)
    if case is None:
        raise NotFound(f"案件不存在 / case {case_id} not found")
    ensure_can_read(session, actor, case, what)
    return case


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


_TIMERS = TimerModel.__table__
# The row under the case lock, and whether an earlier-due timer of its case is still to fire (due order).
TIMER_ROW = select(_TIMERS.c.id, _TIMERS.c.case_id, _TIMERS.c.kind, _TIMERS.c.name, _TIMERS.c.ref, _TIMERS.c.due_at,
                   _TIMERS.c.claimed_by, _TIMERS.c.fired_at, _TIMERS.c.incident,
                   earlier_unfired(_TIMERS.c).label("blocked")).where(_TIMERS.c.id == bindparam("timer_id"))
_MARK_FIRED = update(_TIMERS).where(_TIMERS.c.id == bindparam("timer_id")).values(fired_at=bindparam("fired_at"))
_RELEASE = update(_TIMERS).where(_TIMERS.c.id == bindparam("timer_id")).values(claimed_by=None, claimed_until=None)


def fire_timer(session: Session, timer_id: int, now: datetime, worker: str) -> str:
    """Fire one claimed timer through the case command. Commits.

    Returns "fired"; "skipped" if it was already fired or taken; "deferred" (claim released) if an earlier-due
    timer of the same case has not fired yet — a case's timers fire in due order. Raises Conflict, TaskFailed."""
    case = casework.lock_case_of_timer(session, timer_id)
    # Read the row under the lock (a Core row): another drain may have fired or taken it meanwhile.
    timer = session.execute(TIMER_ROW, {"timer_id": timer_id}).one_or_none() if case is not None else None
    if timer is None or timer.fired_at is not None or timer.claimed_by != worker:
        session.rollback()
        return "skipped"
    if timer.blocked:
        session.execute(_RELEASE, {"timer_id": timer_id})
        session.commit()
        return "deferred"
    fire_timer_row(session, case, timer, now, "system")
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict("案件已被并发修改 / the case changed concurrently") from exc
    return "fired"


def fire_timer_row(session: Session, case: CaseModel, timer, now: datetime, actor: str) -> datetime:
    """Fire a timer row (read under the case lock) at its effective moment; returns that moment. Flushes only.

    Shared by the drain (fire_timer) and an operator's retry of an incident (incidents.retry_incident)."""
    moment = effective_moment(case.event_at, timer.due_at, now)
    # when it really fired (lateness); events carry the effective moment. Written before the command
    # rebuilds the timer index from the table.
    session.execute(_MARK_FIRED, {"timer_id": timer.id, "fired_at": max(now, moment)})
    if timer.kind == "ladder":
        _fire_ladder_step(session, case, timer, moment, actor)
    elif case.status == "open":
        def apply(ctx):
            casework.run_engine(ctx.workflow, refresh_timers=True)
            return None, {"fire": True, "timer": timer.name, "due_at": timer.due_at.isoformat()}

        casework.execute(session, case, actor, moment, apply, "timer_fired")
    return moment


def _fire_ladder_step(session: Session, case: CaseModel, timer, moment: datetime, actor: str = "system") -> None:
    """One supervision-ladder step of a task (`timer`: the timer row, read under the case lock)."""
    from engine.services.timers import LADDER

    task_id, _, step_name = timer.ref.rpartition(":")
    step = next(s for s in LADDER if s.name == step_name)
    task = session.get(TaskModel, task_id)
    if task is None or task.warning_level >= step.level:
        return
    task.warning_level = step.level
    session.execute(update(TaskCandidateModel).where(TaskCandidateModel.task_id == task.id)
                    .values(warning_level=step.level))  # the list's sort key travels with the task
    add_next_ladder_step(session, case, task)
    casework.append_event(session, case, "task_escalated", actor, moment,
                          {"step": step.name, "title": step.title, "level": step.level,
                           "due_at": task.due_at.isoformat() if task.due_at else None}, task.id, task.title)
    follow = open_supervision_task(session, case, task, step.name, moment, timer.id)
    if follow is not None:
        casework.append_event(session, case, "task_opened", "system", moment,
                              {"roles": follow.roles, "due_at": follow.due_at.isoformat(), "basis": follow.due_basis},
                              follow.id, follow.title)
