"""ProcessDefinition and the facts derived from a built spec: user tasks, forms, first tasks, timer documentation."""
from __future__ import annotations

import ast
import re
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

from engine.form_rules import date_bound
from engine.models import OUTCOME_CLASSES
from engine.specs.values import _as_float, _as_int
from engine.specs.xmldoc import _b, _c, _Doc


@dataclass(frozen=True)
class FormField:
    """One field of a user task form (camunda:formField)."""

    id: str
    label: str
    type: str  # 'string' | 'long' | 'boolean' | 'date' | 'enum'
    required: bool
    enum: list[tuple[str, str]] | None  # (value id, display name)
    default: str | None
    min: float | str | None  # on a date field: `today` or an ISO date
    max: float | str | None
    minlength: int | None
    maxlength: int | None
    readonly: bool
    # Form field properties (camunda:properties of the formField, docs/designers.md "Form fields"):
    options_from: str | None = None  # jiefen.options: the options come from the case (org_units_below)
    multiple: bool = False  # jiefen.multiple=true: an enum of which several values are chosen (a list)
    parent_only: list[str] | None = None  # jiefen.parent_only_options: offered only below a parent center
    phone: bool = False  # camunda:constraint name="phone" (engine/form_rules.py)
    show_if: str | None = None  # the jiefen.show_if field property: `field == 'literal'` / `!=`
    # jiefen.suggestion: the case variable (`name` or `name.key`, e.g. a decision result) whose value the form
    # offers as the field's default, marked 建议 (suggested); the person confirms or overrides it
    suggestion: str | None = None
    # jiefen.group = "key:label": the field is a column of a repeatable group (one row per party); the form's
    # data holds a list of rows under `key` (engine/forms.py), labelled `label` for people.
    group: str | None = None
    group_label: str | None = None


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
    # jiefen.ladder = off: no supervision ladder on this task (a party's own window, a court-internal limit, or
    # a task whose lateness the process supervises itself); engine/ladder.py
    ladder: bool = True


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
    # `jiefen.*` camunda properties by element id, "jiefen." taken off: open_case / link_kind (a linked case),
    # move_case (上报). Read from the whole file, as deployed.
    jiefen_properties: dict[str, dict[str, str]] = field(default_factory=dict)
    start_form: list[FormField] = field(default_factory=list)  # the process's own start event's formData
    decisions: dict[str, str] = field(default_factory=dict)  # decision id -> sha256 of the embedded table's file


def _bound(kind: str | None, config: str | None) -> float | str | None:
    """A min/max constraint's value: a number, or on a date field `today` or an ISO date (form_rules)."""
    return date_bound(config) if (kind or "").strip().lower() == "date" else _as_float(config)


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
            min=_bound(fld.type, checks.get("min")),
            max=_bound(fld.type, checks.get("max")),
            minlength=_as_int(checks.get("minlength")),
            maxlength=_as_int(checks.get("maxlength")),
            readonly="readonly" in checks,
            options_from=fld.get_property("jiefen.options") or None,
            multiple=(fld.get_property("jiefen.multiple") or "").strip().lower() == "true",
            parent_only=[v.strip() for v in (fld.get_property("jiefen.parent_only_options") or "").split(",")
                         if v.strip()] or None,
            phone="phone" in checks,
            show_if=next((p.value for p in getattr(fld, "properties", []) if p.id == "jiefen.show_if"), None),
            suggestion=(fld.get_property("jiefen.suggestion") or "").strip() or None,
            **_group(fld.get_property("jiefen.group")),
        ))
    return out


def _group(value: str | None) -> dict:
    """jiefen.group "key:label" as FormField's group and group_label (checked by user_task_checks)."""
    key, _sep, label = (value or "").partition(":")
    return {"group": key.strip(), "group_label": label.strip() or key.strip()} if key.strip() else {}


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
        ladder=(ext.get("jiefen.ladder") or "").strip() != "off",
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


def outcome_class_id(value: str | None) -> str | None:
    """The OUTCOME_CLASSES id a jiefen.outcome_class value names (the id or its Chinese name); None if none."""
    value = (value or "").strip()
    if value in OUTCOME_CLASSES:
        return value
    return next((k for k, v in OUTCOME_CLASSES.items() if v == value), None)


def _jiefen_properties(root: etree._Element) -> dict[str, dict[str, str]]:
    """`jiefen.*` camunda:property values by the id of the nearest element above them that has one."""
    found: dict[str, dict[str, str]] = {}
    for prop in root.iter(_c("property")):
        name, value = prop.get("name") or "", (prop.get("value") or "").strip()
        if not name.startswith("jiefen.") or not value:
            continue
        owner = prop.getparent()
        while owner is not None and owner.get("id") is None:
            owner = owner.getparent()
        if owner is not None:
            found.setdefault(owner.get("id"), {})[name[len("jiefen."):]] = value
    return found


