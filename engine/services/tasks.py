"""Human tasks: the per-role task list, claim / unclaim, complete with validated form data, and the
supervisor's hands on them (reassign, release, 催办)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from engine import (access, case_data, case_store, casework, chain, expiry, forms, group_cases, ladder, routing,
                    runtime, task_index, task_list)
from engine.access import can_act  # noqa: F401 (public here)
from engine.actors import SUPERVISORY_ROLES, Actor
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.messages import msg
from engine.models import (CaseEventModel, CaseModel, MembershipModel, OrgUnitModel, RoleModel, TaskCandidateModel,
                           TaskDraftModel, TaskModel, UserModel)
from engine.versions import active_loaded_version, load_version

log = logging.getLogger(__name__)

SUPERVISION_FORM = ladder.ANSWER_FORM  # a supervision follow-up task's answer fields (书面答复)

from engine.task_list import COUNT_CAP, MAX_PAGE, SORTS, WARNING_LEVELS, TaskPage, _search_kind  # noqa: F401
from engine.task_list import _mine_page, _page_over_tasks

def _supervised_paths(actor: Actor) -> list[str]:
    """Org unit paths where the actor holds a supervisory role (each one covers that unit and below)."""
    return list(dict.fromkeys(g.org_path for g in actor.grants if g.role in SUPERVISORY_ROLES))


def list_tasks(session: Session, actor: Actor, *, overdue: bool = False, assigned: str | None = None,
               q: str | None = None, process_id: str | None = None, category: str | None = None,
               scope: str = "mine", sort: str = "due", page: int = 1, per_page: int = 50,
               now: datetime | None = None) -> TaskPage:
    """Open tasks the actor may act on (scope "mine"), oversees ("supervised") or all (administrators).

    Totals are exact up to COUNT_CAP. Raises InvalidData (unknown sort), Forbidden (scope "all")."""
    now = now or runtime.of(session).clock.now()
    if sort not in SORTS:
        raise InvalidData(msg("tasks.unknown_sort", sort=sort), {"sort": [", ".join(SORTS)]})
    page, per_page = task_list.page_bounds(page, per_page)
    offset = (page - 1) * per_page
    filters = {"overdue": overdue, "assigned": assigned, "q": q, "process_id": process_id, "category": category,
               "username": actor.username}
    hidden: list[str] = []  # processes whose tasks the list leaves out (engine/access.py)
    if scope == "mine":
        ids, total, more = _mine_page(session, actor, filters, sort, now, offset, per_page)
    else:
        if scope == "supervised":
            paths = _supervised_paths(actor)
            if not paths:
                return TaskPage([], 0)
        elif scope == "all":
            if not actor.can_read_all():
                raise Forbidden(msg("tasks.list_all_forbidden"))
            paths = []
            if not (actor.is_auditor or actor.is_system):  # administrators do not read confidential cases
                hidden = sorted(runtime.of(session).settings.confidential_processes)
        else:
                raise InvalidData(msg("tasks.unknown_scope", scope=scope), {"scope": ["mine, supervised, all"]})
        ids, total, more = _page_over_tasks(session, paths, filters, sort, now, offset, per_page, hidden)
    rows = {row.id: row for row in session.scalars(
        select(TaskModel).where(TaskModel.id.in_(ids)).options(joinedload(TaskModel.case)))} if ids else {}
    return TaskPage([rows[task_id] for task_id in ids if task_id in rows], total, more)


_FRESH_TASK = select(TaskModel).where(TaskModel.id == bindparam("task_id")).execution_options(populate_existing=True)


def _completed_before(session: Session, task_id: str) -> CaseEventModel | None:
    return session.scalar(select(CaseEventModel).where(
        CaseEventModel.task_id == task_id,
        CaseEventModel.type.in_(("task_completed", "task_cancelled", *ladder.DONE_EVENTS, *group_cases.DONE_EVENTS)))
        .order_by(CaseEventModel.seq.desc()).limit(1))


_NOT_YOURS = msg("task.not_yours")


def _task_or_gone(session: Session, task_id: str, actor: Actor | None = None) -> TaskModel:
    # Always read (not the identity map): under a case lock this must see what other commands committed.
    task = session.scalar(_FRESH_TASK, {"task_id": task_id})
    if task is not None:
        return task
    done = _completed_before(session, task_id)
    if done is not None:
        if actor is not None:
            # Who completed it and when is the case's history: only for those who may read the case (I1).
            access.ensure_can_read(session, actor, session.get(CaseModel, done.case_id), refusal=_NOT_YOURS)
        raise Conflict(msg("task.already_done", who=done.actor, at=done.at.isoformat()) if done.actor != "system"
                       else msg("task.already_done_by_process", at=done.at.isoformat()),
                       {"task_id": task_id, "by": done.actor, "at": done.at.isoformat()})
    raise NotFound(msg("task.not_found", task_id=task_id))


def get_task(session: Session, task_id: str, actor: Actor) -> TaskModel:
    """An open task of a case the actor may read (its page shows the case: engine/access.py); a read by an
    auditor or administrator is recorded. Raises NotFound, Conflict (already done), Forbidden."""
    task = _task_or_gone(session, task_id, actor)
    access.ensure_can_read(session, actor, task.case, "task", _NOT_YOURS)
    return task


def task_form(session: Session, task: TaskModel) -> list[dict]:
    if task.kind == "supervision":
        return ladder.follow_up_form(session, task)  # the 督办单 read-only, then the answer or the review
    if task.kind == group_cases.KIND:
        return group_cases.task_form(session, task)  # 群体性/高风险: the director's alert, a 会商研判
    if task.kind == expiry.KIND:
        return expiry.task_form(session, task)  # a party's window closing in a provisional year: confirm it
    version = load_version(session, task.case.process_version_id)
    # Options that depend on the case (jiefen.options, jiefen.parent_only_options) are built for its unit.
    return routing.case_form(session, task.case, (version.user_task(task.spec_name) or {}).get("form", []))


def _locked_task(session: Session, task_id: str, actor: Actor) -> tuple[CaseModel, TaskModel]:
    case = case_store.lock_case_of_task(session, task_id)
    if case is None:
        _task_or_gone(session, task_id, actor)  # raises Forbidden, Conflict (already done) or NotFound
        raise Conflict(msg("task.changed"), {"task_id": task_id})
    # Read the task under the lock: another command may have completed or claimed it meanwhile.
    return case, _task_or_gone(session, task_id, actor)


def claim_task(session: Session, task_id: str, actor: Actor) -> TaskModel:
    """Take a task so that only you work on it. Commits. Raises Forbidden, Conflict, NotFound.

    Who may not read the task's case learns nothing of it (Forbidden before any conflict: I1)."""
    case, task = _locked_task(session, task_id, actor)
    if task.assignee == actor.username:
        session.rollback()
        return task
    acts = task.assignee is None and can_act(session, actor, task)
    if not acts:
        access.ensure_can_read(session, actor, case, refusal=_NOT_YOURS)
    if task.assignee is not None:
        raise Conflict(msg("task.claimed_by", assignee=task.assignee),
                       {"assignee": task.assignee})
    if not acts:
        raise Forbidden(_NOT_YOURS)
    now = runtime.of(session).clock.now()
    if not task_index.claim(session, task.id, actor.username, now):
        raise Conflict(msg("task.claim_lost"))
    chain.append_event(session, case, "task_claimed", actor.username, now, {}, task.id, task.title)
    _commit(session)
    session.refresh(task)
    return task


