"""The case command pipeline shared by the services: load → apply → run to a wait state → record → save.

Private to the engine: these helpers only flush; the public service that calls them owns the commit, so a
command is exactly one transaction (DESIGN.md "Commands and transactions").
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from uuid import UUID

from sqlalchemy import bindparam, delete, insert, inspect, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine import runtime, scripting, serializer
from engine.clock import running_at
from engine.db import run_writes, send
from engine.errors import CaseError, Conflict, NotFound, SandboxError, TaskFailed
from engine.models import (GENESIS_HASH, NO_DUE_DATE, CaseEventModel, CaseModel, MembershipModel, OrgUnitModel,
                           RoleModel, TaskCandidateModel, TaskModel, TimerModel)
from engine.services.processes import LoadedVersion, load_version
from engine.spiff_fixes import outcome_end_task

log = logging.getLogger(__name__)

GENESIS = GENESIS_HASH
# Case data keys copied onto the case row so lists can filter without reading the workflow.
INDEXED_FIELDS = ("category", "tier", "channel", "party_phone")


@dataclass
class Ctx:
    """One command in flight: the locked case row, its version and its restored workflow."""

    session: Session
    case: CaseModel
    version: LoadedVersion
    workflow: BpmnWorkflow
    now: datetime
    actor: str
    new_case: bool = False  # inserted by this command: it has no task or timer rows to read yet
    task_rows: dict | None = None  # the case's task rows as the command read them under the lock (task_rows_of)
    before_data: dict = field(default_factory=dict)
    before_tasks: dict = field(default_factory=dict)
    before_completed: set = field(default_factory=set)
    events: list[dict] = field(default_factory=list)  # history rows of this command, inserted together
    # (Core statement, parameters) the save sends together at its end, after every read (db.run_writes)
    writes: list[tuple] = field(default_factory=list)


# ---------------------------------------------------------------- loading and running

# Hot-path statements are built once: SQLAlchemy memoizes a statement's cache key, so reusing the object
# skips rebuilding and re-keying it on every command (bench/README.md, "Profile").
CASES, TASKS, CANDIDATES, EVENTS = (CaseModel.__table__, TaskModel.__table__, TaskCandidateModel.__table__,
                                    CaseEventModel.__table__)
# inline(): no implicit RETURNING of the new id, which a buffered write could not read (db.run_writes)
_INSERT_EVENTS = insert(EVENTS).inline()
_SET_EVENT_TAIL = update(CASES).where(CASES.c.id == bindparam("case_id")).values(
    event_seq=bindparam("tail_seq"), event_hash=bindparam("tail_hash"), event_at=bindparam("tail_at"))
_INSERT_TASKS = insert(TASKS).inline()
_INSERT_CANDIDATES = insert(CANDIDATES).inline()
_OPEN_TASK_ROWS = select(TASKS.c.id, TASKS.c.kind, TASKS.c.title, TASKS.c.due_at, TASKS.c.created_at,
                         TASKS.c.warning_level).where(TASKS.c.case_id == bindparam("case_id"),
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


# The case row with its org unit (the relationship the commands use), read with send and made into the ORM
# objects by _case_of: the ORM's own load of one case cost ~0.3 ms a command, the row ~0.02 ms.
ORGS = OrgUnitModel.__table__
_ORG_KEYS = [c.key for c in ORGS.c]
_CASE_ROW = (select(*CASES.c, *(c.label(f"org_{c.key}") for c in ORGS.c))
             .join(ORGS, ORGS.c.id == CASES.c.org_unit_id))
_CASE_BY_ID = _CASE_ROW.where(CASES.c.id == bindparam("case_id"))
_CASE_BY_ID_FOR_UPDATE = _CASE_BY_ID.with_for_update(of=CASES)
_TAKE_WRITE_LOCK = (update(CASES).where(CASES.c.id == bindparam("case_id"))
                    .values(lock_version=CASES.c.lock_version))


def _lock_through(owner, key: str) -> tuple:
    """The SQLite write lock and the PostgreSQL FOR UPDATE read of the case that owns a row of `owner`."""
    case_id = select(owner.c.case_id).where(owner.c.id == bindparam(key)).scalar_subquery()
    return ((update(CASES).where(CASES.c.id == case_id).values(lock_version=CASES.c.lock_version)
             .returning(CASES.c.id)),
            _CASE_ROW.where(CASES.c.id == case_id).with_for_update(of=CASES))


# The same, finding the case through one of its task or timer rows (a task command or a firing timer knows
# only that row's id), in one statement fewer.
_LOCK_THROUGH = {"task_id": _lock_through(TASKS, "task_id"), "timer_id": _lock_through(TimerModel.__table__, "timer_id")}


def lock_case(session: Session, case_id: int) -> CaseModel:
    """Load a case row with its workflow, locked FOR UPDATE on PostgreSQL (SQLite has a single writer)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = send(connection, _CASE_BY_ID_FOR_UPDATE, {"case_id": case_id})
    else:
        # SQLite: take the write lock now (a no-op UPDATE), so a concurrent command waits here and then
        # reads the state the other one committed, instead of failing later on a stale snapshot.
        send(connection, _TAKE_WRITE_LOCK, {"case_id": case_id})
        rows = send(connection, _CASE_BY_ID, {"case_id": case_id})
    if not rows:
        raise NotFound(f"案件不存在 / case {case_id} not found")
    return _case_of(session, rows[0])


