"""ProcessDefinition and the facts derived from a built spec: user tasks, forms, first tasks, timer documentation."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

from lxml import etree
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.specs.base import TaskSpec

from engine.specs.values import _as_float, _as_int
from engine.specs.xmldoc import _b, _Doc


@dataclass(frozen=True)
class FormField:
    """One field of a user task form (camunda:formField)."""

    id: str
    label: str
    type: str  # 'string' | 'long' | 'boolean' | 'date' | 'enum'
    required: bool
    enum: list[tuple[str, str]] | None  # (value id, display name)
    default: str | None
    min: float | None
    max: float | None
    minlength: int | None
    maxlength: int | None
    readonly: bool


@dataclass(frozen=True)
class UserTaskInfo:
    """What the task list needs about a user task.

    candidate_groups is the literal list; when camunda:candidateGroups is an expression (`=expr`),
    candidate_groups is empty and candidate_groups_expr holds the expression *without* the leading '='.
    candidate_users / assignee / due_date keep an expression as written, leading '=' included
    (candidate_users is then a one-element list), so callers can tell literals from expressions.
    """

    id: str
    name: str
    lane: str | None
    candidate_groups: list[str]
    candidate_groups_expr: str | None
    candidate_users: list[str]
    assignee: str | None
    due_date: str | None
    form: list[FormField]
    documentation: str | None


@dataclass
class ProcessDefinition:
    """One deployable (executable) process with everything the engine derives from it."""

    process_id: str
    name: str
    file_name: str
    xml: bytes
    sha256: str  # of xml
    spec: BpmnProcessSpec
    subprocess_specs: dict  # ready for BpmnWorkflow(spec, subprocess_specs)
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)  # by task spec name, called processes too
    start_roles: list[str] = field(default_factory=list)  # camunda:candidateStarterGroups
    first_user_tasks: list[str] = field(default_factory=list)  # task spec names
    called_processes: list[str] = field(default_factory=list)
    timer_docs: dict[str, str] = field(default_factory=dict)  # timer/boundary event id -> documentation


def _form_fields(task_spec: UserTask) -> list[FormField]:
    out: list[FormField] = []
    form = getattr(task_spec, "form", None)
    for fld in getattr(form, "fields", []) or []:
        checks = {v.name: v.config for v in fld.validation}
        options = getattr(fld, "options", None)
        out.append(FormField(
            id=fld.id,
            label=fld.label or fld.id,
            type=(fld.type or "").lower(),
            required="required" in checks,
            enum=[(o.id, o.name or o.id) for o in options] if (fld.type or "").lower() == "enum" else None,
            default=fld.default_value,
            min=_as_float(checks.get("min")),
            max=_as_float(checks.get("max")),
            minlength=_as_int(checks.get("minlength")),
            maxlength=_as_int(checks.get("maxlength")),
            readonly="readonly" in checks,
        ))
    return out


def _user_task_info(task_spec: UserTask) -> UserTaskInfo:
    ext = task_spec.extensions or {}
    groups = ext.get("camunda:candidateGroups")
    users = ext.get("camunda:candidateUsers")
    return UserTaskInfo(
        id=task_spec.bpmn_id,
        name=task_spec.bpmn_name or task_spec.bpmn_id,
        lane=task_spec.lane,
        candidate_groups=list(groups) if isinstance(groups, list) else [],
        candidate_groups_expr=groups[1:].strip() if isinstance(groups, str) else None,
        candidate_users=list(users) if isinstance(users, list) else ([users] if users else []),
        assignee=ext.get("camunda:assignee") or None,
        due_date=ext.get("camunda:dueDate") or None,
        form=_form_fields(task_spec),
        documentation=task_spec.documentation,
    )


def _effective(spec: BpmnProcessSpec, task_spec: TaskSpec) -> TaskSpec:
    """The task that does the work: the child of a loop / multi-instance wrapper, else the spec itself."""
    child = getattr(task_spec, "task_spec", None)
    if isinstance(child, str) and child in spec.task_specs:
        return spec.task_specs[child]
    return task_spec


def _first_user_tasks(spec: BpmnProcessSpec, subs: dict, event_subprocesses: set[str]) -> list[str]:
    found: list[str] = []

    def walk(pspec: BpmnProcessSpec, active: frozenset[str]) -> bool:
        """Collect first user tasks; True if the process can finish without meeting one."""
        queue, seen, finishes = deque([pspec.start]), set(), False
        while queue:
            ts = queue.popleft()
            if ts.name in seen:
                continue
            seen.add(ts.name)
            if isinstance(ts, BoundaryEventSplit):
                main = [o for o in ts.outputs if not isinstance(o, BoundaryEvent)]
                if main and not passes(pspec, main[0], active):
                    continue  # its boundary events can fire only after that user task exists
                queue.extend(ts.outputs)
                continue
            if not passes(pspec, ts, active):
                continue
            if ts is pspec.end:
                finishes = True
            queue.extend(ts.outputs)
        return finishes

    def passes(pspec: BpmnProcessSpec, ts: TaskSpec, active: frozenset[str]) -> bool:
        """False if this activity is (or always starts) a user task; records the user tasks met."""
        work = _effective(pspec, ts)
        if isinstance(work, UserTask):
            if work.name not in found:
                found.append(work.name)
            return False
        if isinstance(work, SubWorkflowTask):
            if work.name in event_subprocesses:
                return False  # runs only when its event happens
            sub = subs.get(work.spec)
            if sub is not None and sub.name not in active:
                return walk(sub, active | {sub.name})
        return True

    walk(spec, frozenset({spec.name}))
    return found


def _documentation(el: etree._Element) -> str:
    return "\n".join((d.text or "").strip() for d in el.findall(_b("documentation"))).strip()


def _timer_docs(processes: Iterable[etree._Element]) -> dict[str, str]:
    """Timer and boundary event id -> its documentation (the legal basis of a deadline), from the XML.

    SpiffWorkflow moves the timer of an event after an event-based gateway onto the gateway, so the gateway's
    id (the task that waits) is listed too, with its own documentation or else the timer event's.
    """
    out: dict[str, str] = {}
    for proc in processes:
        targets: dict[str, list[str]] = {}
        for flow in proc.iter(_b("sequenceFlow")):
            targets.setdefault(flow.get("sourceRef") or "", []).append(flow.get("targetRef") or "")
        by_id = {el.get("id"): el for el in proc.iter() if isinstance(el.tag, str) and el.get("id")}
        for el in proc.iter(_b("boundaryEvent"), _b("intermediateCatchEvent"), _b("startEvent")):
            if el.tag == _b("boundaryEvent") or el.find(_b("timerEventDefinition")) is not None:
                out[el.get("id")] = _documentation(el)
        for gateway in proc.iter(_b("eventBasedGateway")):
            timer_events = [by_id[t] for t in targets.get(gateway.get("id") or "", []) if t in by_id]
            timer_events = [e for e in timer_events if e.find(_b("timerEventDefinition")) is not None]
            if timer_events:
                out[gateway.get("id")] = _documentation(gateway) or next(
                    (doc for doc in map(_documentation, timer_events) if doc), "")
    return out


def _process_name(doc: _Doc, proc: etree._Element) -> str:
    name = (proc.get("name") or "").strip()
    if name:
        return name
    assert doc.root is not None
    # Camunda Modeler puts the pool's label on the participant, not on the process.
    for participant in doc.root.iter(_b("participant")):
        if participant.get("processRef") == proc.get("id") and (participant.get("name") or "").strip():
            return participant.get("name").strip()
    return proc.get("id") or ""