def unclaim_task(session: Session, task_id: str, actor: Actor) -> TaskModel:
    """Give a claimed task back to its candidates. Commits. Raises Forbidden, Conflict, NotFound."""
    case, task = _locked_task(session, task_id, actor)
    if task.assignee != actor.username:
        access.ensure_can_read(session, actor, case, refusal=_NOT_YOURS)  # before a conflict tells of it (I1)
    if task.assignee is None:
        raise Conflict(msg("task.not_claimed"))
    if task.assignee != actor.username:
        if not actor.supervises(session.get(OrgUnitModel, task.org_unit_id).path):
            raise Forbidden(msg("task.claimed_by_other", assignee=task.assignee))
        _release(session, case, task, actor)  # a supervisor releasing someone's claim: task_released
        _commit(session)
        session.refresh(task)
        return task
    now = runtime.of(session).clock.now()
    previous = task.assignee
    task_index.unclaim(session, task.id)
    chain.append_event(session, case, "task_unclaimed", actor.username, now, {"was": previous}, task.id, task.title)
    _commit(session)
    session.refresh(task)
    return task


# ---------------------------------------------------------------- the director's hands (issue 18 §4)

URGE_NOTE_MAX = 500  # characters of a manual 催办's message


@dataclass
class Eligible:
    """A user who may be given a task (reassign_task): holds one of its (role, org unit) candidates."""

    username: str
    display_name: str | None


