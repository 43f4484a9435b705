"""The task list's query builder: the work queue ("mine": one index walk per role and org unit the actor holds,
over task_candidates) and the oversight lists ("supervised", "all": one walk over tasks), each statement
built once per shape and cached. services/tasks.py.list_tasks is its public face.

Reads only; task_index.py writes what it reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, and_, bindparam, distinct, exists, func, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.case_codes import valid_code
from engine.errors import InvalidData
from engine.messages import msg
from engine.models import NO_DUE_DATE, CaseModel, OrgUnitModel, TaskCandidateModel, TaskModel

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
# "priority > 0" as the partial indexes ix_*_flagged say it: a literal, so SQLite and PostgreSQL's generic
# plans can match the index's predicate (a bound parameter would hide it).
_ZERO = literal_column("0")

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
        # 群体性 / 高风险 first: beside the queue's own walks, a walk of its flagged rows (ix_task_candidates_flagged,
        # a partial index of the few flagged rows) in list order; a flagged task of the page is within its top.
        for level in (*(WARNING_LEVELS if sort == "warning" else (None,)), "flagged"):
            if level == "flagged" and not limited:
                continue  # the count: the queue's own walks hold every task
            stmt = select(C.task_id.label("task_id"), C.priority.label("p"),
                          *[k.label(n) for k, n in zip(keys, names)]).where(
                C.role == bindparam(f"role_{i}"), C.org_unit_id == bindparam(f"org_{i}"))
            if level == "flagged":
                stmt = stmt.where(C.priority > _ZERO)
            elif level is not None:
                stmt = stmt.where(C.warning_level == level)
            if shape[0]:
                stmt = stmt.where(C.due_sort < bindparam("now"))
            stmt = _filtered_candidates(stmt, shape)
            if limited:
                if level == "flagged" and sort == "warning":
                    order = [keys[0].desc(), keys[1], keys[2]]
                else:
                    order = [k.desc() if descending else k for k in keys]
                stmt = stmt.order_by(*order).limit(bindparam("walk"))
            branches.append(stmt)
    assigned = select(T.id.label("task_id"), T.priority.label("p"),
                      *[_task_side(k).label(n) for k, n in zip(keys, names)]).where(
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
    page = (select(merged.c.task_id).group_by(merged.c.task_id, merged.c.p, *cols)
            .order_by(merged.c.p.desc(), *order).offset(bindparam("offset")).limit(bindparam("per_page")))
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
    page = stmt.order_by(T.priority.desc(), *order).offset(bindparam("offset")).limit(bindparam("per_page"))
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


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """(page, per_page) as a list serves them: page from 1, 1 to 200 a page. Raises InvalidData past MAX_PAGE."""
    if page > MAX_PAGE:
        raise InvalidData(msg("tasks.page_too_high", max_page=MAX_PAGE), {"page": [msg("field.at_most", max=MAX_PAGE)]})
    return max(page, 1), min(max(per_page, 1), 200)


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
    # 群体性 / 高风险 first: beside the list's own walk, a walk of the flagged tasks (ix_tasks_flagged, a partial
    # index of the few flagged rows) in list order; a flagged task of the page is within its first
    # offset + per_page, an unflagged one within the own walk's.
    flagged = stmt.where(T.priority > _ZERO)
    if sort == "warning":
        # A task of the page is within the first offset + per_page of its level's walk.
        walks = [select(stmt.add_columns(T.priority, T.warning_level, T.due_sort).where(T.warning_level == level)
                        .order_by(T.due_sort, T.id).limit(_WALK).subquery())
                 for level in WARNING_LEVELS]
        walks.append(select(flagged.add_columns(T.priority, T.warning_level, T.due_sort)
                            .order_by(T.warning_level.desc(), T.due_sort, T.id).limit(_WALK).subquery()))
        merged = union_all(*walks).subquery()
        page = (select(merged.c.id)
                .group_by(merged.c.id, merged.c.priority, merged.c.warning_level, merged.c.due_sort)
                .order_by(merged.c.priority.desc(), merged.c.warning_level.desc(), merged.c.due_sort, merged.c.id)
                .offset(_OFFSET).limit(_PER_PAGE))
    else:
        order = _TASK_ORDER[sort]
        sort_cols = [T.due_sort, T.created_at] if sort.endswith("due") else [T.created_at]
        walks = [select(s.add_columns(T.priority, *sort_cols).order_by(*order).limit(_WALK).subquery())
                 for s in (stmt, flagged)]
        merged = union_all(*walks).subquery()
        merged_order = [merged.c[c.key].desc() if sort.startswith("-") else merged.c[c.key] for c in sort_cols]
        page = (select(merged.c.id).group_by(merged.c.id, merged.c.priority, *[merged.c[c.key] for c in sort_cols])
                .order_by(merged.c.priority.desc(), *merged_order, merged.c.id)
                .offset(_OFFSET).limit(_PER_PAGE))
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