def lock_case_of_task(session: Session, task_id: str) -> CaseModel | None:
    """lock_case for the case a task row belongs to; None when there is no such task row.

    The caller must read the task again under the lock: it may have been completed meanwhile."""
    return _lock_case_through(session, "task_id", task_id)


def lock_case_of_timer(session: Session, timer_id: int) -> CaseModel | None:
    """lock_case for the case a timer row belongs to; None when there is no such timer row.

    The caller must read the timer again under the lock: another drain may have fired it meanwhile."""
    return _lock_case_through(session, "timer_id", timer_id)


def _lock_case_through(session: Session, key: str, row_id) -> CaseModel | None:
    sqlite_lock, pg_read = _LOCK_THROUGH[key]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = send(connection, pg_read, {key: row_id})
    else:
        locked = send(connection, sqlite_lock, {key: row_id})
        rows = send(connection, _CASE_BY_ID, {"case_id": locked[0].id}) if locked else []
    return _case_of(session, rows[0]) if rows else None


def _case_of(session: Session, row) -> CaseModel:
    """The session's CaseModel (and OrgUnitModel) for a _CASE_ROW row: persistent, clean, every column loaded.

    An object the session holds already takes the row's values, as a load with populate_existing would."""
    values = row._asdict()
    org = attach_loaded(session, OrgUnitModel, {key: values.pop(f"org_{key}") for key in _ORG_KEYS})
    case = attach_loaded(session, CaseModel, values)
    set_committed_value(case, "org_unit", org)
    return case