def _ensure_oversees(session: Session, actor: Actor, case: CaseModel, task: TaskModel) -> None:
    """Supervisors and directors act on the tasks of their unit and the units below it (the supervised task
    list's rule: the task's unit under a supervisory grant's unit); anyone else gets Forbidden."""
    if not actor.supervises(session.get(OrgUnitModel, task.org_unit_id).path):
        raise Forbidden(msg("task.not_overseen"))


def _eligible(session: Session, task_id: str) -> list[Eligible]:
    pairs = session.execute(select(TaskCandidateModel.role, TaskCandidateModel.org_unit_id)
                            .where(TaskCandidateModel.task_id == task_id)).all()
    if not pairs:
        return []
    holds = or_(*[and_(RoleModel.name == role, MembershipModel.org_unit_id == org_id) for role, org_id in pairs])
    rows = session.execute(select(UserModel.username, UserModel.display_name).distinct()
                           .join(MembershipModel, MembershipModel.user_id == UserModel.id)
                           .join(RoleModel, RoleModel.id == MembershipModel.role_id)
                           .where(UserModel.active.is_(True), holds)
                           .order_by(UserModel.display_name, UserModel.username)).all()
    return [Eligible(username, display_name) for username, display_name in rows]


def eligible_assignees(session: Session, task_id: str, actor: Actor) -> list[Eligible]:
    """Who the actor may give the task to: active users holding one of its roles at its unit (its candidate
    pairs), by display name, the present holder left out. Read-only. Raises NotFound, Conflict (done),
    Forbidden (not a supervisor or director over the task's unit)."""
    task = _task_or_gone(session, task_id, actor)
    access.ensure_can_read(session, actor, task.case, refusal=_NOT_YOURS)
    _ensure_oversees(session, actor, task.case, task)
    return [e for e in _eligible(session, task_id) if e.username != task.assignee]


def may_oversee(session: Session, actor: Actor, task: TaskModel) -> bool:
    """The actor may reassign, release and 催办 this task (the buttons a page shows). Read-only."""
    return actor.supervises(session.get(OrgUnitModel, task.org_unit_id).path)


def reassign_task(session: Session, task_id: str, username: str, actor: Actor) -> TaskModel:
    """改派: give a task to another user holding its role at its unit, claimed or not. Commits; the history
    gets a task_reassigned event (from, to). Raises NotFound, Conflict (done; already theirs), Forbidden (not
    over the task's unit), InvalidData (the user does not hold the task's role there)."""
    case, task = _locked_task(session, task_id, actor)
    access.ensure_can_read(session, actor, case, refusal=_NOT_YOURS)
    _ensure_oversees(session, actor, case, task)
    username = (username or "").strip()
    if not username:
        raise InvalidData(msg("task.reassign_to_whom"), {"username": [msg("field.required")]})
    if username == task.assignee:
        raise Conflict(msg("task.already_assigned", assignee=username), {"assignee": username})
    if username not in {e.username for e in _eligible(session, task.id)}:
        raise InvalidData(msg("task.reassign_ineligible", username=username),
                          {"username": [msg("field.not_eligible_assignee")]})
    now = runtime.of(session).clock.now()
    previous = task.assignee
    task_index.reassign(session, task.id, username, now)
    chain.append_event(session, case, "task_reassigned", actor.username, now, {"was": previous, "to": username},
                       task.id, task.title)
    _commit(session)
    session.refresh(task)
    log.info("task %s of case %s reassigned by %s", task.id, case.id, actor.username)
    return task


def release_task(session: Session, task_id: str, actor: Actor) -> TaskModel:
    """Release someone's claim (back to the pool of the task's candidates), for a supervisor or director over
    the task's unit. Commits; the history gets a task_released event (was). Raises NotFound, Conflict (done; not
    claimed), Forbidden."""
    case, task = _locked_task(session, task_id, actor)
    access.ensure_can_read(session, actor, case, refusal=_NOT_YOURS)
    _ensure_oversees(session, actor, case, task)
    if task.assignee is None:
        raise Conflict(msg("task.not_claimed"))
    _release(session, case, task, actor)
    _commit(session)
    session.refresh(task)
    return task


