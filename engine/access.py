"""Who may read a case (need to know), the access log of read-all reads, and the masking of phone and ID numbers.

The rule, written once (docs/operations.md, "Who may read a case"); every read of a case, its events, its
verification, its diagram, its receipt or one of its tasks goes through ensure_can_read:

* the system (scheduler, CLI) reads every case;
* staff holding a role the case's process uses, at the case's own org unit, read it — except resident
  departments (``dept_*`` roles, and any role at a unit of kind "department"), who read only what is routed to
  them;
* supervisors and directors read the cases of their unit and the units below it;
* auditors read every case, administrators every case but the confidential ones; each of those reads is
  recorded in access_log;
* anyone else reads a case only while they hold one of its tasks (its assignee or a candidate) or once they
  acted on it (an event of its history is theirs) — one indexed statement;
* a confidential process (信访: EngineSettings.confidential_processes) is read only by the roles it routes to
  (its own and those of the processes it calls), the case's supervisors and auditors.

Phone and ID numbers are shown whole only to those handling the case (the process role at its unit, a task of
it now or before); everyone else sees them masked (mask_data).
"""
from __future__ import annotations

import ast
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import Integer, String, and_, bindparam, cast, exists, false, insert, null, or_, select, union_all
from sqlalchemy.orm import Session, scoped_session

from engine import runtime
from engine.fastpath import send
from engine.errors import Forbidden, NotFound
from engine.models import (AccessLogModel, CaseEventModel, CaseModel, OrgUnitModel, ProcessVersionModel,
                           TaskCandidateModel, TaskModel)
from engine.actors import SUPERVISORY_ROLES, Actor
from engine.messages import msg
from engine.versions import load_version

log = logging.getLogger(__name__)

# Roles of the departments resident at a center (公安, 法院, 人社 …): they read only the cases routed to them.
DEPARTMENT_ROLE_PREFIX = "dept_"


@dataclass(frozen=True)
class Decision:
    """May the actor read the case, on what grant, and do they handle it (None: not known without a query)."""

    allowed: bool
    basis: str  # system | role | supervisor | auditor | admin | involved | none
    handles: bool | None


# ---------------------------------------------------------------- the process side of the rule

def process_roles(version, rt: runtime.Runtime) -> frozenset[str]:
    """The roles a process version uses: its own user tasks' candidate groups (literal, the string constants of
    an `=expression` and the enum values of the form fields it names, else the lane's role) and its starter
    groups. The tasks of a process it calls (a dispute's or a petition's judicial confirmation) do not count:
    their roles read the case once a task is routed to them."""
    return _roles_cached(version, rt)[0]


def routed_roles(version, rt: runtime.Runtime) -> frozenset[str] | None:
    """Every role a case of the version can be routed to, the processes it calls included, and the roles the
    engine's own follow-up tasks go to (the ladder's 催办/督办单 and reviews, a held expiry's confirmation, the
    群体性 alert and 会商研判: config/org.toml); None when an `=expression` picks candidates at run time (then only
    the case's tasks tell) — unless it only names an enum form field, whose options are the roles
    (_closed_expr). A follow-up role that is no process role reads the case only while it holds a task of it."""
    every = _roles_cached(version, rt)[1]
    return None if every is None else every | _follow_up_roles(rt.settings)


def _follow_up_roles(settings) -> frozenset[str]:
    return frozenset({settings.ladder_notice_role, settings.ladder_listing_role, settings.expiry_confirm_role,
                      settings.group_director_role, *settings.group_consultation_roles,
                      *(role for roles in settings.ladder_roles.values() for role in roles.values())})


def _roles_cached(version, rt: runtime.Runtime) -> tuple[frozenset[str], frozenset[str] | None]:
    # Computed once per loaded version (versions never change), kept on the cached LoadedVersion.
    roles = getattr(version, "_read_roles", None)
    if roles is None:
        lane_roles = rt.settings.lane_roles
        every = None
        if all(_closed_expr(info.get("candidate_groups_expr"), version.meta)
               for info in (version.meta.get("user_tasks") or {}).values()):
            every = _roles_of(version.meta, lane_roles)
        roles = version._read_roles = (_roles_of(version.meta, lane_roles, _called_tasks(version)), every)
    return roles


