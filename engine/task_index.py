"""The task index: the tasks table and its denormalised copy for the task list (task_candidates).

The one owner of both tables' writes: rows opened and closed with the workflow's human tasks (sync_tasks),
the list's copies of the assignee (claim/unclaim), the warning level (the supervision ladder) and the case's
category, and the supervision follow-up tasks. tests/unit/test_import_graph.py fails if another module
writes task_candidates.

Invariants: every open human task of an open case has one tasks row and a task_candidates row per (role, org
unit) that may act on it; each candidate row carries the task's assignee, due_sort, warning_level, created_at,
process id, case code, category and title as the tasks and cases rows have them; a closed case has no rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from engine import routing, runtime
from engine.fastpath import send
from engine.models import NO_DUE_DATE, TaskCandidateModel, TaskModel
from engine.staff_text import staff_text

# Hot-path statements are built once: SQLAlchemy memoizes a statement's cache key, so reusing the object
# skips rebuilding and re-keying it on every command (bench/README.md, "Profile").
TASKS, CANDIDATES = TaskModel.__table__, TaskCandidateModel.__table__
_INSERT_TASKS = insert(TASKS).inline()
_INSERT_CANDIDATES = insert(CANDIDATES).inline()
_OPEN_TASK_ROWS = select(TASKS.c.id, TASKS.c.kind, TASKS.c.title, TASKS.c.due_at, TASKS.c.created_at,
                         TASKS.c.warning_level, TASKS.c.spec_name).where(TASKS.c.case_id == bindparam("case_id"),
                                                      TASKS.c.kind == "bpmn")
# Every task row of a case, with the candidate pairs of one of them (NULL on the other rows).
_CASE_TASK_ROWS = (select(TASKS, CANDIDATES.c.role.label("candidate_role"),
                          CANDIDATES.c.org_unit_id.label("candidate_org_unit_id"))
                   .select_from(TASKS.outerjoin(CANDIDATES, (CANDIDATES.c.task_id == TASKS.c.id)
                                                & (TASKS.c.id == bindparam("task_id"))))
                   .where(TASKS.c.case_id == bindparam("case_id")))
# One row per parameter set (executemany): an expanding IN list would be re-rendered on every command.
_DELETE_TASK = delete(TASKS).where(TASKS.c.id == bindparam("task_id"))
_DELETE_CASE_TASKS = delete(TASKS).where(TASKS.c.case_id == bindparam("case_id"))
_SET_CANDIDATE_CATEGORY = (update(CANDIDATES).where(CANDIDATES.c.task_id.in_(
    select(TASKS.c.id).where(TASKS.c.case_id == bindparam("case_id")))).values(category=bindparam("new_category")))


@dataclass
class NewTask:
    """A task row written by this command (the fields the history and the ladder need)."""

    id: str
    kind: str
    title: str
    roles: list[str]
    due_at: datetime | None
    due_basis: str | None
    created_at: datetime
    warning_level: int = 0
    spec_name: str = ""  # the user task's id: its jiefen.ladder property (engine/ladder.py)
    org_unit_id: int | None = None  # the unit holding it (its first candidate's; the statistics' departments)
    assignee: str | None = None  # assigned as it opened (camunda:assignee, or 首问负责 for `role@first`)


def sync_tasks(ctx, now_open: dict, write: bool = True) -> tuple[list[NewTask], list]:
    """Make the case's task rows match its open human tasks: (tasks opened now, all open task rows).

    `ctx`: the command in flight (casework.Ctx); the writes are buffered in ctx.writes.

    With write=False (the case is closing) nothing is inserted, but the opened tasks are still reported."""
    session, case = ctx.session, ctx.case
    if ctx.new_case:
        existing = {}
    elif ctx.task_rows is not None:
        existing = {task_id: row for task_id, row in ctx.task_rows.items() if row.kind == "bpmn"}
    else:
        existing = {row.id: row for row in send(session.connection(), _OPEN_TASK_ROWS, {"case_id": case.id})}
    gone = [task_id for task_id in existing if task_id not in now_open]
    # tasks that had reached 催办 and close now: their open 催办 follow-ups close with them (ladder.close_reminders)
    ctx.late_closed = [task_id for task_id in gone if existing[task_id].warning_level >= 2]
    if gone and write:
        ctx.writes.append((_DELETE_TASK, [{"task_id": task_id} for task_id in gone]))
    opened, task_rows, candidate_rows = [], [], []
    timer_docs = ctx.version.meta.get("timer_docs", {})
    for task_id, task in now_open.items():
        if task_id in existing:
            continue
        info = ctx.version.user_task(task.task_spec.name) or {}
        pairs = routing.candidates(session, case, info, task)
        assignee = info.get("assignee")
        assignee = assignee if assignee and not str(assignee).startswith("=") else None
        if assignee is None and pairs:
            assignee = routing.first_contact_assignee(session, case, info)  # 首问负责: `role@first`
        new = NewTask(id=task_id, kind="bpmn", title=task.task_spec.bpmn_name or task.task_spec.name,
                      roles=sorted({r for r, _ in pairs}), due_at=routing.due_at(info, task, ctx.now, runtime.of(session)),
                      due_basis=staff_text(info.get("documentation") or timer_docs.get(task.task_spec.name)),
                      created_at=ctx.now, spec_name=task.task_spec.name,
                      org_unit_id=pairs[0][1] if pairs else case.org_unit_id, assignee=assignee)
        task_rows.append({"id": task_id, "kind": "bpmn", "source_task_id": None, "case_id": case.id,
                          "process_id": case.process_id, "spec_name": task.task_spec.name, "title": new.title,
                          "lane": info.get("lane"), "roles": new.roles,
                          "org_unit_id": new.org_unit_id,
                          "assignee": assignee, "due_at": new.due_at, "due_basis": new.due_basis,
                          "warning_level": 0, "created_at": ctx.now, "claimed_at": None,
                          "due_sort": new.due_at or NO_DUE_DATE, "priority": case.priority})
        candidate_rows += [{"task_id": task_id, "role": role, "org_unit_id": org_id,
                            "due_sort": new.due_at or NO_DUE_DATE, "created_at": ctx.now, "warning_level": 0,
                            "assignee": assignee, "process_id": case.process_id, "category": case.category,
                            "case_code": case.code, "title": new.title, "priority": case.priority}
                           for role, org_id in pairs]
        opened.append(new)
    if task_rows and write:
        ctx.writes.append((_INSERT_TASKS, task_rows))
        if candidate_rows:
            ctx.writes.append((_INSERT_CANDIDATES, candidate_rows))
    kept = [row for task_id, row in existing.items() if task_id in now_open]
    return opened, kept + opened


def task_rows_of(session: Session, case_id: int, task_id: str) -> tuple[dict, list[tuple[str, int]]]:
    """Every task row of a case (Core rows by task id) and the (role, org unit) candidates of `task_id`, in one
    statement under the lock: they find the task a command acts on and who may act on it, and, passed to
    execute(), are the rows sync_tasks compares with the workflow."""
    rows, candidates = {}, []
    for row in send(session.connection(), _CASE_TASK_ROWS, {"case_id": case_id, "task_id": task_id}):
        rows[row.id] = row
        if row.candidate_role is not None:
            candidates.append((row.candidate_role, row.candidate_org_unit_id))
    return rows, candidates


def category_changed(writes: list, case_id: int, category: str | None) -> None:
    """The case's category changed: the list's copy on the case's candidate rows follows (buffered write)."""
    writes.append((_SET_CANDIDATE_CATEGORY, {"case_id": case_id, "new_category": category}))