def attach_loaded(session: Session, model, values: dict):
    """The session's object of `model` for a row's values (every column): persistent and clean, as if the ORM
    had loaded it; an object the session holds already takes the values."""
    held = session.identity_map.get(identity_key(model, values["id"]))
    if held is not None:
        for key, value in values.items():
            set_committed_value(held, key, value)
        return held
    # As the ORM's loader does: a bare instance whose attributes are filled in without events (the
    # constructor's attribute events took ~0.1 ms a case), then given its identity and added as persistent.
    obj = model._sa_class_manager.new_instance()
    instance_state(obj).dict.update(values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def restore(session: Session, case: CaseModel) -> tuple[LoadedVersion, BpmnWorkflow]:
    version = load_version(session, case.process_version_id)
    workflow = serializer.load_workflow(case.workflow_json, version.spec, version.subprocess_specs,
                                        runtime.get().script_engine)
    return version, workflow


def new_workflow(version: LoadedVersion) -> BpmnWorkflow:
    return BpmnWorkflow(version.spec, version.subprocess_specs, script_engine=runtime.get().script_engine)


def run_engine(workflow: BpmnWorkflow, refresh_timers: bool = False) -> None:
    """Run engine steps to the next wait state; SpiffWorkflow errors become TaskFailed with element and line."""
    try:
        if refresh_timers:
            workflow.refresh_timers()
        workflow.do_engine_steps()
    except CaseError:
        raise
    except (WorkflowException, SpiffWorkflowException) as exc:
        raise task_failed(exc) from exc


def task_failed(exc: Exception) -> TaskFailed:
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None) if task is not None else getattr(exc, "task_spec", None)
    element = getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)
    line = getattr(exc, "line_number", None) or getattr(exc, "sourceline", None)
    message = str(getattr(exc, "error_msg", None) or exc)
    cause = exc.__cause__ or getattr(exc, "exception", None)
    if isinstance(cause, SandboxError):
        message = cause.message
    detail = {"element_id": element, "line": line, "message": message}
    return TaskFailed(f"流程执行出错 / the process failed at {element}: {message}", detail)


# ---------------------------------------------------------------- reading the workflow

def human_tasks(workflow: BpmnWorkflow, state=TaskState.READY) -> list:
    return list(workflow.get_tasks(state=state, manual=True))


def ordinal_of(open_tasks, task) -> int:
    """The task's place among the open human tasks (tree order, as human_tasks gives them) of its spec."""
    same = [t for t in open_tasks if t.task_spec.name == task.task_spec.name]
    return next(i for i, t in enumerate(same) if t.id == task.id)


def task_by_ordinal(workflow: BpmnWorkflow, spec_name: str, ordinal: int):
    same = [t for t in human_tasks(workflow) if t.task_spec.name == spec_name]
    return same[ordinal] if ordinal < len(same) else None


def find_task(workflow: BpmnWorkflow, task_id: str):
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError):
        return None


def completion(task_id: str, values: dict):
    """The `apply` step of the command that completes a user task with validated form values (for execute):
    shared by task completion and by intake, which opens a case and completes its registration in one command."""
    def apply(ctx):
        spiff_task = find_task(ctx.workflow, task_id)
        if spiff_task is None or spiff_task.state != TaskState.READY:
            raise Conflict("该任务已不可办理 / this task is no longer ready", {"task_id": task_id})
        ordinal = ordinal_of(ctx.before_tasks.values(), spiff_task)  # the workflow is as snapshot saw it
        command = {"spec_name": spiff_task.task_spec.name, "ordinal": ordinal, "data": values}
        spiff_task.data.update(values)
        try:
            spiff_task.run()
        except Exception as exc:
            raise task_failed(exc) from exc
        run_engine(ctx.workflow)
        return spiff_task, command
    return apply


def case_data(workflow: BpmnWorkflow, pending: list | None = None, end=None) -> dict:
    """What the case knows now: the workflow's data, then the data waiting tasks carry, in tree order.

    `pending` (the READY and WAITING tasks, pending_tasks) and `end` (outcome_end_task of a completed
    workflow): when the caller has them already, each a walk of the task tree saved."""
    data: dict = {}
    data.update(workflow.data)
    if workflow.completed:
        if end is None:
            end = outcome_end_task(workflow)  # not a side branch that happened to end last
        if end is not None:
            data.update(end.data)
        return json.loads(json.dumps(data, default=str))
    if workflow.last_task is not None:
        data.update(workflow.last_task.data)
    if pending is None:
        pending = pending_tasks(workflow)
    for task in pending:
        if task.task_spec.manual:
            data.update(task.data)
    return json.loads(json.dumps(data, default=str))


def pending_tasks(workflow: BpmnWorkflow) -> list:
    """The READY and WAITING tasks, in tree order: what a save reads its open tasks, the case data and the
    waiting timers from, in one walk of the task tree."""
    return list(workflow.get_tasks(state=TaskState.READY | TaskState.WAITING))