def _closed_expr(expr: str | None, meta: dict) -> bool:
    """No `=expression`, or one that names an enum form field (`=political_legal_role`): the roles it can pick
    are that field's options, all known (a submitted value is one of them)."""
    name = (expr or "").lstrip("=").strip()
    if not name:
        return True
    if not name.isidentifier():
        return False
    return any(f["id"] == name and f.get("enum") for info in (meta.get("user_tasks") or {}).values()
               for f in info.get("form") or [])


def _called_tasks(version) -> set[str]:
    """Names of the user tasks that belong to processes the version calls (call activities, transitively)."""
    subs, user_tasks = version.subprocess_specs or {}, version.meta.get("user_tasks") or {}
    todo, seen, names = list(version.meta.get("called_processes") or []), set(), set()
    while todo:
        process_id = todo.pop()
        if process_id in seen or process_id not in subs:
            continue
        seen.add(process_id)
        for task_spec in subs[process_id].task_specs.values():
            if task_spec.name in user_tasks:
                names.add(task_spec.name)
            if isinstance(getattr(task_spec, "spec", None), str):  # a call activity: the process it calls
                todo.append(task_spec.spec)
    return names


def _roles_of(meta: dict, lane_roles: dict[str, str], called: set[str] = frozenset()) -> frozenset[str]:
    roles = {r.split("@", 1)[0].strip() for r in meta.get("start_roles") or []}
    tasks = [info for name, info in (meta.get("user_tasks") or {}).items() if name not in called]
    forms = (meta.get("user_tasks") or {}).values()
    enums = {f["id"]: [v for v, _ in f.get("enum") or []] for info in forms for f in info.get("form") or []}
    for info in tasks:
        roles.update(entry.split("@", 1)[0].strip() for entry in info.get("candidate_groups") or [])
        expr = (info.get("candidate_groups_expr") or "").lstrip("=")
        if expr:
            try:
                tree = ast.parse(expr, mode="eval")
            except SyntaxError:
                tree = None
            for node in ast.walk(tree) if tree is not None else ():
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                    roles.add(node.value)
                elif isinstance(node, ast.Name):
                    roles.update(enums.get(node.id, ()))
        if info.get("lane") and not info.get("candidate_groups") and not expr:
            roles.add(lane_roles.get(info["lane"], info["lane"]))
    roles.discard("")
    return frozenset(roles)


def is_confidential(case: CaseModel, rt: runtime.Runtime) -> bool:
    return case.process_id in rt.settings.confidential_processes


def _department_grant(grant, case: CaseModel) -> bool:
    return grant.role.startswith(DEPARTMENT_ROLE_PREFIX) or case.org_unit.kind == "department"


# ---------------------------------------------------------------- the rule

def _decide(session: Session, actor: Actor, case: CaseModel) -> Decision:
    """The rule without a query where a grant decides; else one indexed statement (_involved)."""
    if actor.is_system:
        return Decision(True, "system", True)
    version = load_version(session, case.process_version_id)
    rt = runtime.of(session)
    roles = process_roles(version, rt)
    if any(g.org_unit_id == case.org_unit_id and g.role in roles and not _department_grant(g, case)
           for g in actor.grants):
        return Decision(True, "role", True)
    confidential = is_confidential(case, rt)
    if actor.supervises(case.org_unit.path):
        return Decision(True, "supervisor", None)
    if actor.is_auditor:
        return Decision(True, "auditor", None)
    if actor.is_admin and not confidential:
        return Decision(True, "admin", None)
    routed = routed_roles(version, rt) if confidential else None
    if not actor.grants or (routed is not None and not actor.roles & routed):
        # a confidential case routes to none of the actor's roles: nothing to look up
        return Decision(False, "none", False)
    involved = _involved(session, actor, case)
    return Decision(involved, "involved" if involved else "none", involved)