_SET_TASK_PRIORITY = update(TASKS).where(TASKS.c.case_id == bindparam("case_id")).values(
    priority=bindparam("new_priority"))
_SET_CANDIDATE_PRIORITY = (update(CANDIDATES).where(CANDIDATES.c.task_id.in_(
    select(TASKS.c.id).where(TASKS.c.case_id == bindparam("case_id")))).values(priority=bindparam("new_priority")))


def priority_changed(writes: list, case_id: int, priority: int) -> None:
    """The case became (or stopped being) 群体性 / 高风险: its task rows and their candidate rows follow
    (buffered writes; rare: once when a case is flagged)."""
    writes.append((_SET_TASK_PRIORITY, {"case_id": case_id, "new_priority": priority}))
    writes.append((_SET_CANDIDATE_PRIORITY, {"case_id": case_id, "new_priority": priority}))


def case_closed(writes: list, case_id: int) -> None:
    """A closed case has no task rows (their candidate rows go with them: ON DELETE CASCADE)."""
    writes.append((_DELETE_CASE_TASKS, {"case_id": case_id}))


# The list's copy of the assignee (task_candidates.assignee) moves with every claim and unclaim.
_SET_CANDIDATE_ASSIGNEE = update(CANDIDATES).where(CANDIDATES.c.task_id == bindparam("of_task")).values(
    assignee=bindparam("new_assignee"))
_CLAIM = (update(TASKS).where(TASKS.c.id == bindparam("of_task"), TASKS.c.assignee.is_(None))
          .values(assignee=bindparam("new_assignee"), claimed_at=bindparam("at")))
_UNCLAIM = update(TASKS).where(TASKS.c.id == bindparam("of_task")).values(assignee=None, claimed_at=None)


def claim(session: Session, task_id: str, username: str, now: datetime) -> bool:
    """Assign an unclaimed task to `username` (False if somebody else took it first). Flushes only."""
    done = session.execute(_CLAIM, {"of_task": task_id, "new_assignee": username, "at": now})
    if done.rowcount != 1:
        return False
    session.execute(_SET_CANDIDATE_ASSIGNEE, {"of_task": task_id, "new_assignee": username})
    return True


def unclaim(session: Session, task_id: str) -> None:
    """Give a claimed task back to its candidates. Flushes only."""
    session.execute(_UNCLAIM, {"of_task": task_id})
    session.execute(_SET_CANDIDATE_ASSIGNEE, {"of_task": task_id, "new_assignee": None})


