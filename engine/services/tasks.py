"""Human tasks: the per-role task list, claim / unclaim, and complete with validated form data."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, and_, bindparam, distinct, exists, func, or_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from engine import access, case_store, casework, chain, forms, ladder, runtime, task_index
from engine.access import can_act  # noqa: F401 (public here)
from engine.actors import SUPERVISORY_ROLES, Actor
from engine.case_codes import valid_code
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.messages import msg
from engine.models import NO_DUE_DATE, CaseEventModel, CaseModel, OrgUnitModel, TaskCandidateModel, TaskModel
from engine.versions import latest_loaded_version, load_version

log = logging.getLogger(__name__)

SUPERVISION_FORM = ladder.ANSWER_FORM  # a supervision follow-up task's form (书面答复)

# A list counts its tasks up to this many; beyond it the total reads "more than" (TaskPage.more). Counting
# every one of 30,000 open tasks costs more than the page itself, and nobody pages that far.
COUNT_CAP = 1000
# The deepest page a list serves: nobody pages further, and a larger page number would make an OFFSET beyond
# the database's integer (SQLite OverflowError, PostgreSQL "bigint out of range").
MAX_PAGE = 100_000


@dataclass
class TaskPage:
    items: list[TaskModel]
    total: int  # exact when more is False, else COUNT_CAP
    more: bool = False  # there are more than COUNT_CAP matching tasks


C, T, K = TaskCandidateModel.__table__.c, TaskModel.__table__.c, CaseModel.__table__.c

# Sort keys per sort order, as columns of task_candidates (their index order, so the walk needs no sort) and of
# tasks (for the few tasks assigned to the user, which need no index). "warning" walks each level apart.
SORTS = {
    "due": ((C.due_sort, C.created_at, C.task_id), False),
    "-due": ((C.due_sort, C.created_at, C.task_id), True),
    "created": ((C.created_at, C.task_id), False),
    "-created": ((C.created_at, C.task_id), True),
    "warning": ((C.warning_level, C.due_sort, C.task_id), False),
}
WARNING_LEVELS = (4, 3, 2, 1, 0)


def _task_side(column):
    """The tasks-table expression for a candidate sort column."""
    if column is C.due_sort:
        return func.coalesce(T.due_at, NO_DUE_DATE)
    return {"created_at": T.created_at, "task_id": T.id, "warning_level": T.warning_level}[column.key]


def _search_kind(q: str | None) -> str | None:
    """How a search is run: None (no search), "code" (q is a whole valid case code: one indexed look-up of
    that case) or "like" (a substring of the case code or the task title)."""
    q = (q or "").strip()
    if not q:
        return None
    return "code" if valid_code(q) else "like"


def _shape(filters: dict) -> tuple:
    """Which filters a list call uses (the statement's shape): (overdue, assigned, process, category, search)."""
    return (bool(filters["overdue"]), filters["assigned"], bool(filters["process_id"]), bool(filters["category"]),
            _search_kind(filters["q"]))


def _filter_values(filters: dict) -> dict:
    """The bind parameters the filter conditions read."""
    q = (filters["q"] or "").strip()
    return {"username": filters["username"], "process_id": filters["process_id"], "category": filters["category"],
            "q_like": f"%{q}%", "code": q}


def _filtered(stmt, task_col, shape: tuple, joined_task: bool):
    """Apply the list filters present in `shape` to a branch over tasks whose task id is `task_col` (joining
    tasks and cases as needed); their values are bind parameters (_filter_values). Overdue is the caller's:
    it reads a different column per branch."""
    _overdue, assigned, process, category, search = shape
    if (assigned or process or category or search) and not joined_task:
        stmt = stmt.join(TaskModel.__table__, T.id == task_col)
    if assigned == "me":
        stmt = stmt.where(T.assignee == bindparam("username"))
    elif assigned == "none":
        stmt = stmt.where(T.assignee.is_(None))
    if process:
        stmt = stmt.where(T.process_id == bindparam("process_id"))
    if category or search:
        stmt = stmt.join(CaseModel.__table__, K.id == T.case_id)
    if category:
        stmt = stmt.where(K.category == bindparam("category"))
    if search == "code":
        stmt = stmt.where(K.code == bindparam("code"))
    elif search:
        stmt = stmt.where(or_(K.code.like(bindparam("q_like")), T.title.like(bindparam("q_like"))))
    return stmt


def _filtered_candidates(stmt, shape: tuple):
    """The same filters on a walk over task_candidates, read from the row's own copies (no join)."""
    _overdue, assigned, process, category, search = shape
    if assigned == "me":
        stmt = stmt.where(C.assignee == bindparam("username"))
    elif assigned == "none":
        stmt = stmt.where(C.assignee.is_(None))
    if process:
        stmt = stmt.where(C.process_id == bindparam("process_id"))
    if category:
        stmt = stmt.where(C.category == bindparam("category"))
    if search:  # a substring ("like"); a whole case code never walks (_build_mine_by_code)
        stmt = stmt.where(or_(C.case_code.like(bindparam("q_like")), C.title.like(bindparam("q_like"))))
    return stmt


def _mine_branches(grants: int, sort: str, shape: tuple, limited: bool) -> list:
    """One SELECT per (role, org unit) the actor holds (bind parameters role_i, org_i), walking its index in
    list order up to LIMIT :walk, plus one over the tasks assigned to the actor. Each yields (task_id, keys)."""
    keys, descending = SORTS[sort]
    names = [f"k{i}" for i in range(len(keys))]
    branches = []
    # "Assigned to me": the assigned branch below has every such task; a candidate walk would read the
    # actor's whole queue to find the few claimed ones.
    for i in range(grants if shape[1] != "me" else 0):
        for level in (WARNING_LEVELS if sort == "warning" else (None,)):
            stmt = select(C.task_id.label("task_id"), *[k.label(n) for k, n in zip(keys, names)]).where(
                C.role == bindparam(f"role_{i}"), C.org_unit_id == bindparam(f"org_{i}"))
            if level is not None:
                stmt = stmt.where(C.warning_level == level)
            if shape[0]:
                stmt = stmt.where(C.due_sort < bindparam("now"))
            stmt = _filtered_candidates(stmt, shape)
            if limited:
                stmt = stmt.order_by(*[k.desc() if descending else k for k in keys]).limit(bindparam("walk"))
            branches.append(stmt)
    assigned = select(T.id.label("task_id"), *[_task_side(k).label(n) for k, n in zip(keys, names)]).where(
        T.assignee == bindparam("username"))
    if shape[0]:
        assigned = assigned.where(T.due_at < bindparam("now"))
    branches.append(_filtered(assigned, T.id, shape, joined_task=True))
    return branches


def _build_mine(grants: int, sort: str, shape: tuple):
    if shape[4] == "code":
        return _build_mine_by_code(grants, sort, shape)
    keys, descending = SORTS[sort]
    # A task of the global top (offset + per_page) is within the top (offset + per_page) of every walk it is
    # in, so each walk stops there (:walk); the merge sorts at most that many rows per walk.
    merged = union_all(*[select(b.subquery()) for b in _mine_branches(grants, sort, shape, True)]).subquery()
    cols = [merged.c[f"k{i}"] for i in range(len(keys))]
    if sort == "warning":
        order = [cols[0].desc(), cols[1], cols[2]]
    else:
        order = [c.desc() if descending else c for c in cols]
    page = (select(merged.c.task_id).group_by(merged.c.task_id, *cols).order_by(*order)
            .offset(bindparam("offset")).limit(bindparam("per_page")))
    # The count reads at most :cap rows per walk: if one walk has that many the total is "more", else every
    # walk was read whole and the distinct count is exact.
    walks = union_all(*[select(b.with_only_columns(b.selected_columns[0]).limit(bindparam("cap")).subquery())
                        for b in _mine_branches(grants, "created", shape, False)]).subquery()
    count = select(func.count(distinct(walks.c.task_id)))
    return page, count


def _build_mine_by_code(grants: int, sort: str, shape: tuple):
    """A whole case code: that case's open tasks (unique index on cases.code, then tasks by case) that the
    actor may act on — assigned to them or a candidate task of one of their grants — sorted as the walks."""
    keys, descending = SORTS[sort]
    grant = [and_(C.role == bindparam(f"role_{i}"), C.org_unit_id == bindparam(f"org_{i}")) for i in range(grants)]
    visible = T.assignee == bindparam("username")
    if grant:
        visible = or_(visible, exists().where(C.task_id == T.id, or_(*grant)))
    stmt = select(T.id).where(visible)
    if shape[0]:
        stmt = stmt.where(T.due_at < bindparam("now"))
    stmt = _filtered(stmt, T.id, shape, joined_task=True)
    sides = [_task_side(k) for k in keys]
    if sort == "warning":
        order = [sides[0].desc(), sides[1], sides[2]]
    else:
        order = [c.desc() if descending else c for c in sides]
    page = stmt.order_by(*order).offset(bindparam("offset")).limit(bindparam("per_page"))
    count = select(func.count()).select_from(stmt.limit(bindparam("cap")).subquery())
    return page, count


# Built statements by (grants, sort, which filters): building and keying a union of a dozen SELECTs costs
# more than running it, so each shape is built once; values travel as bind parameters.
_MINE_STATEMENTS: dict[tuple, tuple] = {}


def _mine_page(session: Session, actor: Actor, filters: dict, sort: str, now: datetime, offset: int,
               per_page: int) -> tuple[list[str], int, bool]:
    """(task ids of the page, total up to COUNT_CAP, more than that?) for scope "mine"."""
    grants = list(dict.fromkeys((g.role, g.org_unit_id) for g in actor.grants))
    shape = _shape(filters)
    key = (len(grants), sort, shape)
    statements = _statements(_MINE_STATEMENTS, key, _build_mine)
    params = {**_filter_values(filters), "now": now, "walk": offset + per_page, "offset": offset,
              "per_page": per_page, "cap": COUNT_CAP + 1}
    for i, (role, org_id) in enumerate(grants):
        params[f"role_{i}"], params[f"org_{i}"] = role, org_id
    return _run_page(session, statements, params, offset, per_page)


def _statements(cache: dict, key: tuple, build) -> tuple:
    """The (page, count) statements of one list shape (`key` = build's arguments), built once. The cache is
    bounded: a key holds the number of grants or units, so a few users with many grants add shapes."""
    statements = cache.get(key)
    if statements is None:
        if len(cache) > 500:
            cache.clear()
        statements = cache[key] = build(*key)
    return statements


def _run_page(session: Session, statements: tuple, params: dict, offset: int,
              per_page: int) -> tuple[list[str], int, bool]:
    """(task ids of the page, total up to COUNT_CAP, more than that?)."""
    page, count = statements
    ids = list(session.scalars(page, params))
    if len(ids) < per_page and (ids or not offset):
        # A page that is not full ends the list: no walk reached its LIMIT (a walk that did holds a full page
        # by itself), so every match was read and the total is known without counting. A selective filter
        # (a code search) then reads the queue once instead of twice.
        counted = offset + len(ids)
    else:
        counted = session.scalar(count, params)
    return ids, min(counted, COUNT_CAP), counted > COUNT_CAP


def _page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """(page, per_page) as a list serves them: page from 1, 1 to 200 a page. Raises InvalidData past MAX_PAGE."""
    if page > MAX_PAGE:
        raise InvalidData(msg("tasks.page_too_high", max_page=MAX_PAGE), {"page": [msg("field.at_most", max=MAX_PAGE)]})
    return max(page, 1), min(max(per_page, 1), 200)


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
    page, per_page = _page_bounds(page, per_page)
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


# Order of the supervised and all lists, on the tasks table. "due" and "created" follow ix_tasks_due_sort and
# ix_tasks_created, so the database walks the index and stops at the page; the descending sorts walk them
# backwards (the tie on task id stays ascending: only rows tied on every other key are sorted). "warning"
# (level descending, then due ascending) walks ix_tasks_warning once per level and merges the walks.
_TASK_ORDER = {"due": (T.due_sort, T.created_at, T.id), "-due": (T.due_sort.desc(), T.created_at.desc(), T.id),
               "created": (T.created_at, T.id), "-created": (T.created_at.desc(), T.id)}


# LIMIT and OFFSET of these walks are rendered into the SQL (literal_execute; the statement stays compiled
# once): PostgreSQL's generic plan for a prepared statement, blind to a LIMIT parameter, sorted the whole
# subtree instead of walking the index (313 ms against 0.2 ms for a county supervisor over 436,827 tasks).
_WALK, _OFFSET, _PER_PAGE = (bindparam(name, type_=Integer, literal_execute=True)
                             for name in ("walk", "offset", "per_page"))


def _build_over_tasks(units: int, sort: str, shape: tuple, hidden: int = 0):
    """(page, count) for scope "supervised" (units > 0: the subtrees of bind parameters path_i) or "all"
    (without the processes of bind parameters hidden_i)."""
    def matching(stmt):
        if shape[0]:
            stmt = stmt.where(T.due_sort < bindparam("now"))
        if hidden:
            stmt = stmt.where(T.process_id.not_in([bindparam(f"hidden_{i}") for i in range(hidden)]))
        return _filtered(stmt, T.id, shape, joined_task=True)

    stmt = select(T.id)
    if units:
        under = or_(*[OrgUnitModel.path.startswith(bindparam(f"path_{i}")) for i in range(units)])
        # The walks check the unit on the index entry (each walk index ends with org_unit_id).
        stmt = stmt.where(T.org_unit_id.in_(select(OrgUnitModel.id).where(under)))
    stmt = matching(stmt)
    # The count goes unit by unit instead (ix_tasks_org_due): a walk in list order over a small subtree
    # would read most of the index to find COUNT_CAP + 1 of its tasks.
    counted = (matching(select(T.id).select_from(OrgUnitModel.__table__)
                        .join(TaskModel.__table__, T.org_unit_id == OrgUnitModel.id).where(under))
               if units else stmt)
    if sort == "warning":
        # A task of the page is within the first offset + per_page of its level's walk.
        walks = [select(stmt.add_columns(T.warning_level, T.due_sort).where(T.warning_level == level)
                        .order_by(T.due_sort, T.id).limit(_WALK).subquery())
                 for level in WARNING_LEVELS]
        merged = union_all(*walks).subquery()
        page = (select(merged.c.id).order_by(merged.c.warning_level.desc(), merged.c.due_sort, merged.c.id)
                .offset(_OFFSET).limit(_PER_PAGE))
    else:
        page = stmt.order_by(*_TASK_ORDER[sort]).offset(_OFFSET).limit(_PER_PAGE)
    # Reads at most COUNT_CAP + 1 matching rows, in whatever order is cheapest.
    count = select(func.count()).select_from(counted.limit(bindparam("cap")).subquery())
    return page, count


_OVER_TASKS_STATEMENTS: dict[tuple, tuple] = {}


def _page_over_tasks(session: Session, paths: list[str], filters: dict, sort: str, now: datetime, offset: int,
                     per_page: int, hidden: list[str] = ()) -> tuple[list[str], int, bool]:
    """Scopes "supervised" (tasks in the units under `paths`) and "all" (no paths): a walk over the tasks
    table in list order that stops after offset + per_page matches (these lists are for supervisors and
    auditors looking across units, not the per-role work queue)."""
    shape = _shape(filters)
    key = (len(paths), sort, shape, len(hidden))
    statements = _statements(_OVER_TASKS_STATEMENTS, key, _build_over_tasks)
    params = {**_filter_values(filters), "now": now, "offset": offset, "per_page": per_page, "cap": COUNT_CAP + 1,
              "walk": offset + per_page}
    for i, path in enumerate(paths):
        params[f"path_{i}"] = path
    for i, process_id in enumerate(hidden):
        params[f"hidden_{i}"] = process_id
    return _run_page(session, statements, params, offset, per_page)


_FRESH_TASK = select(TaskModel).where(TaskModel.id == bindparam("task_id")).execution_options(populate_existing=True)


def _completed_before(session: Session, task_id: str) -> CaseEventModel | None:
    return session.scalar(select(CaseEventModel).where(
        CaseEventModel.task_id == task_id,
        CaseEventModel.type.in_(("task_completed", "task_cancelled", "supervision_answered")))
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
        return SUPERVISION_FORM
    version = load_version(session, task.case.process_version_id)
    return (version.user_task(task.spec_name) or {}).get("form", [])


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
    if task.assignee != actor.username and not actor.supervises(session.get(OrgUnitModel, task.org_unit_id).path):
        raise Forbidden(msg("task.claimed_by_other", assignee=task.assignee))
    now = runtime.of(session).clock.now()
    previous = task.assignee
    task_index.unclaim(session, task.id)
    chain.append_event(session, case, "task_unclaimed", actor.username, now, {"was": previous}, task.id, task.title)
    _commit(session)
    session.refresh(task)
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
    version = load_version(session, case.process_version_id)
    schema = version.schemas.get(task.spec_name) or forms.NO_FIELDS
    values = forms.validate_form(schema, data or {}, runtime.of(session))

    casework.execute(session, case, actor.username, now, casework.completion(task_id, values), "task_completed",
                     task_rows=rows)
    _commit(session)
    log.info("task %s of case %s completed by %s", task_id, case.id, actor.username)
    return case


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
    cond = and_(CaseEventModel.type.in_(("task_completed", "supervision_answered")),
                CaseEventModel.actor == actor.username)
    total = session.scalar(select(func.count()).select_from(CaseEventModel).where(cond)) or 0
    page, per_page = _page_bounds(page, per_page)
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
    version = latest_loaded_version(session, process_id)
    schema = version.schemas.get(spec_name) or forms.NO_FIELDS
    return forms.validate_form(schema, data or {}, runtime.of(session))
