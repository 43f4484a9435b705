"""Cases: open a case (一案一码), read it, and fire its timers — each function one transaction."""
from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import access, case_list, case_store, casework, chain, forms, routing, runtime, stats, task_index
from engine.actors import PARTY_ACTOR, Actor
from engine.case_codes import CHANNEL_DIGITS, check_digit, normalise_phone, valid_code  # noqa: F401 (public here)
from engine.fastpath import send
from engine.directory import top_org
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
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


def _repeat_link(session: Session, actor: Actor, repeat_of: int | None) -> tuple[int | None, str | None]:
    """(linked_case_id, link_kind) for a case registered as a repeat (重复件) of `repeat_of`: a case the actor may
    read. Raises InvalidData on the field `repeat_of`."""
    if repeat_of is None:
        return None, None
    earlier = session.get(CaseModel, repeat_of)
    if earlier is None or not access.decide(session, actor, earlier).allowed:
        m = msg("case.repeat_of_unknown", case_id=repeat_of)
        raise InvalidData(m, {"repeat_of": [m]})
    return earlier.id, "repeat"


def start_case(session: Session, process_id: str, data: dict | None, actor: Actor, org_unit: str | None = None,
               linked_case_id: int | None = None, link_kind: str | None = None,
               repeat_of: int | None = None) -> CaseModel:
    """Open a case of the newest version of a process and run it to its first wait state. Commits.
    `repeat_of`: as register_case's.

    Raises NotFound (process), Forbidden (no start role), InvalidData (data not an object, not within the data
    limits or not what the start form accepts: start_data; repeat_of not a case the actor may read),
    TaskFailed."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidData(msg("data.not_object"), {"data": [msg("field.must_be_object")]})
    if repeat_of is not None:
        linked_case_id, link_kind = _repeat_link(session, actor, repeat_of)
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
                  org_unit: str | None = None, repeat_of: int | None = None) -> CaseModel:
    """Intake (受理登记) as one command: validate the registration form, open a case of the newest version of
    a process with that data and complete its registration task (its first user task) with the same data, in
    one transaction. Commits once: a registration that fails leaves no case behind, so a resubmitted form
    cannot open a second one. When the actor may not act on the registration task the case stays open at it.

    Raises NotFound (process), Forbidden (no start role), InvalidData (per-field messages), TaskFailed (the
    process failed after the registration task), Conflict.

    `repeat_of`: a case of the same party the clerk judged the same matter (重复件, found by ledger.same_party):
    the new case is linked to it (link_kind "repeat", shown on both cases' pages). It must be a case the actor
    may read, else InvalidData on the field `repeat_of`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidData(msg("data.not_object"), {"data": [msg("field.must_be_object")]})
    linked_case_id, link_kind = _repeat_link(session, actor, repeat_of)
    rt = runtime.of(session)
    version = active_loaded_version(session, process_id)
    first = next(iter(version.meta.get("first_user_tasks") or []), None)
    if first is not None:  # before anything is written
        data = forms.validate_form(version.schemas.get(first) or forms.NO_FIELDS, data, rt)
    org = _start_org(session, actor, start_roles(version.meta, rt), org_unit)
    now = rt.clock.now()
    case = casework.open_case(session, version, data, actor.username, org, now, linked_case_id, link_kind)
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


def normalise_code(code: str | None) -> str:
    """A case code as a party types or copies it: full-width characters as half-width, spaces and hyphens out,
    a trailing x as X (case_list.normalise_query, the ledger's reading of a code)."""
    return case_list.normalise_query(code).upper()


def lookup_case(session: Session, code: str, phone: str) -> CaseModel | None:
    """The public look-up: the case with this code whose party phone matches (both read by normalise_code and
    normalise_phone), else None. Read-only.

    One answer for an unknown code and a wrong phone, compared in constant time, so nobody learns
    whether a code exists."""
    code = normalise_code(code)
    case = get_case_by_code(session, code) if code else None
    stored, given = normalise_phone(case.party_phone if case else None), normalise_phone(phone)
    if case is None or not stored or not given or not hmac.compare_digest(stored.encode(), given.encode()):
        return None
    return case


# The stages a party reads on the look-up, in order; an open case is at the latest stage one of its open tasks'
# roles names (the other roles: "handling"), a closed case at "closed".
PUBLIC_STAGES = ("registered", "screening", "handling", "feedback", "closed")
_STAGE_OF_ROLE = {"intake_clerk": "registered", "screener": "screening", "director": "screening",
                  "revisit_staff": "feedback"}


@dataclass
class PublicView:
    """What the public look-up tells the party of their case: nothing personal."""

    code: str
    process: str
    status: str
    stage: str  # one of PUBLIC_STAGES
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    next_steps: list[str]
    unit_name: str
    unit_phone: str | None
    rating: str | None  # the party's rating, once given (PARTY_RATINGS)


def public_view(session: Session, case: CaseModel) -> PublicView:
    """The look-up's answer for a case found by lookup_case: its stage in plain words, the next steps, the
    handling unit and its phone. Read-only."""
    tasks = [t for t in open_tasks(session, case.id) if t.kind == "bpmn"]
    if case.status == "closed":
        stage = "closed"
    else:
        stages = [_STAGE_OF_ROLE.get(role, "handling") for t in tasks for role in (t.roles or [])] or ["handling"]
        stage = max(stages, key=PUBLIC_STAGES.index)
    unit = case.org_unit
    return PublicView(code=case.code, process=case.version.name or case.process_id, status=case.status,
                      stage=stage, opened_at=case.opened_at, closed_at=case.closed_at, outcome=case.outcome,
                      next_steps=[t.title for t in tasks], unit_name=unit.name, unit_phone=unit.phone,
                      rating=(case.data or {}).get("party_rating"))


# The party's own rating of a closed case (满意 / 基本满意 / 不满意): case data `party_rating` holds the id, the
# statistics' 满意率 reads it (docs/statistics.md).
PARTY_RATINGS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
RATING_COMMENT_MAX = 500


def rate_case(session: Session, code: str, phone: str, rating: str, comment: str | None = None) -> CaseModel:
    """The party rates the handling of a closed case through the public look-up, with the look-up's proof
    (code + phone), once. Stored as case data party_rating (an id of PARTY_RATINGS) and party_rating_comment,
    and a party_rated event. Commits.

    Raises NotFound (no case with this code and phone: the look-up's one answer), Conflict (not closed yet;
    rated already), InvalidData (unknown rating; comment too long)."""
    found = lookup_case(session, code, phone)
    if found is None:
        raise NotFound(msg("lookup.no_match"))
    problems = {}
    if rating not in PARTY_RATINGS:
        problems["rating"] = [msg("field.one_of", choices="、".join(PARTY_RATINGS.values()))]
    comment = (comment or "").strip()
    if len(comment) > RATING_COMMENT_MAX:
        problems["comment"] = [msg("field.at_most", max=RATING_COMMENT_MAX)]
    if problems:
        raise InvalidData(msg("lookup.rating_invalid"), problems)
    case = case_store.lock_case(session, found.id)
    if case.status != "closed":
        raise Conflict(msg("lookup.rate_when_closed"))
    if (case.data or {}).get("party_rating"):
        raise Conflict(msg("lookup.rated_already"))
    now = runtime.of(session).clock.now()
    # Beside the workflow's data, not in it: the case is closed and runs no more, and a replay (verify)
    # reproduces the workflow, which the rating does not touch.
    case.data = {**(case.data or {}), "party_rating": rating, "party_rating_comment": comment}
    row = chain.append_event(session, case, "party_rated", PARTY_ACTOR, now, {
        "rating": rating, "comment": comment, "changes": {"party_rating": [None, rating]}})
    stats.count_events(session, case, [row])  # 满意率 (engine/stats.py reads the change, as a rebuild does)
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(msg("lookup.rated_already")) from exc
    log.info("case %s rated by its party", case.id)
    return case


def ensure_can_read(session: Session, actor: Actor, case: CaseModel, what: str | None = None) -> None:
    """Raise Forbidden unless the actor may read the case (engine/access.py, the one rule)."""
    access.ensure_can_read(session, actor, case, what)


def open_tasks(session: Session, case_id: int) -> list[TaskModel]:
    return list(session.scalars(select(TaskModel).where(TaskModel.case_id == case_id)
                                .order_by(TaskModel.created_at, TaskModel.id)))