def fingerprint(workflow: BpmnWorkflow) -> list:
    """Workflow state without task ids or wall-clock stamps: what a replay must reproduce."""
    out = []
    for task in workflow.get_tasks():
        out.append([task.task_spec.name, int(task.state),
                    json.dumps(task.data, sort_keys=True, default=str),
                    json.dumps(task.internal_data, sort_keys=True, default=str)])
    out.append(["__workflow__", bool(workflow.completed), json.dumps(workflow.data, sort_keys=True, default=str)])
    return out


def end_event_name(workflow: BpmnWorkflow, end=None) -> str | None:
    """The case outcome: the name of the last named end event reached (side-branch ends stay unnamed).

    `end`: outcome_end_task(workflow), when the caller has it already."""
    if end is None:
        end = outcome_end_task(workflow)
    return None if end is None else end.task_spec.bpmn_name or end.task_spec.bpmn_id


# ---------------------------------------------------------------- history

def _event_hash(prev_hash: str, seq: int, at: datetime, actor: str | None, type_: str, task_id: str | None,
                task_name: str | None, payload: dict) -> str:
    body = json.dumps({"seq": seq, "at": at.astimezone(timezone.utc).isoformat(), "actor": actor, "type": type_,
                       "task_id": task_id, "task_name": task_name, "payload": payload},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append_event(session: Session, case: CaseModel, type_: str, actor: str | None, at: datetime,
                 payload: dict | None = None, task_id: str | None = None, task_name: str | None = None,
                 batch: list[dict] | None = None) -> dict:
    """Add a history row chained to the case's previous one (the tail kept on the case row).

    Inserted at once, or appended to `batch` for the caller to insert with the rest of its command."""
    payload = json.loads(json.dumps(payload or {}, default=str, ensure_ascii=False))
    seq, prev = case.event_seq + 1, case.event_hash
    at = at.astimezone(timezone.utc)
    row = {"case_id": case.id, "seq": seq, "at": at, "actor": actor, "type": type_, "task_id": task_id,
           "task_name": task_name, "payload": payload, "prev_hash": prev,
           "hash": _event_hash(prev, seq, at, actor, type_, task_id, task_name, payload)}
    if batch is None:
        # Outside the save of a case command (claim, unclaim, an escalation): the case itself did not
        # change, so the tail moves without a new lock_version (a form loaded before a claim stays valid).
        session.execute(_INSERT_EVENTS, [row])
        session.execute(_SET_EVENT_TAIL, {"case_id": case.id, "tail_seq": seq, "tail_hash": row["hash"], "tail_at": at})
        for key, value in (("event_seq", seq), ("event_hash", row["hash"]), ("event_at", at)):
            set_committed_value(case, key, value)
    else:
        case.event_seq, case.event_hash, case.event_at = seq, row["hash"], at
        batch.append(row)
    return row


def event_hash_of(row: CaseEventModel) -> str:
    return _event_hash(row.prev_hash, row.seq, row.at, row.actor, row.type, row.task_id, row.task_name, row.payload)


# ---------------------------------------------------------------- saving

def _data_changes(before: dict, after: dict) -> dict:
    changes = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes[key] = [before.get(key), after.get(key)]
    return changes


def snapshot(ctx: Ctx) -> None:
    ctx.before_data = dict(ctx.case.data or {})
    ctx.before_tasks = {str(t.id): t for t in human_tasks(ctx.workflow)}
    if ctx.version.meta.get("open_case") or ctx.version.meta.get("move_case"):
        ctx.before_completed = {t.id for t in ctx.workflow.get_tasks(state=TaskState.COMPLETED)}


def _passed_markers(ctx: Ctx, key: str):
    """(task, marker) for elements carrying a jiefen.<key> property that this command completed."""
    markers = ctx.version.meta.get(key) or {}
    if not markers:
        return
    for task in ctx.workflow.get_tasks(state=TaskState.COMPLETED):
        marker = markers.get(task.task_spec.bpmn_id or "")
        if marker and task.id not in ctx.before_completed:
            yield task, marker


def _move_case(ctx: Ctx) -> None:
    """上报: a completed task marked jiefen.move_case=parent hands the case to the next-level center."""
    for task, target in _passed_markers(ctx, "move_case"):
        org = ctx.case.org_unit
        if target != "parent" or org.parent_id is None:
            log.warning("case %s: move_case=%r at %s ignored (no such unit)", ctx.case.id, target, task.task_spec.bpmn_id)
            continue
        parent = ctx.session.get(OrgUnitModel, org.parent_id)
        ctx.case.org_unit_id, ctx.case.org_unit = parent.id, parent
        append_event(ctx.session, ctx.case, "case_moved", ctx.actor, ctx.now,
                     {"from": org.code, "to": parent.code, "to_name": parent.name}, str(task.id),
                     task.task_spec.bpmn_name or task.task_spec.bpmn_id, batch=ctx.events)


def _open_linked_cases(ctx: Ctx, data: dict) -> None:
    """Elements marked `jiefen.open_case` that this command passed open a linked case (e.g. a relapse)."""
    from engine.services.cases import open_linked_case  # cases builds on this module

    for task, marker in _passed_markers(ctx, "open_case"):
        flush_writes(ctx)  # the linked case's command reads and writes on its own: this one's rows go first
        linked = open_linked_case(ctx.session, ctx.case, marker["process_id"], data, marker["link_kind"], ctx.now)
        append_event(ctx.session, ctx.case, "case_linked", "system", ctx.now,
                     {"case_id": linked.id, "code": linked.code, "kind": marker["link_kind"]},
                     str(task.id), task.task_spec.bpmn_name or task.task_spec.bpmn_id, batch=ctx.events)


def save(ctx: Ctx, command_type: str, command: dict | None, task=None, extra: dict | None = None) -> dict:
    """Record the command and what it changed, then write the case, its task rows and its timer rows.

    The rows are written with Core statements, buffered in ctx.writes and sent together with the case row's
    versioned UPDATE (one round trip on PostgreSQL); a flush at the end writes whatever else the command
    changed through the ORM (a fired timer row, say). No autoflush in between."""
    with ctx.session.no_autoflush:
        after_data = _save(ctx, command_type, command, task, extra)
        update = case_update(ctx.case)
        if update is not None:
            ctx.writes.append(update)
        counts = flush_writes(ctx)
    if update is not None:
        _check_and_mark_written(ctx.session, ctx.case, update[1], counts[-1])
    ctx.session.flush()
    return after_data


def flush_writes(ctx: Ctx) -> list[int | None]:
    """Send the command's buffered writes now (before something reads what they write); their row counts."""
    counts = run_writes(ctx.session, ctx.writes)
    ctx.writes.clear()
    return counts


# Case columns a command may change (the id never, the version is bumped by case_update itself).
_CASE_COLUMNS = frozenset(c.key for c in CASES.c) - {"id", "lock_version"}
_CASE_UPDATES: dict[frozenset, object] = {}  # one prebuilt UPDATE per set of changed columns (a handful)


def _case_update(keys: frozenset):
    stmt = _CASE_UPDATES.get(keys)
    if stmt is None:
        stmt = (update(CASES).where(CASES.c.id == bindparam("v_id"), CASES.c.lock_version == bindparam("v_lock"))
                .values(lock_version=bindparam("v_next_lock"), **{k: bindparam(f"v_{k}") for k in sorted(keys)}))
        _CASE_UPDATES[keys] = stmt
    return stmt


def case_update(case: CaseModel) -> tuple | None:
    """The versioned UPDATE of the case row's changed columns, as (statement, parameters); None if unchanged.

    The same statement the unit of work would send, without it: flushing this one object cost ~0.25 ms a
    command against ~0.03 ms for the statement (bench/README.md, "What the profile led to")."""
    state = inspect(case)
    keys = frozenset(k for k in state.committed_state if k in _CASE_COLUMNS)
    if not keys:
        return None
    params = {f"v_{k}": getattr(case, k) for k in keys}
    params.update(v_id=case.id, v_lock=case.lock_version, v_next_lock=case.lock_version + 1)
    return _case_update(keys), params


def _check_and_mark_written(session: Session, case: CaseModel, params: dict, count: int) -> None:
    """After case_update's statement ran: a stale lock_version (no row matched) raises StaleDataError, as a
    flush would (the callers turn it into a Conflict); else the object's columns are marked saved."""
    if count != 1:
        raise StaleDataError(f"case {case.id}: lock_version {case.lock_version} is stale")
    state = inspect(case)
    keys = [k[2:] for k in params if k[2:] in _CASE_COLUMNS]  # the changed columns (not v_id, v_lock…)
    for key in keys:
        set_committed_value(case, key, params[f"v_{key}"])
    set_committed_value(case, "lock_version", params["v_next_lock"])
    if "org_unit_id" in keys:
        set_committed_value(case, "org_unit", case.org_unit)
    if not state.committed_state:
        # Nothing left unwritten: clear the object's "modified" flag as a flush does (set_committed_value
        # leaves it set, and the next flush would walk the unit of work for nothing). SQLAlchemy < 2.1 is
        # pinned; tests/unit/test_case_writes.py fails if this stops working.
        state._commit_all(state.dict, session.identity_map)


_INSERT_CASE = insert(CASES).returning(CASES.c.id)


def insert_case(session: Session, values: dict, org_unit: OrgUnitModel) -> CaseModel:
    """INSERT a new case row (`values`: every column but the id) and return it as a persistent, clean object.

    No defaults are read back: every column must be given, or the object would load it lazily."""
    missing = {c.key for c in CASES.c} - {"id"} - set(values)
    if missing:
        raise ValueError(f"insert_case: no value for {', '.join(sorted(missing))}")
    [(case_id,)] = send(session.connection(), _INSERT_CASE, values)
    case = attach_loaded(session, CaseModel, {"id": case_id, **values})
    set_committed_value(case, "org_unit", org_unit)
    return case


def _save(ctx: Ctx, command_type: str, command: dict | None, task, extra: dict | None) -> dict:
    session, case, workflow, events = ctx.session, ctx.case, ctx.workflow, ctx.events
    pending = pending_tasks(workflow)
    end = outcome_end_task(workflow) if workflow.completed else None
    after_data = case_data(workflow, pending, end)
    payload = {"command": command} if command is not None else {}
    payload["changes"] = _data_changes(ctx.before_data, after_data)
    payload.update(extra or {})
    append_event(session, case, command_type, ctx.actor, ctx.now, payload,
                 task_id=str(task.id) if task is not None else None,
                 task_name=task.task_spec.bpmn_name or task.task_spec.name if task is not None else None,
                 batch=events)

    now_open = {str(t.id): t for t in pending if t.state == TaskState.READY and t.task_spec.manual}
    for task_id, old in ctx.before_tasks.items():
        if task_id not in now_open and (task is None or task_id != str(task.id)):
            reason = "completed" if old.state == TaskState.COMPLETED else "cancelled"
            append_event(session, case, f"task_{reason}", "system", ctx.now, {"by": "process"}, task_id,
                         old.task_spec.bpmn_name or old.task_spec.name, batch=events)

    _move_case(ctx)
    case.data = after_data
    category = case.category
    for key in INDEXED_FIELDS:
        if key in after_data and after_data[key] not in (None, ""):
            setattr(case, key, str(after_data[key]))
    category_changed = case.category != category and not ctx.new_case  # a new case has no candidate rows yet
    case.workflow_json = serializer.dump_workflow(workflow)
    case.task_count = len(workflow.tasks) + sum(len(sp.tasks) for sp in workflow.subprocesses.values())
    if case.task_count > runtime.get().settings.task_tree_warning:
        log.warning("case %s task tree has %s tasks; check loops in %s", case.id, case.task_count, case.process_id)
    closing = workflow.completed and case.status != "closed"
    opened, open_rows = sync_tasks(ctx, now_open, write=not closing)
    for row in opened:
        append_event(session, case, "task_opened", "system", ctx.now,
                     {"roles": row.roles, "due_at": row.due_at.isoformat() if row.due_at else None,
                      "basis": row.due_basis}, row.id, row.title, batch=events)
    if category_changed and not closing and _rows_from_before_remain(ctx, opened, open_rows):
        # The task list filters on the copy in task_candidates: the rows sync_tasks inserted carry the new
        # category, the rows the case had before are updated here.
        ctx.writes.append((_SET_CANDIDATE_CATEGORY, {"case_id": case.id, "new_category": case.category}))
    if closing:
        case.status = "closed"
        case.closed_at = ctx.now
        case.outcome = end_event_name(workflow, end)
        append_event(session, case, "case_closed", "system", ctx.now, {"outcome": case.outcome}, batch=events)
        ctx.writes.append((_DELETE_CASE_TASKS, {"case_id": case.id}))
        open_rows = []
    from engine.services.timers import rebuild_timers  # timers builds on this module
    rebuild_timers(session, case, workflow, open_rows, ctx.writes, new_case=ctx.new_case, pending=pending)
    _open_linked_cases(ctx, after_data)
    ctx.writes.append((_INSERT_EVENTS, list(events)))
    events.clear()
    return after_data


def _rows_from_before_remain(ctx: Ctx, opened: list, open_rows: list) -> bool:
    """Whether the case still has task rows this command did not insert (a completed intake usually leaves
    none: then a category change has no candidate copies to update)."""
    if ctx.task_rows is None:  # not read under this command's lock: assume there are
        return True
    return len(open_rows) > len(opened) or any(row.kind != "bpmn" for row in ctx.task_rows.values())


def _due_at(ctx: Ctx, info: dict, task) -> datetime | None:
    raw = (info or {}).get("due_date")
    if not raw:
        return None
    rt = runtime.get()
    try:
        if raw.startswith("="):
            value = scripting.evaluate(raw[1:], {**task.data, **rt.helpers})
        elif raw.upper().startswith("P"):
            parsed = TimerEventDefinition.parse_iso_duration(raw)
            return ctx.now + TimerEventDefinition.get_timedelta_from_start(parsed, ctx.now)
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
        raise TaskFailed(f"任务期限表达式出错 / due date of {task.task_spec.bpmn_id}: {exc}",
                         {"element_id": task.task_spec.bpmn_id, "message": str(exc)}) from exc


def _candidates(ctx: Ctx, info: dict, task) -> list[tuple[str, int]]:
    """(role, org unit id) pairs allowed to act on a task (candidateGroups, `=expr`, else the lane's role)."""
    rt = runtime.get()
    entries: list[str] = []
    if info.get("candidate_groups_expr"):
        try:
            value = scripting.evaluate(info["candidate_groups_expr"].lstrip("="), {**task.data, **rt.helpers})
        except CaseError:
            raise
        except Exception as exc:
            raise TaskFailed(f"候选角色表达式出错 / candidateGroups of {task.task_spec.bpmn_id}: {exc}",
                             {"element_id": task.task_spec.bpmn_id, "message": str(exc)}) from exc
        entries = [v.strip() for v in (value.split(",") if isinstance(value, str) else value or []) if str(v).strip()]
    entries += list(info.get("candidate_groups") or [])
    if not entries and info.get("lane"):
        entries = [rt.settings.lane_roles.get(info["lane"], info["lane"])]
    pairs = []
    for entry in entries:
        role, _, unit = str(entry).partition("@")
        role = role.strip()
        org_id = ctx.case.org_unit_id
        if not unit:
            org_id = _nearest_staffed_unit(ctx.session, role, ctx.case.org_unit)
        elif unit == "parent":
            org_id = ctx.case.org_unit.parent_id or org_id
        elif unit:
            org = ctx.session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == unit))
            if org is None:
                raise TaskFailed(f"任务 {task.task_spec.bpmn_id} 指向不存在的机构 / unknown org unit {unit!r}",
                                 {"element_id": task.task_spec.bpmn_id, "message": f"unknown org unit {unit!r}"})
            org_id = org.id
        pairs.append((role.strip(), org_id))
    return list(dict.fromkeys(pairs))


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


