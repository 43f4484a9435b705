"""The case command pipeline shared by the services: load → apply → run to a wait state → record → save.

Private to the engine: these helpers only flush; the public service that calls them owns the commit, so a
command is exactly one transaction (DESIGN.md "Commands and transactions").
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine import (case_store, chain, group_cases, ladder, runtime, scripting, serializer, stats, task_index,
                    timer_index)
from engine.case_codes import make_case_code, normalise_phone
from engine.clock import running_at
from engine.fastpath import run_writes
from engine.errors import CaseError, Conflict, InvalidData, SandboxError, TaskFailed
from engine.messages import msg
from engine.models import CaseModel, OrgUnitModel
from engine.spiff_fixes import outcome_end_task
from engine.versions import LoadedVersion, active_loaded_version, load_version

log = logging.getLogger(__name__)

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
    # (Core statement, parameters) the save sends together at its end, after every read (fastpath.run_writes)
    writes: list[tuple] = field(default_factory=list)
    late_closed: list[str] = field(default_factory=list)  # tasks past 催办 that closed in this command (sync_tasks)


# ---------------------------------------------------------------- loading and running

def restore(session: Session, case: CaseModel) -> tuple[LoadedVersion, BpmnWorkflow]:
    version = load_version(session, case.process_version_id)
    workflow = serializer.load_workflow(case.workflow_json, version.spec, version.subprocess_specs,
                                        runtime.of(session).script_engine)
    return version, workflow


def new_workflow(version: LoadedVersion, rt: runtime.Runtime) -> BpmnWorkflow:
    return BpmnWorkflow(version.spec, version.subprocess_specs, script_engine=rt.script_engine)


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
    return TaskFailed(msg("process.failed", element=element, message=message), detail)


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
            raise Conflict(msg("task.not_ready"), {"task_id": task_id})
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


# Task ids inside internal_data (a multi-instance task lists its children's ids): new ones in every replay.
_TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def fingerprint(workflow: BpmnWorkflow) -> list:
    """Workflow state without task ids or wall-clock stamps: what a replay must reproduce."""
    out = []
    for task in workflow.get_tasks():
        out.append([task.task_spec.name, int(task.state),
                    json.dumps(task.data, sort_keys=True, default=str),
                    _TASK_ID.sub("<task>", json.dumps(task.internal_data, sort_keys=True, default=str))])
    out.append(["__workflow__", bool(workflow.completed), json.dumps(workflow.data, sort_keys=True, default=str)])
    return out


def end_event_name(workflow: BpmnWorkflow, end=None) -> str | None:
    """The case outcome: the name of the last named end event reached (side-branch ends stay unnamed).

    `end`: outcome_end_task(workflow), when the caller has it already."""
    if end is None:
        end = outcome_end_task(workflow)
    return None if end is None else end.task_spec.bpmn_name or end.task_spec.bpmn_id


def end_outcome_class(meta: dict, end) -> str | None:
    """The outcome class (OUTCOME_CLASSES id) of the end event `end` a case closed on: its jiefen.outcome_class
    as deployed (the version's meta); None without one."""
    if end is None:
        return None
    return (meta.get("outcome_class") or {}).get(end.task_spec.bpmn_id or "")


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
    """A completed task marked jiefen.move_case moves the case: `parent` is 上报 (the next-level center takes
    the case over and becomes responsible for it); `=expression` gives the code of a unit below the case's
    unit (交办: the unit handles the case, the assigning center stays responsible) or nothing (no move)."""
    for task, target in _passed_markers(ctx, "move_case"):
        org = ctx.case.org_unit
        if target == "parent":
            if org.parent_id is None:
                log.warning("case %s: 上报 at %s ignored (the top center)", ctx.case.id, task.task_spec.bpmn_id)
                continue
            dest = ctx.session.get(OrgUnitModel, org.parent_id)
            kind, responsible = "case_moved", None
        else:
            rt = runtime.of(ctx.session)
            try:
                code = scripting.evaluate(str(target).lstrip("="), {**task.data, **rt.helpers}, limits=rt.script_limits)
            except CaseError:
                raise
            except Exception as exc:
                raise TaskFailed(msg("routing.move_failed", element_id=task.task_spec.bpmn_id, error=str(exc)),
                                 {"element_id": task.task_spec.bpmn_id, "message": str(exc)}) from exc
            if not code or code == org.code:
                continue
            dest = ctx.session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == str(code)))
            if dest is None or dest.id == org.id or not dest.path.startswith(org.path):
                raise InvalidData(msg("routing.not_below", org_unit=str(code), case_unit=org.name),
                                  {"org_unit": [msg("routing.not_below", org_unit=str(code), case_unit=org.name)]})
            kind, responsible = "case_assigned", ctx.case.responsible_unit_id or org.id
        first = ctx.session.get(OrgUnitModel, ctx.case.first_unit_id) if ctx.case.first_unit_id else None
        ctx.case.org_unit_id, ctx.case.org_unit = dest.id, dest
        ctx.case.responsible_unit_id = responsible
        chain.append_event(ctx.session, ctx.case, kind, ctx.actor, ctx.now,
                           {"from": org.code, "from_name": org.name, "to": dest.code, "to_name": dest.name,
                            "first_name": first.name if first else None}, str(task.id),
                           task.task_spec.bpmn_name or task.task_spec.bpmn_id, batch=ctx.events)