_REASSIGN = update(TASKS).where(TASKS.c.id == bindparam("of_task")).values(
    assignee=bindparam("new_assignee"), claimed_at=bindparam("at"))


def reassign(session: Session, task_id: str, username: str, now: datetime) -> None:
    """Give a task to `username` whoever held it (a supervisor's 改派, under the case lock). Flushes only."""
    session.execute(_REASSIGN, {"of_task": task_id, "new_assignee": username, "at": now})
    session.execute(_SET_CANDIDATE_ASSIGNEE, {"of_task": task_id, "new_assignee": username})


_URGE = update(TASKS).where(TASKS.c.id == bindparam("of_task")).values(
    urged_at=bindparam("at"), urged_by=bindparam("by"), urge_note=bindparam("note"))


def urge(session: Session, task_id: str, username: str, note: str, now: datetime) -> None:
    """The task's last manual 催办 (its list and page show it; the list's copies do not need it). Flushes."""
    session.execute(_URGE, {"of_task": task_id, "at": now, "by": username, "note": note})


_SET_WARNING_LEVEL = update(TASKS).where(TASKS.c.id == bindparam("of_task")).values(
    warning_level=bindparam("level"))
_SET_CANDIDATE_WARNING_LEVEL = update(CANDIDATES).where(CANDIDATES.c.task_id == bindparam("of_task")).values(
    warning_level=bindparam("level"))


def set_warning_level(session: Session, task_id: str, level: int) -> None:
    """A supervision-ladder step raised the task's warning level; the list's sort key travels with it."""
    session.execute(_SET_WARNING_LEVEL, {"of_task": task_id, "level": level})
    session.execute(_SET_CANDIDATE_WARNING_LEVEL, {"of_task": task_id, "level": level})


_SET_DUE = update(TASKS).where(TASKS.c.id == bindparam("of_task")).values(due_at=bindparam("due"),
                                                                          due_sort=bindparam("due"))
_SET_CANDIDATE_DUE = update(CANDIDATES).where(CANDIDATES.c.task_id == bindparam("of_task")).values(
    due_sort=bindparam("due"))


def set_due(session: Session, task_id: str, due) -> None:
    """A task's due date was recomputed (the calendar of its year changed); the list's sort key follows."""
    session.execute(_SET_DUE, {"of_task": task_id, "due": due})
    session.execute(_SET_CANDIDATE_DUE, {"of_task": task_id, "due": due})


_REPOINT_TASK = update(TASKS).where(TASKS.c.id == bindparam("of_task")).values(
    spec_name=bindparam("new_spec_name"), title=bindparam("new_title"), lane=bindparam("new_lane"))
_REPOINT_CANDIDATES = update(CANDIDATES).where(CANDIDATES.c.task_id == bindparam("of_task")).values(
    title=bindparam("new_title"))


def repoint(writes: list, task_id: str, spec_name: str, title: str, lane: str | None) -> None:
    """An open task now runs as another version's user task (a case migrated, engine/migration.py): its row and
    the list's copies take that task's id, name and lane; its due date, candidates, assignee and ladder level
    stay what they were (buffered writes)."""
    params = {"of_task": task_id, "new_spec_name": spec_name, "new_title": title, "new_lane": lane}
    writes.append((_REPOINT_TASK, params))
    writes.append((_REPOINT_CANDIDATES, {"of_task": task_id, "new_title": title}))


def drop_tasks(writes: list, task_ids: list[str]) -> None:
    """Delete follow-up task rows the workflow no longer needs (a held expiry gone moot): buffered writes."""
    if task_ids:
        writes.append((_DELETE_TASK, [{"task_id": task_id} for task_id in task_ids]))


def remove_task(session: Session, task_id: str) -> None:
    """Delete a task row that is done outside the workflow (an answered supervision task). Flushes only."""
    session.execute(_DELETE_TASK, {"task_id": task_id})


def add_follow_up_task(session: Session, case, *, task_id: str, kind: str, source_task_id: str, spec_name: str,
                       title: str, role: str, org_unit_id: int, due_at: datetime, due_basis: str,
                       now: datetime) -> TaskModel:
    """A task outside the workflow (a supervision follow-up), with its one candidate row. Flushes."""
    task = TaskModel(id=task_id, kind=kind, source_task_id=source_task_id, case_id=case.id,
                     process_id=case.process_id, spec_name=spec_name, title=title, lane=None, roles=[role],
                     org_unit_id=org_unit_id, assignee=None, due_at=due_at, due_basis=due_basis, warning_level=0,
                     created_at=now, priority=case.priority)
    task.candidates = [TaskCandidateModel(task_id=task_id, role=role, org_unit_id=org_unit_id, due_sort=due_at,
                                          created_at=now, warning_level=0, assignee=None,
                                          process_id=case.process_id, category=case.category,
                                          case_code=case.code, title=title, priority=case.priority)]
    session.add(task)
    session.flush()
    return task