def _nearest_staffed_unit(session: Session, role: str, org: OrgUnitModel) -> int:
    """The case's org unit, or the nearest unit above it where somebody holds the role.

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
            return org_id
    return org.id


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


def sync_tasks(ctx: Ctx, now_open: dict, write: bool = True) -> tuple[list[NewTask], list]:
    """Make the case's task rows match its open human tasks: (tasks opened now, all open task rows).

    With write=False (the case is closing) nothing is inserted, but the opened tasks are still reported."""
    session, case = ctx.session, ctx.case
    if ctx.new_case:
        existing = {}
    elif ctx.task_rows is not None:
        existing = {task_id: row for task_id, row in ctx.task_rows.items() if row.kind == "bpmn"}
    else:
        existing = {row.id: row for row in send(session.connection(), _OPEN_TASK_ROWS, {"case_id": case.id})}
    gone = [task_id for task_id in existing if task_id not in now_open]
    if gone and write:
        ctx.writes.append((_DELETE_TASK, [{"task_id": task_id} for task_id in gone]))
    opened, task_rows, candidate_rows = [], [], []
    timer_docs = ctx.version.meta.get("timer_docs", {})
    for task_id, task in now_open.items():
        if task_id in existing:
            continue
        info = ctx.version.user_task(task.task_spec.name) or {}
        pairs = _candidates(ctx, info, task)
        assignee = info.get("assignee")
        new = NewTask(id=task_id, kind="bpmn", title=task.task_spec.bpmn_name or task.task_spec.name,
                      roles=sorted({r for r, _ in pairs}), due_at=_due_at(ctx, info, task),
                      due_basis=info.get("documentation") or timer_docs.get(task.task_spec.name), created_at=ctx.now)
        assignee = assignee if assignee and not str(assignee).startswith("=") else None
        task_rows.append({"id": task_id, "kind": "bpmn", "source_task_id": None, "case_id": case.id,
                          "process_id": case.process_id, "spec_name": task.task_spec.name, "title": new.title,
                          "lane": info.get("lane"), "roles": new.roles,
                          "org_unit_id": pairs[0][1] if pairs else case.org_unit_id,
                          "assignee": assignee, "due_at": new.due_at, "due_basis": new.due_basis,
                          "warning_level": 0, "created_at": ctx.now, "claimed_at": None,
                          "due_sort": new.due_at or NO_DUE_DATE})
        candidate_rows += [{"task_id": task_id, "role": role, "org_unit_id": org_id,
                            "due_sort": new.due_at or NO_DUE_DATE, "created_at": ctx.now, "warning_level": 0,
                            "assignee": assignee, "process_id": case.process_id, "category": case.category,
                            "case_code": case.code, "title": new.title}
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


def execute(session: Session, case: CaseModel, actor: str, now: datetime, apply, command_type: str,
            task_rows: dict | None = None) -> Ctx:
    """Restore the case, apply a change at `now`, run it to the next wait state and save. Flushes only.

    `apply(ctx)` changes the workflow and returns (task or None, the command as replay needs it).
    `task_rows`: the case's task rows if the caller read them under the lock (task_rows_of)."""
    version, workflow = restore(session, case)
    ctx = Ctx(session, case, version, workflow, now, actor, task_rows=task_rows)
    snapshot(ctx)
    with running_at(now):
        task, command = apply(ctx)
        save(ctx, command_type, command, task)
    return ctx