def open_case(session: Session, version: LoadedVersion, data: dict, actor: str, org: OrgUnitModel, now: datetime,
              linked_case_id: int | None = None, link_kind: str | None = None) -> CaseModel:
    """Insert a new case of `version` at `org` with its case code, run it to its first wait state and save it
    (the "case_started" command). Flushes only."""
    workflow = new_workflow(version, runtime.of(session))
    case = case_store.insert_case(session, dict(
        code=make_case_code(session, org, data.get("channel"), now), process_version_id=version.id,
        process_id=version.process_id, status="open", outcome=None, outcome_class=None, org_unit_id=org.id,
        first_unit_id=org.id, responsible_unit_id=None, category=None, tier=None, priority=0,
        channel=None, party_phone=None, party_key=None, opened_by=actor, opened_at=now, closed_at=None,
        linked_case_id=linked_case_id, link_kind=link_kind, data={}, workflow_json="{}", task_count=0,
        lock_version=1, event_seq=0, event_hash=chain.GENESIS, event_at=None, responded_at=None,
        late_at=None, due_at=None), org)
    ctx = Ctx(session, case, version, workflow, now, actor, new_case=True)
    snapshot(ctx)
    with running_at(now):
        workflow.data.update(data)
        workflow.task_tree.data.update(data)
        run_engine(workflow)
        command = {"process_version_id": version.id, "data": data, "org_unit": org.code,
                   "linked_case_id": linked_case_id, "link_kind": link_kind}
        save(ctx, "case_started", command)
    return case


def _open_linked_case(ctx: Ctx, process_id: str, data: dict, link_kind: str) -> CaseModel:
    """A case linked to the command's case, opened inside the command: data copied, flagged repeat."""
    version = active_loaded_version(ctx.session, process_id)
    copied = {k: v for k, v in data.items() if not k.startswith("_")}
    copied.update({"repeat": True, "linked_from": ctx.case.code})
    return open_case(ctx.session, version, copied, "system", ctx.case.org_unit, ctx.now, ctx.case.id, link_kind)


def _open_linked_cases(ctx: Ctx, data: dict) -> None:
    """Elements marked `jiefen.open_case` that this command passed open a linked case (e.g. a relapse)."""
    for task, marker in _passed_markers(ctx, "open_case"):
        flush_writes(ctx)  # the linked case's command reads and writes on its own: this one's rows go first
        linked = _open_linked_case(ctx, marker["process_id"], data, marker["link_kind"])
        chain.append_event(ctx.session, ctx.case, "case_linked", "system", ctx.now,
                     {"case_id": linked.id, "code": linked.code, "kind": marker["link_kind"]},
                     str(task.id), task.task_spec.bpmn_name or task.task_spec.bpmn_id, batch=ctx.events)


def save(ctx: Ctx, command_type: str, command: dict | None, task=None, extra: dict | None = None) -> dict:
    """Record the command and what it changed, then write the case, its task rows and its timer rows.

    The rows are written with Core statements, buffered in ctx.writes and sent together with the case row's
    versioned UPDATE (one round trip on PostgreSQL); a flush at the end writes whatever else the command
    changed through the ORM (a fired timer row, say). No autoflush in between."""
    with ctx.session.no_autoflush:
        after_data = _save(ctx, command_type, command, task, extra)
        update = case_store.case_update(ctx.case)
        if update is not None:
            ctx.writes.append(update)
        counts = flush_writes(ctx)
    if update is not None:
        case_store.check_and_mark_written(ctx.session, ctx.case, update[1], counts[-1])
    ctx.session.flush()
    return after_data


def flush_writes(ctx: Ctx) -> list[int | None]:
    """Send the command's buffered writes now (before something reads what they write); their row counts."""
    counts = run_writes(ctx.session, ctx.writes)
    ctx.writes.clear()
    return counts