_T, _C, _E = TaskModel.__table__.c, TaskCandidateModel.__table__.c, CaseEventModel.__table__.c
# The case's open tasks with their candidates (a handful of rows: ix_tasks_case_id), and whether one of the
# case's events is the actor's (ix_events_case_id; at most one row) — in one statement.
_INVOLVEMENT = union_all(
    select(_T.assignee.label("who"), _C.role.label("role"), _C.org_unit_id.label("org_unit_id"))
    .select_from(TaskModel.__table__.outerjoin(TaskCandidateModel.__table__, _C.task_id == _T.id))
    .where(_T.case_id == bindparam("case_id")),
    select(select(_E.actor.label("who"), cast(null(), String(64)).label("role"),
                  cast(null(), Integer).label("org_unit_id"))
           .where(_E.case_id == bindparam("case_id"), _E.actor == bindparam("username")).limit(1).subquery()),
)


def _involved(session: Session, actor: Actor, case: CaseModel) -> bool:
    """The actor holds one of the case's open tasks (assignee or candidate) or acted on the case before."""
    grants = {(g.role, g.org_unit_id) for g in actor.grants}
    for who, role, org_unit_id in send(session.connection(), _INVOLVEMENT,
                                       {"case_id": case.id, "username": actor.username}):
        if who == actor.username or (role, org_unit_id) in grants:
            return True
    return False


# Decisions and recorded reads live for one transaction of a session: a page that reads a case five times
# (case, events, diagram state, links) decides and records it once; after a commit (a claim, say) the actor's
# involvement may differ, so the next read decides again.
_STATE_KEY = "jiefen.access"


def _state(session: Session) -> dict:
    if isinstance(session, scoped_session):  # Flask-SQLAlchemy's request session
        session = session()
    # A read served from the identity map has not begun the transaction yet: begin it, so that the reads after
    # it (which will) belong to the same one.
    transaction = session.get_transaction() or session.begin()
    state = session.info.get(_STATE_KEY)
    if state is None or state["transaction"] is not transaction:
        state = session.info[_STATE_KEY] = {"transaction": transaction, "decisions": {}, "recorded": set()}
    return state


def decide(session: Session, actor: Actor, case: CaseModel) -> Decision:
    """Whether the actor may read the case (and on what grant); decided once per transaction."""
    decisions = _state(session)["decisions"]
    key = (actor.username, case.id)
    decision = decisions.get(key)
    if decision is None:
        decision = decisions[key] = _decide(session, actor, case)
    return decision


def ensure_can_read(session: Session, actor: Actor, case: CaseModel, what: str | None = None,
                    refusal: str = msg("case.not_readable")) -> Decision:
    """Raise Forbidden unless the actor may read the case. `what` names a read to record (case, events, verify,
    diagram, receipt, task); a command's permission check passes None and records nothing.

    A read granted by a read-all role (auditor, administrator) is written to access_log in a transaction of
    its own, so the read itself stays one transaction and the record stays even if the read fails later."""
    decision = decide(session, actor, case)
    if not decision.allowed:
        raise Forbidden(refusal)
    if what is not None and (actor.is_auditor or decision.basis in ("auditor", "admin")):
        recorded = _state(session)["recorded"]
        if (actor.username, case.id) not in recorded:
            _record(session, actor, case.id, what, "auditor" if actor.is_auditor else decision.basis)
            recorded.add((actor.username, case.id))
    return decision


_RECORD = insert(AccessLogModel.__table__)


def _record(session: Session, actor: Actor, case_id: int, what: str, basis: str) -> None:
    # Its own connection and transaction: a read never commits (one read, one transaction), and on SQLite the
    # read holds no write lock, so this short write does not wait for it. A record that cannot be written
    # fails the read: a read-all read that leaves no trace is what the log is there to prevent.
    engine = session.connection().engine
    with engine.begin() as connection:
        connection.execute(_RECORD, {"at": runtime.of(session).clock.now(), "username": actor.username,
                                     "case_id": case_id, "what": what, "basis": basis})
    log.info("case %s read by %s (%s, %s)", case_id, actor.username, what, basis)