def _start_form(proc: etree._Element) -> list[FormField]:
    """The camunda:formData of the process's own start event (Camunda 7's start form), as a user task's form
    fields; [] without one. SpiffWorkflow's parser reads the forms of user tasks only."""
    for start in proc.iterfind(_b("startEvent")):
        fields_ = [f for f in start.iterfind(f"{_b('extensionElements')}/{_c('formData')}/{_c('formField')}")
                   if f.get("id")]
        if not fields_:
            continue
        form = []
        for fld in fields_:
            checks = {v.get("name"): v.get("config") for v in fld.iterfind(f"{_c('validation')}/{_c('constraint')}")}
            kind = (fld.get("type") or "string").strip().lower()
            form.append(FormField(
                id=fld.get("id"), label=fld.get("label") or fld.get("id"), type=kind,
                required="required" in checks, default=fld.get("defaultValue"),
                enum=[(v.get("id"), v.get("name") or v.get("id")) for v in fld.iterfind(_c("value"))]
                if kind == "enum" else None,
                min=_bound(kind, checks.get("min")), max=_bound(kind, checks.get("max")),
                minlength=_as_int(checks.get("minlength")), maxlength=_as_int(checks.get("maxlength")),
                readonly="readonly" in checks, phone="phone" in checks,
                show_if=next((p.get("value") for p in fld.iterfind(f"{_c('properties')}/{_c('property')}")
                              if p.get("id") == "jiefen.show_if"), None)))
        return form
    return []


def roles_named(defn: ProcessDefinition, lane_roles: dict[str, str]) -> dict[str, str | None]:
    """Every role a process routes to, with a title where the process gives one (the lane's name, an enum
    label): candidate groups, literal role names and enum values inside `=expr` candidate groups, the role
    of a lane without candidate groups (config/org.toml [lane_roles]), and the starter groups."""
    roles: dict[str, str | None] = {}

    def add(entry: str, title: str | None = None) -> None:
        name = entry.split("@", 1)[0].strip()
        if name:
            roles.setdefault(name, title)

    for info in defn.user_tasks.values():
        for entry in info.candidate_groups:
            add(entry, info.lane)
        if info.candidate_groups_expr:
            # Literal role names inside `=expr`, and enum values of a form field the expression names.
            try:
                tree = ast.parse(info.candidate_groups_expr, mode="eval")
            except SyntaxError:
                tree = None
            names = set()
            for node in ast.walk(tree) if tree else []:
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                    add(node.value)
                elif isinstance(node, ast.Name):
                    names.add(node.id)
            for other in defn.user_tasks.values():
                for fld in other.form:
                    if fld.id in names and fld.enum:
                        for value, label in fld.enum:
                            add(value, label)
        if info.lane and not info.candidate_groups and not info.candidate_groups_expr:
            add(lane_roles.get(info.lane, info.lane), info.lane)
    for role in defn.start_roles:
        add(role)
    return roles



def parse_value_names(text: str) -> list[tuple[str, str]] | None:
    """`jiefen.values.<var>`: "id=name" pairs separated by ';', '；' or new lines (e.g.
    "valid=裁定有效；rejected=驳回"); None when an entry has no '=', an empty id or name, or an id twice."""
    pairs: list[tuple[str, str]] = []
    for item in re.split(r"[;；\n]", text):
        if not item.strip():
            continue
        value, sep, name = item.partition("=")
        if not sep or not value.strip() or not name.strip() or value.strip() in {v for v, _ in pairs}:
            return None
        pairs.append((value.strip(), name.strip()))
    return pairs or None


def data_labels(props: dict[str, str]) -> dict[str, dict]:
    """Labels a designer gives data that no form field names (variables set by scripts: `jc_result`,
    `mediation_rounds`), from the process element's `jiefen.label.<var>` and `jiefen.values.<var>` properties
    ("jiefen." already taken off): var -> {"label", "enum" ([id, name] pairs or None)}. Data neither a form
    field nor labelled here is not shown to staff in the history (the API keeps it)."""
    out: dict[str, dict] = {}
    for key, value in props.items():
        if key.startswith("label.") and key[len("label."):].isidentifier():
            var = key[len("label."):]
            pairs = parse_value_names(props.get(f"values.{var}", "")) or None
            out[var] = {"label": value, "enum": [list(p) for p in pairs] if pairs else None}
    return out