def _save(ctx: Ctx, command_type: str, command: dict | None, task, extra: dict | None) -> dict:
    session, case, workflow, events = ctx.session, ctx.case, ctx.workflow, ctx.events
    pending = pending_tasks(workflow)
    end = outcome_end_task(workflow) if workflow.completed else None
    after_data = case_data(workflow, pending, end)
    payload = {"command": command} if command is not None else {}
    payload["changes"] = _data_changes(ctx.before_data, after_data)
    payload.update(extra or {})
    chain.append_event(session, case, command_type, ctx.actor, ctx.now, payload,
                 task_id=str(task.id) if task is not None else None,
                 task_name=task.task_spec.bpmn_name or task.task_spec.name if task is not None else None,
                 batch=events)

    now_open = {str(t.id): t for t in pending if t.state == TaskState.READY and t.task_spec.manual}
    for task_id, old in ctx.before_tasks.items():
        if task_id not in now_open and (task is None or task_id != str(task.id)):
            reason = "completed" if old.state == TaskState.COMPLETED else "cancelled"
            chain.append_event(session, case, f"task_{reason}", "system", ctx.now, {"by": "process"}, task_id,
                         old.task_spec.bpmn_name or old.task_spec.name, batch=events)

    _move_case(ctx)
    case.data = after_data
    category, channel, party_phone = case.category, case.channel, case.party_phone
    for key in INDEXED_FIELDS:
        if key in after_data and after_data[key] not in (None, ""):
            setattr(case, key, str(after_data[key]))
    if case.party_phone != party_phone:  # the key that finds the party's other cases follows the phone
        case.party_key = normalise_phone(case.party_phone) or None
    category_changed = case.category != category and not ctx.new_case  # a new case has no candidate rows yet
    # the receipt counted under the category/channel the case was opened with moves to the ones it now has
    refiled = ({"category": category, "channel": channel}
               if not ctx.new_case and (case.category, case.channel) != (category, channel) else None)
    # 群体性 / 高风险 first in the lists: the case's flag, copied onto its task rows (sync_tasks, below)
    priority = 1 if group_cases.flags(after_data, runtime.of(session).settings) else 0
    priority_changed = case.priority != priority and not ctx.new_case
    if case.priority != priority:
        case.priority = priority
    case.workflow_json = serializer.dump_workflow(workflow)
    case.task_count = len(workflow.tasks) + sum(len(sp.tasks) for sp in workflow.subprocesses.values())
    if case.task_count > runtime.of(session).settings.task_tree_warning:
        log.warning("case %s task tree has %s tasks; check loops in %s", case.id, case.task_count, case.process_id)
    closing = workflow.completed and case.status != "closed"
    opened, open_rows = task_index.sync_tasks(ctx, now_open, write=not closing)
    for row in opened:
        opened_payload = {"roles": row.roles, "due_at": row.due_at.isoformat() if row.due_at else None,
                          "basis": row.due_basis, "org_unit_id": row.org_unit_id}
        if row.assignee:
            opened_payload["assignee"] = row.assignee
        chain.append_event(session, case, "task_opened", "system", ctx.now, opened_payload, row.id, row.title,
                           batch=events)
    ladder.close_reminders(session, case, ctx.late_closed, ctx.now, ctx.writes, events)
    if category_changed and not closing and _rows_from_before_remain(ctx, opened, open_rows):
        # The task list filters on the copy in task_candidates: the rows sync_tasks inserted carry the new
        # category, the rows the case had before are updated here.
        task_index.category_changed(ctx.writes, case.id, case.category)
    if priority_changed and not closing:
        task_index.priority_changed(ctx.writes, case.id, priority)  # rows the case had before (new ones have it)
    if closing:
        case.status = "closed"
        case.closed_at = ctx.now
        case.outcome = end_event_name(workflow, end)
        case.outcome_class = end_outcome_class(ctx.version.meta, end)
        closed = {"outcome": case.outcome}
        if case.outcome_class:
            closed["outcome_class"] = case.outcome_class
        chain.append_event(session, case, "case_closed", "system", ctx.now, closed, batch=events)
        task_index.case_closed(ctx.writes, case.id)
        open_rows = []
    due = min((row.due_at for row in open_rows if row.due_at is not None), default=None)
    if due != case.due_at:
        case.due_at = due
    moot = timer_index.rebuild_timers(session, case, workflow, open_rows, ctx.writes, new_case=ctx.new_case,
                                      pending=pending)
    for task_id in moot.values():  # a party's window held for confirmation closed another way (engine/expiry.py)
        chain.append_event(session, case, "task_cancelled", "system", ctx.now, {"by": "process"}, task_id,
                           "确认期间届满", batch=events)
    _open_linked_cases(ctx, after_data)
    stats.count_events(session, case, events, ctx.task_rows, ctx.writes, refiled)
    ctx.writes.append((chain.INSERT_EVENTS, list(events)))
    events.clear()
    return after_data


def _rows_from_before_remain(ctx: Ctx, opened: list, open_rows: list) -> bool:
    """Whether the case still has task rows this command did not insert (a completed intake usually leaves
    none: then a category change has no candidate copies to update)."""
    if ctx.task_rows is None:  # not read under this command's lock: assume there are
        return True
    return len(open_rows) > len(opened) or any(row.kind != "bpmn" for row in ctx.task_rows.values())


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