def handles(session: Session, actor: Actor, case: CaseModel) -> bool:
    """The actor handles the case (the process's role at its unit, or a task of it now or before): they see
    phone and ID numbers whole. At most one query, and none when the read decision already knows."""
    decision = decide(session, actor, case)
    if decision.handles is not None:
        return decision.handles
    result = _involved(session, actor, case)
    _state(session)["decisions"][(actor.username, case.id)] = Decision(decision.allowed, decision.basis, result)
    return result


def masker(session: Session, actor: Actor, case: CaseModel) -> Callable[[Any], Any]:
    """What the web layer shows the actor of this case's data: unchanged for a handler, else mask_data."""
    return _unchanged if handles(session, actor, case) else mask_data


def _unchanged(value: Any) -> Any:
    return value


# ---------------------------------------------------------------- masking

# Keys whose whole value is a phone or an ID number, whatever it looks like (a typo included).
_PHONE_KEY = re.compile(r"phone|mobile|(?:^|_)tel(?:ephone)?(?:_|$)|contact_number|电话|手机", re.I)
_ID_KEY = re.compile(r"(?:^|_)id_(?:card|no|number)(?:_|$)|identity|身份证", re.I)
# Resident ID numbers (GB 11643): 18 characters with a birth date, or the old 15-digit form. Written by hand:
# phonenumbers (below) knows telephones only, and a check-digit test would leave a mistyped number readable.
_ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])\d{6}(?:(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"|\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?![0-9A-Za-z])")
_DIGITS = re.compile(r"\d")


def mask_phone(value: str) -> str:
    """`138****5678`: the first three and the last four digits of a phone number, the rest hidden."""
    digits, prefix = re.sub(r"\D", "", value), ""
    if len(digits) == 13 and digits.startswith("86"):  # +86 and a mobile number
        digits, prefix = digits[2:], "+86 "
    if len(digits) <= 7:
        return "*" * len(digits)
    return prefix + digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(value: str) -> str:
    """An ID number keeps its first six and last four characters (`330106********1234`)."""
    chars = re.sub(r"[\s-]", "", value)
    if len(chars) <= 10:
        return "*" * len(chars)
    return chars[:6] + "*" * (len(chars) - 10) + chars[-4:]


def mask_text(text: str) -> str:
    """Free text with every phone number (mobile or landline, however written: libphonenumber's matcher) and
    every resident ID number in it masked."""
    if len(_DIGITS.findall(text)) < 7:
        return text  # too few digits for either: the common case, no matcher run
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    out, last = [], 0
    for match in phonenumbers.PhoneNumberMatcher(text, "CN", leniency=phonenumbers.Leniency.VALID):
        out.append(text[last:match.start])
        out.append(mask_phone(match.raw_string))
        last = match.end
    out.append(text[last:])
    return "".join(out)


def mask_data(value: Any, key: str | None = None) -> Any:
    """A copy of case data (or an event payload) with phone and ID numbers masked: the values of phone and
    ID fields whole, and any such number inside other text. Never changes `value` itself."""
    if isinstance(value, dict):
        return {k: mask_data(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(v, key) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key is not None:
        return mask_data(str(value), key) if (_PHONE_KEY.search(key) or _ID_KEY.search(key)) else value
    if not isinstance(value, str) or not value:
        return value
    if key is not None and _ID_KEY.search(key):
        return mask_id_number(value)
    if key is not None and _PHONE_KEY.search(key):
        return mask_phone(value)
    return mask_text(value)


# ---------------------------------------------------------------- acting on a task

_CANDIDATES_OF = select(_C.role, _C.org_unit_id).where(_C.task_id == bindparam("task_id"))  # built once


def can_act(session: Session, actor: Actor, task, candidates: list | None = None) -> bool:
    """The actor may act on the task (a tasks row): it is claimed by them, or unclaimed and they hold a
    candidate (role, org unit). `candidates`: the task's pairs when the caller has read them already."""
    if task.assignee is not None:
        return task.assignee == actor.username
    grants = {(g.role, g.org_unit_id) for g in actor.grants}
    if candidates is None:
        candidates = session.execute(_CANDIDATES_OF, {"task_id": task.id}).all()
    return any((role, org) in grants for role, org in candidates)


def acts_on_case(session: Session, actor: Actor, case: CaseModel) -> bool:
    """Who may act on the case as a whole (add a file, issue a document): its handling roles (the process's role
    at the case's unit) and whoever may act on one of its open tasks."""
    if decide(session, actor, case).basis == "role":
        return True
    return any(can_act(session, actor, t)
               for t in session.scalars(select(TaskModel).where(TaskModel.case_id == case.id)))


def record_read(session: Session, actor: Actor, case: CaseModel, what: str) -> None:
    """Record a read in access_log whoever makes it (a dossier's export: 查阅留痕 for every reader, not only the
    read-all roles), in its own transaction like every record. The caller has checked the read."""
    _record(session, actor, case.id, what, "auditor" if actor.is_auditor else decide(session, actor, case).basis)
    _state(session)["recorded"].add((actor.username, case.id))


def readable_case(session: Session, actor: Actor, case_id: int, what: str | None = "case") -> CaseModel:
    """A case the actor may read; a read by an auditor or administrator is recorded as `what` (None: a check
    inside a larger read that records itself). Raises NotFound, Forbidden."""
    case = session.get(CaseModel, case_id)
    if case is None:
        raise NotFound(msg("case.not_found", case_id=case_id))
    ensure_can_read(session, actor, case, what)
    return case


# ---------------------------------------------------------------- the rule as a condition (the case ledger)

def readable_cases_condition(session: Session, actor: Actor):
    """The rule above (_decide) as one SQL condition over the cases table, for lists of cases (the 台账,
    engine/case_list.py): None when the actor reads every case. The same grants in the same order: the
    process's role at the case's unit (not a department's), supervision of the unit or one above it, read-all
    roles (administrators: not the confidential processes), else involvement (a task of the case now, or an
    event of its history) — for a confidential process only when the actor holds a role it routes to."""
    K = CaseModel.__table__.c
    if actor.is_system or actor.is_auditor:
        return None
    rt = runtime.of(session)
    confidential = sorted(rt.settings.confidential_processes)
    conditions = []
    if actor.is_admin:
        if not confidential:
            return None
        conditions.append(K.process_id.not_in(confidential))  # and, below, the confidential ones they handle
    paths = sorted({g.org_path for g in actor.grants if g.role in SUPERVISORY_ROLES})
    if paths:
        under = or_(*[OrgUnitModel.path.startswith(p) for p in paths])
        conditions.append(K.org_unit_id.in_(select(OrgUnitModel.id).where(under)))
    versions = session.execute(select(ProcessVersionModel.id, ProcessVersionModel.process_id)).all()
    loaded = {version_id: load_version(session, version_id) for version_id, _ in versions}
    staff = [g for g in actor.grants if not g.role.startswith(DEPARTMENT_ROLE_PREFIX)]
    if staff:
        kinds = dict(session.execute(select(OrgUnitModel.id, OrgUnitModel.kind)
                                     .where(OrgUnitModel.id.in_({g.org_unit_id for g in staff}))).all())
        for g in staff:
            if kinds.get(g.org_unit_id) == "department":
                continue
            ids = sorted(v for v, version in loaded.items() if g.role in process_roles(version, rt))
            if ids:
                conditions.append(and_(K.org_unit_id == g.org_unit_id, K.process_version_id.in_(ids)))
    if actor.grants:
        involved = or_(
            exists().where(_T.case_id == K.id, _T.assignee == actor.username),
            exists().where(_T.case_id == K.id, _C.task_id == _T.id,
                           or_(*[and_(_C.role == g.role, _C.org_unit_id == g.org_unit_id) for g in actor.grants])),
            exists().where(_E.case_id == K.id, _E.actor == actor.username))
        closed_to_me = sorted(
            v for v, version in loaded.items() if version.process_id in rt.settings.confidential_processes
            and (lambda routed: routed is not None and not actor.roles & routed)(routed_roles(version, rt)))
        if closed_to_me:
            involved = and_(K.process_version_id.not_in(closed_to_me), involved)
        conditions.append(involved)
    return or_(*conditions) if conditions else false()