def _release(session: Session, case: CaseModel, task: TaskModel, actor: Actor) -> None:
    now = runtime.of(session).clock.now()
    previous = task.assignee
    task_index.unclaim(session, task.id)
    chain.append_event(session, case, "task_released", actor.username, now, {"was": previous}, task.id, task.title)
    log.info("task %s of case %s released by %s", task.id, case.id, actor.username)


def urge_task(session: Session, task_id: str, note: str, actor: Actor) -> TaskModel:
    """催办 by hand: a supervisor or director over the task's unit tells its holder (or, unclaimed, its
    candidates) to get on with it. The note stays on the task (its page and a marker in the list) and is a
    task_urged event. Commits. Raises NotFound, Conflict (done), Forbidden, InvalidData (no note; too long)."""
    case, task = _locked_task(session, task_id, actor)
    access.ensure_can_read(session, actor, case, refusal=_NOT_YOURS)
    _ensure_oversees(session, actor, case, task)
    note = (note or "").strip()
    if not note:
        raise InvalidData(msg("task.urge_note_required"), {"note": [msg("field.required")]})
    if len(note) > URGE_NOTE_MAX:
        raise InvalidData(msg("task.urge_note_too_long", max=URGE_NOTE_MAX),
                          {"note": [msg("field.at_most", max=URGE_NOTE_MAX)]})
    now = runtime.of(session).clock.now()
    task_index.urge(session, task.id, actor.username, note, now)
    chain.append_event(session, case, "task_urged", actor.username, now, {"note": note, "to": task.assignee},
                       task.id, task.title)
    _commit(session)
    session.refresh(task)
    log.info("task %s of case %s urged by %s", task.id, case.id, actor.username)
    return task


def complete_task(session: Session, task_id: str, data: dict | None, actor: Actor,
                  lock_version: int | None = None) -> CaseModel:
    """Complete a task with form data and run the case on to its next wait state. Commits.

    Raises NotFound, Forbidden (not a candidate / claimed by another), Conflict (already done, case changed),
    InvalidData (per-field messages), TaskFailed (the process failed after the task)."""
    case = case_store.lock_case_of_task(session, task_id)
    rows, candidates = task_index.task_rows_of(session, case.id, task_id) if case is not None else ({}, [])
    task = rows.get(task_id)  # a Core row: read under the lock, it is what other commands committed
    if task is None:
        _task_or_gone(session, task_id, actor)  # raises Forbidden, Conflict (already done) or NotFound
        raise Conflict(msg("task.changed"), {"task_id": task_id})
    acts = can_act(session, actor, task, candidates)
    if not acts:
        access.ensure_can_read(session, actor, case, refusal=_NOT_YOURS)  # before a conflict tells of it (I1)
    if lock_version is not None and lock_version != case.lock_version:
        raise Conflict(msg("case.stale"),
                       {"lock_version": case.lock_version})
    if not acts:
        if task.assignee is not None:
            raise Forbidden(msg("task.taken_by", assignee=task.assignee))
        raise Forbidden(_NOT_YOURS)
    now = runtime.of(session).clock.now()
    if task.kind == "supervision":
        ladder.answer(session, case, task, actor.username, now, data or {})
        _commit(session)
        return case
    if task.kind == group_cases.KIND:
        group_cases.answer(session, case, task, actor.username, now, data or {})
        _commit(session)
        return case
    if task.kind == expiry.KIND:
        expiry.confirm(session, case, task, actor.username, now, data or {})
        _commit(session)
        return case
    version = load_version(session, case.process_version_id)
    schema = version.schemas.get(task.spec_name) or forms.NO_FIELDS
    values = forms.validate_form(schema, data or {}, runtime.of(session))
    routing.check_case_choices(session, case, (version.user_task(task.spec_name) or {}).get("form", []), values)

    before = dict(case.data or {})
    casework.execute(session, case, actor.username, now, casework.completion(task_id, values), "task_completed",
                     task_rows=rows)
    group_cases.after_command(session, case, before, actor.username, now)  # 群体性/高风险: tell the director
    _commit(session)
    log.info("task %s of case %s completed by %s", task_id, case.id, actor.username)
    return case


def save_draft(session: Session, task_id: str, data: dict | None, actor: Actor) -> TaskDraftModel:
    """保存草稿: keep a task form's unfinished entry for its holder, apart from the case data (one row per task,
    replaced by each save; it goes with the task when the task completes). Only the claimant saves: the claim
    keeps others from overwriting it. Values are kept as entered (the form's rules apply on completion), but
    only for the form's own fields and within the limits all case data obeys. Commits.

    Raises NotFound, Forbidden (not the claimant), Conflict (already done; not claimed yet), InvalidData."""
    case, task = _locked_task(session, task_id, actor)
    if task.assignee != actor.username:
        access.ensure_can_read(session, actor, case, refusal=_NOT_YOURS)  # before a conflict tells of it (I1)
        if task.assignee is None:
            raise Conflict(msg("task.draft_claim_first"))
        raise Forbidden(msg("task.claimed_by_other", assignee=task.assignee))
    if not isinstance(data, dict):
        raise InvalidData(msg("form.not_object"), {"data": [msg("field.must_be_object")]})
    rt = runtime.of(session)
    case_data.check_data(data, rt.settings.data_limits, rt.helpers)
    editable = {f["id"] for f in task_form(session, task) if not f.get("readonly")}
    problems = {key: [msg("form.unknown_field")] for key in data if key not in editable}
    problems.update({key: [msg("form.draft_value")] for key, value in data.items()
                     if key in editable and not isinstance(value, (str, int, float, bool, type(None)))})
    if problems:
        raise InvalidData(msg("form.invalid"), problems)
    draft = session.get(TaskDraftModel, task_id) or TaskDraftModel(task_id=task_id)
    draft.username, draft.data, draft.saved_at = actor.username, dict(data), rt.clock.now()
    session.add(draft)
    _commit(session)
    log.info("draft of task %s saved by %s", task_id, actor.username)
    return draft


def draft_of(session: Session, task: TaskModel, actor: Actor) -> TaskDraftModel | None:
    """The actor's own saved draft of a task they hold, else None (a draft is its writer's, while they hold
    the task). Read-only."""
    draft = session.get(TaskDraftModel, task.id)
    if draft is None or draft.username != actor.username or task.assignee != actor.username:
        return None
    return draft


def _commit(session: Session) -> None:
    try:
        session.commit()
    except (StaleDataError, IntegrityError) as exc:
        session.rollback()
        raise Conflict(msg("case.changed_retry")) from exc


@dataclass
class CompletedTask:
    """A task the actor completed (a task_completed event), for the 已办 list."""

    case_id: int
    case_code: str
    process_id: str
    task_id: str | None
    task_name: str | None
    completed_at: datetime


@dataclass
class CompletedPage:
    items: list[CompletedTask]
    total: int
    more: bool = False  # like TaskPage; this list counts exactly


def completed_by(session: Session, actor: Actor, page: int = 1, per_page: int = 50) -> CompletedPage:
    """Tasks this actor completed (task_completed events by them), newest first. Read-only."""
    cond = and_(CaseEventModel.type.in_(("task_completed", *ladder.DONE_EVENTS, *group_cases.DONE_EVENTS)),
                CaseEventModel.actor == actor.username)
    total = session.scalar(select(func.count()).select_from(CaseEventModel).where(cond)) or 0
    page, per_page = task_list.page_bounds(page, per_page)
    rows = session.execute(
        select(CaseEventModel.case_id, CaseModel.code, CaseModel.process_id, CaseEventModel.task_id,
               CaseEventModel.task_name, CaseEventModel.at)
        .join(CaseModel, CaseModel.id == CaseEventModel.case_id).where(cond)
        .order_by(CaseEventModel.at.desc(), CaseEventModel.id.desc())
        .offset((page - 1) * per_page).limit(per_page)).all()
    return CompletedPage([CompletedTask(*row) for row in rows], total)


def check_task_data(session: Session, process_id: str, spec_name: str, data: dict) -> dict:
    """Validate form data for a user task of the newest version of a process, changing nothing.

    Lets a caller check a start form before it opens a case. Raises NotFound (process), InvalidData."""
    version = active_loaded_version(session, process_id)
    schema = version.schemas.get(spec_name) or forms.NO_FIELDS
    return forms.validate_form(schema, data or {}, runtime.of(session))
