"""Load, validate and prepare BPMN process definitions (specs) for the engine.

A *spec* is a process definition; a *case* is one run of it. This module turns the bytes of a deployment
(one or more Camunda 7 BPMN files) into ready-to-run SpiffWorkflow specs plus the facts the rest of the
engine needs (user tasks with roles, forms and due dates, timers and their legal basis), or rejects the
deployment with *every* problem found, each phrased for a process designer (element id, line, message).

Decisions (see also the report to the lead):

- XML is parsed with lxml without entity resolution, DTD loading or network access, and any DOCTYPE is
  rejected before parsing: no BPMN modeler writes one, and entity declarations are how XXE and
  "billion laughs" attacks work.
- Camunda 8 (`zeebe:`) files are rejected with a pointer to the Camunda Platform 7 export.
- Executability follows Camunda 7 for new deployments: only a `bpmn:process` with `isExecutable="true"`
  is deployed; `isExecutable="false"` *and a missing attribute* mean "documentation only" and are skipped.
  A file in which nothing is executable is rejected, naming its processes (Camunda 7 would silently deploy
  nothing, which only surprises people later).
- Expressions are Python, checked by `engine.scripting`; `${...}` JUEL is rejected wherever it appears
  (documentation and Python script bodies excepted). Camunda 7 features the engine would silently ignore
  (Java/external service implementations, connectors, listeners, input/output and call-activity variable
  mappings, DMN business rule tasks, data stores, link and compensation events) are rejected, not skipped.
  A plain bpmn:serviceTask without implementation is accepted and does nothing, like a bpmn:task.
- Call activities must resolve, within the deployment or among already deployed files, to executable
  processes; recursive calls (a process calling itself, directly or not) are rejected because an unguarded
  one never reaches a wait state and would hang the worker. Unresolved bpmn:import locations are problems.
- SpiffWorkflow 3.2.0 work-arounds live in CamundaSpecParser / spec_serializer_config(): receive/send task
  messages, multi-instance markers on non-user tasks, message throws without a payload expression, and
  plain service tasks are all built so that the spec serializes and runs.
- The specs handed back are the ones restored from their own serialization, so a case started right after
  the deployment runs on exactly what later loads from the database.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import json
import keyword
import logging
import posixpath
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from lxml import etree
from SpiffWorkflow.bpmn.parser.event_parsers import ReceiveTaskParser, SendTaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import (EndEvent, IntermediateThrowEvent, ReceiveTask, ScriptTask, SendTask,
                                               ServiceTask)
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (CamundaEndEventParser, CamundaEventDefinitionParser,
                                                       CamundaIntermediateThrowEventParser)
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser, UserTaskParser
from SpiffWorkflow.camunda.parser.task_spec import ScriptTaskParser as CamundaScriptTaskParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.user_task import EnumFormField, Form
from SpiffWorkflow.camunda.specs.user_task import FormField as SpiffFormField
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.specs.base import TaskSpec

from engine import scripting
from engine.errors import Problem, ProcessDefinitionError

log = logging.getLogger(__name__)

__all__ = [
    "FormField", "UserTaskInfo", "ProcessDefinition", "CamundaSpecParser",
    "parse_files", "load_directory", "serialize_spec", "restore_spec", "spec_serializer_config",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"
# Pre-release BPMN 2.0 drafts used this namespace; some old tools still export it.
OLD_BPMN_NS = "http://schema.omg.org/spec/BPMN/2.0"

SPEC_FORMAT_KEY = "jiefen_spec_format"
SPEC_FORMAT_VERSION = 1

# Names the sandbox gives every expression (engine.calendar helpers); form fields must not hide them.
HELPER_NAMES = frozenset({"workdays", "legal_days", "natural_days"})
FORM_TYPES = ("string", "long", "boolean", "date", "enum")
CONSTRAINTS = ("required", "readonly", "min", "max", "minlength", "maxlength")
# camunda: attributes of a user task kept in task_spec.extensions (serialized with the spec).
USER_TASK_ATTRS = ("candidateGroups", "candidateUsers", "assignee", "dueDate", "followUpDate", "priority")

_XML_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           dtd_validation=False, remove_pis=False)


def _b(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _c(tag: str) -> str:
    return f"{{{CAMUNDA_NS}}}{tag}"


# --------------------------------------------------------------------------------------------- public API


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


def spec_serializer_config() -> dict:
    """The serializer config matching CamundaSpecParser (the workflow serializer must use it too).

    CAMUNDA_CONFIG plus a converter for plain service tasks. The receive/send task fix lives in the parser
    (it builds Camunda message definitions), so nothing else is needed for the classes the parser produces.
    """
    config = dict(CAMUNDA_CONFIG)
    # 3.2.0's DEFAULT_CONFIG has no converter for the plain bpmn:serviceTask spec the Camunda parser builds.
    config[ServiceTask] = BpmnTaskSpecConverter
    return config


def serialize_spec(defn: ProcessDefinition) -> str:
    """JSON text of a definition's spec and subprocess specs (stored once per process version)."""
    return _specs_to_json(defn.spec, defn.subprocess_specs)


def restore_spec(text: str) -> tuple[BpmnProcessSpec, dict]:
    """Inverse of serialize_spec: (spec, subprocess_specs)."""
    dct = json.loads(text)
    version = dct.get(SPEC_FORMAT_KEY)
    if version != SPEC_FORMAT_VERSION:
        raise ValueError(f"stored spec format {version!r} is not supported (expected {SPEC_FORMAT_VERSION})")
    registry = _registry()
    spec = registry.restore(dct["spec"])
    subprocess_specs = {name: registry.restore(sub) for name, sub in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


def load_directory(path: str | Path) -> dict[str, bytes]:
    """All *.bpmn and *.bpmn20.xml files of a directory (not recursive), by file name."""
    folder = Path(path)
    out: dict[str, bytes] = {}
    for item in sorted(folder.iterdir()):
        if item.is_file() and (item.name.endswith(".bpmn") or item.name.endswith(".bpmn20.xml")):
            out[item.name] = item.read_bytes()
    return out


# --------------------------------------------------------------------------------------------- parser


class _UserTaskParser(UserTaskParser):
    """Keeps the camunda: assignment attributes and reads form field types case-insensitively."""

    def parse_extensions(self, node: etree._Element | None = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)  # camunda:properties -> {name: value}
        for attr in USER_TASK_ATTRS:
            value = self.node.get(_c(attr))
            if value is None:
                continue
            value = value.strip()
            if attr.startswith("candidate") and not value.startswith("="):
                extensions[f"camunda:{attr}"] = _split_list(value)
            else:
                extensions[f"camunda:{attr}"] = value
        return extensions

    def get_form(self) -> Form:
        # Same as Spiff's, but 'Enum'/'LONG' etc. are accepted (the stock parser only knows 'enum' in lower case
        # and would drop the options of an 'Enum' field).
        form = Form()
        form.key = self.attribute("formKey", "camunda") or ""
        for xml_field in self.xpath(".//camunda:formData/camunda:formField"):
            kind = (xml_field.get("type") or "").strip().lower()
            if kind == "enum":
                spiff_field: SpiffFormField = EnumFormField()
                for child in xml_field:
                    if child.tag == _c("value"):
                        spiff_field.add_option(child.get("id"), child.get("name"))
            else:
                spiff_field = SpiffFormField()
            spiff_field.id = xml_field.get("id")
            spiff_field.type = kind
            spiff_field.label = xml_field.get("label")
            spiff_field.default_value = xml_field.get("defaultValue")
            for child in xml_field:
                if child.tag == _c("properties"):
                    for prop in child:
                        if isinstance(prop.tag, str):
                            spiff_field.add_property(prop.get("id"), prop.get("value"))
                elif child.tag == _c("validation"):
                    for constraint in child:
                        if isinstance(constraint.tag, str):
                            spiff_field.add_validation(constraint.get("name"), constraint.get("config"))
            form.add_field(spiff_field)
        return form


class _PayloadDefault:
    """Camunda's message definition evaluates its payload expression when thrown, even when there is none
    (3.2.0 then fails at run time on eval(None)); a message without camunda:expression carries None."""

    def parse_message_event(self, message_event: etree._Element) -> Any:
        definition = super().parse_message_event(message_event)  # type: ignore[misc]
        if getattr(definition, "expression", "") is None:
            definition.expression = "None"
        return definition


class _EndEventParser(_PayloadDefault, CamundaEndEventParser):
    pass


class _IntermediateThrowEventParser(_PayloadDefault, CamundaIntermediateThrowEventParser):
    pass


# SpiffWorkflow 3.2.0 bug: CamundaParser does not override receiveTask/sendTask, so their messages get the plain
# bpmn MessageEventDefinition, which CAMUNDA_CONFIG removed -> "Object of type MessageEventDefinition is not JSON
# serializable" when the spec is stored. Parse them with the Camunda message parser (spiff-study/zz_parser.py).
# CamundaTaskParser comes first in these classes: a multi-instance marker on a script/service/send/receive task
# must build the Camunda MI classes (camunda:collection semantics, and the only MI classes CAMUNDA_CONFIG can
# serialize), as it does on user tasks.
class _ReceiveTaskParser(CamundaTaskParser, CamundaEventDefinitionParser, ReceiveTaskParser):
    pass


class _SendTaskParser(_PayloadDefault, CamundaTaskParser, CamundaEventDefinitionParser, SendTaskParser):
    pass


class _ScriptTaskParser(CamundaTaskParser, CamundaScriptTaskParser):
    pass


class _ServiceTaskParser(CamundaTaskParser):
    pass


class CamundaSpecParser(CamundaParser):
    """CamundaParser that keeps user-task assignments (task_spec.extensions) and builds only specs that the
    serializer can store and the engine can run (see the work-arounds above)."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (_UserTaskParser, UserTask),
        full_tag("receiveTask"): (_ReceiveTaskParser, ReceiveTask),
        full_tag("sendTask"): (_SendTaskParser, SendTask),
        full_tag("scriptTask"): (_ScriptTaskParser, ScriptTask),
        full_tag("endEvent"): (_EndEventParser, EndEvent),
        full_tag("intermediateThrowEvent"): (_IntermediateThrowEventParser, IntermediateThrowEvent),
        full_tag("serviceTask"): (_ServiceTaskParser, ServiceTask),
    }


# Flow elements the parser can build; anything else inside a process is reported as unsupported.
_SUPPORTED_FLOW_TAGS = (frozenset(CamundaSpecParser.PARSER_CLASSES)
                        | frozenset(CamundaSpecParser.OVERRIDE_PARSER_CLASSES))
# Children of a process/subprocess that are not flow nodes and need no parser.
_NON_FLOW_TAGS = frozenset(_b(t) for t in (
    "sequenceFlow", "laneSet", "lane", "dataObject", "dataObjectReference", "dataStoreReference", "textAnnotation",
    "association", "group", "documentation", "extensionElements", "ioSpecification", "property", "incoming",
    "outgoing", "dataInputAssociation", "dataOutputAssociation", "standardLoopCharacteristics",
    "multiInstanceLoopCharacteristics", "auditing", "monitoring", "category", "categoryValue",
    "correlationSubscription", "supports", "resourceRole", "performer", "humanPerformer", "potentialOwner",
    "dataInput", "dataOutput", "inputSet", "outputSet", "completionCondition",
))
# What to tell a designer about BPMN elements the engine cannot run.
_UNSUPPORTED_HINTS = {
    "complexGateway": "Complex gateways are not supported; use exclusive, inclusive or parallel gateways.",
    "businessRuleTask": ("Business rule tasks (DMN decision tables) are not supported; decide in a script task "
                         "or with gateway conditions."),
}


# --------------------------------------------------------------------------------------------- documents


class _Doc:
    """One BPMN file: its bytes, safe lxml tree and the problems found in it."""

    def __init__(self, name: str, data: bytes):
        self.name = name
        self.data = data
        self.tree: etree._ElementTree | None = None
        self.root: etree._Element | None = None
        self.fatal = False  # unreadable, unsafe, not BPMN or Camunda 8: no further checks
        self.problems: list[Problem] = []
        self._ids: dict[str, etree._Element] | None = None

    def problem(self, message: str, el: etree._Element | None = None, element_id: str | None = None,
                line: int | None = None) -> None:
        if el is not None:
            owner = _owner(el)
            if element_id is None and owner is not None:
                element_id = owner.get("id")
            if line is None:
                line = el.sourceline
        if line is None and element_id:
            line = self.line_of(element_id)
        self.problems.append(Problem(message=message, element_id=element_id, line=line, file=self.name))

    @property
    def ids(self) -> dict[str, etree._Element]:
        if self._ids is None:
            self._ids = {}
            if self.root is not None:
                for el in self.root.iter():
                    if isinstance(el.tag, str) and _is_model_element(el):
                        el_id = el.get("id")
                        if el_id and el_id not in self._ids:
                            self._ids[el_id] = el
        return self._ids

    def line_of(self, element_id: str | None) -> int | None:
        el = self.ids.get(element_id) if element_id else None
        return el.sourceline if el is not None else None

    @property
    def processes(self) -> list[etree._Element]:
        return [] if self.root is None else self.root.findall(_b("process"))


def _is_model_element(el: etree._Element) -> bool:
    ns = etree.QName(el).namespace
    return ns in (BPMN_NS, BPMNDI_NS, DC_NS, DI_NS)


# Parts of an element that may carry their own id but are not what a designer clicks on in the modeler.
_INNER_TAGS = frozenset(_b(t) for t in (
    "conditionExpression", "condition", "timeDate", "timeDuration", "timeCycle", "loopCardinality",
    "completionCondition", "loopCondition", "script", "multiInstanceLoopCharacteristics",
    "standardLoopCharacteristics", "extensionElements", "documentation", "ioSpecification", "dataInput",
    "dataOutput", "inputSet", "outputSet", "dataInputAssociation", "dataOutputAssociation", "formalExpression",
))


def _owner(el: etree._Element) -> etree._Element | None:
    """Nearest BPMN element with an id that the modeler shows (the event, not its timer definition)."""
    node: etree._Element | None = el
    while node is not None:
        tag = node.tag
        if (isinstance(tag, str) and tag.startswith(f"{{{BPMN_NS}}}") and node.get("id")
                and tag not in _INNER_TAGS and not tag.endswith("EventDefinition")):
            return node
        node = node.getparent()
    return None


def _scan_text(data: bytes) -> str:
    """Text good enough to find markup keywords, whatever the declared encoding."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if data[:4] == b"<\x00?\x00":
        return data.decode("utf-16-le", errors="replace")
    if data[:4] == b"\x00<\x00?":
        return data.decode("utf-16-be", errors="replace")
    return data.decode("latin-1")  # keeps every byte; the keywords are ASCII


def _load_doc(name: str, data: bytes) -> _Doc:
    """Safely parse one file; file-level problems (empty, unsafe, malformed, not BPMN, Camunda 8) are fatal."""
    doc = _Doc(name, data)
    if not data.strip():
        doc.problem("The file is empty.", line=1)
        doc.fatal = True
        return doc

    # Refuse DOCTYPEs before lxml sees them: entity declarations are XXE / billion-laughs vectors and no
    # BPMN modeler writes a DOCTYPE at all.
    text = _scan_text(data)
    root_tag = re.search(r"<[A-Za-z_:]", text)  # a DOCTYPE can only come before the root element
    pos = text.find("<!DOCTYPE", 0, root_tag.start() if root_tag else len(text))
    if pos >= 0:
        line = text.count("\n", 0, pos) + 1
        if "<!ENTITY" in text:
            doc.problem("The file declares XML entities in a DOCTYPE. Entities are not allowed in BPMN files "
                        "(they can read files from the server or expand to gigabytes); remove the DOCTYPE.",
                        line=line)
        elif re.match(r"<!DOCTYPE\s+[^\s>\[]+\s+(SYSTEM|PUBLIC)\b", text[pos:]):
            doc.problem("The file refers to an external DTD in its DOCTYPE. External DTDs are not allowed in BPMN "
                        "files (they make the server fetch other files); remove the DOCTYPE.", line=line)
        else:
            doc.problem("The file contains a DOCTYPE declaration, which BPMN files must not have; remove it.",
                        line=line)
        doc.fatal = True
        return doc

    try:
        root = etree.fromstring(data, etree.XMLParser(**_XML_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        msg = re.sub(r", line \d+, column \d+$", "", exc.msg or "syntax error")
        doc.problem(f"The file is not well-formed XML: {msg} (line {exc.lineno}, column {exc.position[1]}).",
                    line=exc.lineno)
        doc.fatal = True
        return doc
    tree = root.getroottree()
    info = tree.docinfo
    if info.internalDTD is not None or info.system_url or info.public_id:
        # The byte scan missed it (an unusual encoding): same rule, nothing was expanded or fetched.
        doc.problem("The file contains a DOCTYPE declaration, which BPMN files must not have; remove it.", line=1)
        doc.fatal = True
        return doc
    doc.tree, doc.root = tree, root

    qname = etree.QName(root)
    if qname.namespace != BPMN_NS or qname.localname != "definitions":
        if qname.namespace == OLD_BPMN_NS:
            why = (f"it uses the pre-release BPMN namespace '{OLD_BPMN_NS}'; re-export it as BPMN 2.0 "
                   f"('{BPMN_NS}')")
        elif qname.namespace != BPMN_NS:
            why = (f"its root element <{qname.localname}> is not in the BPMN 2.0 namespace '{BPMN_NS}' "
                   f"(found '{qname.namespace or 'no namespace'}')")
        else:
            why = f"its root element is <{qname.localname}>, not <definitions>"
        doc.problem(f"This is not a BPMN 2.0 file: {why}.", line=root.sourceline)
        doc.fatal = True
        return doc

    if _is_camunda8(root):
        first = next(root.iter(f"{{{ZEEBE_NS}}}*"), None)
        doc.problem("This file was made for Camunda 8 (Zeebe): it uses the zeebe: extension namespace. Camunda 8 "
                    "files are not supported. In the Camunda Modeler create or export the diagram for "
                    "'Camunda Platform 7' (and use camunda: properties and Python expressions).",
                    el=first if first is not None else root)
        doc.fatal = True
    return doc


def _is_camunda8(root: etree._Element) -> bool:
    if root.get(f"{{{MODELER_NS}}}executionPlatform", "").strip().lower() == "camunda cloud":
        return True
    return bool(root.xpath("boolean(//namespace::*[. = $ns])", ns=ZEEBE_NS))


# --------------------------------------------------------------------------------------------- helpers


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",")]


def _quote(src: str, limit: int = 80) -> str:
    """An expression as it appears in a message: one line, shortened."""
    text = " ".join(src.split())
    return f"«{text if len(text) <= limit else text[:limit - 1] + '…'}»"


def _has_juel(value: str | None) -> bool:
    return bool(value) and ("${" in value or "#{" in value)


# How messages name an element whose text is an expression.
_TEXT_LABELS = {"conditionExpression": "Condition", "condition": "Condition", "timeDate": "Timer timeDate",
                "timeDuration": "Timer timeDuration", "timeCycle": "Timer timeCycle",
                "loopCardinality": "Loop cardinality", "completionCondition": "Completion condition",
                "loopCondition": "Loop condition"}

_JUEL_HINT = ("JUEL expressions (${...}) are Camunda's Java expression language, which this engine does not run. "
              "Write Python instead: a plain Python condition (e.g. approved == True), or '=expr' for task "
              "assignments (e.g. camunda:candidateGroups=\"=handling_unit\").")

_ISO_DURATION = re.compile(r"^-?P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def _is_iso_date_or_duration(value: str) -> bool:
    if _ISO_DURATION.match(value):
        return True
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        return False


def _as_int(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _as_float(value: str | None) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _run_check(check: Callable[..., list[str]], *args: Any) -> list[str]:
    """Call an engine.scripting check; a crash in it must not look like a problem in the designer's file."""
    try:
        return [str(m) for m in check(*args) if m]
    except Exception:  # noqa: BLE001 - logged with traceback, reported without one
        log.exception("scripting check %s failed", getattr(check, "__name__", check))
        return ["The expression could not be checked (internal error, logged for the administrator)."]


def _identifier_problem(name: str | None, what: str) -> str | None:
    """Why `name` cannot be a data variable that expressions read, or None."""
    if not name:
        return f"{what} has no id."
    if not name.isidentifier():
        return (f"{what} id '{name}' is not a valid variable name: use letters, digits and '_', not starting with "
                "a digit (expressions refer to the field by this id).")
    if keyword.iskeyword(name):
        return f"{what} id '{name}' is a Python keyword; expressions could not refer to it. Rename the field."
    if name in HELPER_NAMES:
        return (f"{what} id '{name}' would hide the deadline helper {name}() that expressions use. "
                "Rename the field.")
    if name in scripting.FORBIDDEN_NAMES:
        return (f"{what} id '{name}' is a name expressions may not use, so no condition could read the field. "
                f"Give it a more specific id (e.g. dispute_{name}).")
    if name in scripting.BUILTIN_NAMES:
        return (f"{what} id '{name}' would hide the built-in '{name}' that expressions use. "
                f"Give it a more specific id (e.g. dispute_{name}).")
    if name.startswith("_"):
        return f"{what} id '{name}' starts with '_'; such names are reserved in expressions. Rename the field."
    return None


# --------------------------------------------------------------------------------------------- checks


class _Checker:
    """Designer-level checks of one executable process element (and everything nested in it)."""

    def __init__(self, doc: _Doc, process: etree._Element):
        self.doc = doc
        self.process = process

    def run(self) -> None:
        for el in self.process.iter():
            if not isinstance(el.tag, str):
                continue
            self._juel(el)
            ns, local = etree.QName(el).namespace, etree.QName(el).localname
            if ns == BPMN_NS:
                handler = getattr(self, f"_bpmn_{local}", None)
                if handler is not None:
                    handler(el)
                if local in ("process", "subProcess", "transaction", "adHocSubProcess"):
                    self._flow_children(el)
                if local in ("serviceTask", "sendTask", "businessRuleTask", "scriptTask", "userTask", "task",
                             "manualTask", "receiveTask"):
                    self._implementation(el)
            elif ns == CAMUNDA_NS:
                handler = getattr(self, f"_camunda_{local}", None)
                if handler is not None:
                    handler(el)
        self._starter_groups()

    # -- generic

    def _juel(self, el: etree._Element) -> None:
        local = etree.QName(el).localname
        if local in ("documentation", "text", "script") or etree.QName(el).namespace in (BPMNDI_NS, DC_NS, DI_NS):
            return  # prose, or Python source checked by check_script
        for attr, value in el.attrib.items():
            if _has_juel(value):
                self.doc.problem(f"{_attr_label(attr)} = \"{value}\": {_JUEL_HINT}", el)
        if _has_juel(el.text):
            what = _TEXT_LABELS.get(local, f"<{_tag_label(el)}>")
            self.doc.problem(f"{what} {_quote(el.text)}: {_JUEL_HINT}", el)

    def _flow_children(self, container: etree._Element) -> None:
        for child in container:
            if not isinstance(child.tag, str) or not child.tag.startswith(f"{{{BPMN_NS}}}"):
                continue
            if child.tag in _SUPPORTED_FLOW_TAGS or child.tag in _NON_FLOW_TAGS:
                continue
            local = etree.QName(child).localname
            hint = _UNSUPPORTED_HINTS.get(local, f"<bpmn:{local}> elements are not supported by the engine.")
            self.doc.problem(hint, child)

    def _expression(self, el: etree._Element, src: str | None, what: str, *, owner: etree._Element | None = None,
                    allow_empty: bool = False) -> None:
        if src is None or not src.strip():
            if not allow_empty:
                self.doc.problem(f"{what} is empty.", owner if owner is not None else el)
            return
        if _has_juel(src):
            return  # reported once by _juel
        for msg in _run_check(scripting.check_expression, src.strip()):
            self.doc.problem(f"{what} {_quote(src)}: {msg}", owner if owner is not None else el)

    def _language(self, el: etree._Element, attr: str, what: str) -> bool:
        lang = (el.get(attr) or "").strip()
        if lang and lang.lower() != "python":
            self.doc.problem(f"{what} is written in '{lang}'; only Python is supported (leave the "
                             "format empty or set it to 'python').", el)
            return False
        return True

    # -- sequence flows and conditions

    def _bpmn_sequenceFlow(self, el: etree._Element) -> None:
        for attr in ("sourceRef", "targetRef"):
            ref = el.get(attr)
            if not ref:
                self.doc.problem(f"The sequence flow has no {attr}.", el)
            elif ref not in self.doc.ids:
                direction = "starts at" if attr == "sourceRef" else "points to"
                self.doc.problem(f"The sequence flow {direction} '{ref}', which does not exist in the file.", el)
        cond = el.find(_b("conditionExpression"))
        if cond is not None:
            if self._language(cond, "language", "The condition"):
                self._expression(cond, cond.text, "Condition")

    def _bpmn_conditionalEventDefinition(self, el: etree._Element) -> None:
        cond = el.find(_b("condition"))
        if cond is None:
            self.doc.problem("The conditional event has no condition.", el)
        elif self._language(cond, "language", "The condition"):
            self._expression(cond, cond.text, "Condition")

    def _bpmn_standardLoopCharacteristics(self, el: etree._Element) -> None:
        cond = el.find(_b("loopCondition"))
        if cond is not None:
            self._expression(cond, cond.text, "Loop condition")
        maximum = el.get("loopMaximum")
        if maximum is not None and _as_int(maximum) is None:
            self.doc.problem(f"loopMaximum '{maximum}' is not a whole number.", el)

    def _bpmn_multiInstanceLoopCharacteristics(self, el: etree._Element) -> None:
        card = el.find(_b("loopCardinality"))
        if card is not None:
            self._expression(card, card.text, "Loop cardinality")
        done = el.find(_b("completionCondition"))
        if done is not None:
            self._expression(done, done.text, "Completion condition", allow_empty=True)
        for attr in ("collection", "elementVariable"):
            value = el.get(_c(attr))
            if value is not None and not _has_juel(value) and not value.strip().isidentifier():
                self.doc.problem(f"camunda:{attr} '{value}' must be the name of a process variable.", el)

    # -- scripts and timers

    def _bpmn_scriptTask(self, el: etree._Element) -> None:
        if not self._language(el, "scriptFormat", "The script"):
            return
        if el.get(_c("resource")):
            self.doc.problem("External script resources (camunda:resource) are not supported; put the Python "
                             "script inline.", el)
            return
        script = el.find(_b("script"))
        if script is None or not (script.text or "").strip():
            self.doc.problem("The script task has no script.", el)
            return
        for msg in _run_check(scripting.check_script, script.text):
            self.doc.problem(f"Script: {msg}", script)

    def _bpmn_timerEventDefinition(self, el: etree._Element) -> None:
        kinds = [child for child in el if child.tag in (_b("timeDate"), _b("timeDuration"), _b("timeCycle"))]
        if not kinds:
            self.doc.problem("The timer has no date, duration or cycle.", el)
            return
        for child in kinds:
            kind = etree.QName(child).localname
            src = (child.text or "").strip()
            if not src:
                self.doc.problem(f"The timer's {kind} is empty.", child)
            elif not _has_juel(src):
                for msg in _run_check(scripting.check_timer_expression, src, kind):
                    if msg == getattr(scripting, "TIMER_HINT", None) and re.match(r"^[RP\d]", src):
                        msg = f"{msg}. Timer values are Python, so quote the ISO text: \"{src}\""
                    self.doc.problem(f"Timer {kind} {_quote(src)}: {msg}", child)

    # -- references between elements

    def _ref(self, el: etree._Element, attr: str, tag: str, what: str) -> None:
        ref = el.get(attr)
        if ref is None:
            return
        target = self.doc.ids.get(ref)
        if target is None or target.tag != _b(tag):
            self.doc.problem(f"The {what} '{ref}' this element refers to is not defined in the file.", el)

    def _bpmn_messageEventDefinition(self, el: etree._Element) -> None:
        self._ref(el, "messageRef", "message", "message")
        self._payload(el)

    def _bpmn_receiveTask(self, el: etree._Element) -> None:
        self._ref(el, "messageRef", "message", "message")

    def _bpmn_sendTask(self, el: etree._Element) -> None:
        self._ref(el, "messageRef", "message", "message")
        self._payload(el)

    def _payload(self, el: etree._Element) -> None:
        payload = el.get(_c("expression"))
        if payload is not None and not _has_juel(payload):
            self._expression(el, payload, "Message payload (camunda:expression)")

    def _bpmn_signalEventDefinition(self, el: etree._Element) -> None:
        self._ref(el, "signalRef", "signal", "signal")

    def _bpmn_errorEventDefinition(self, el: etree._Element) -> None:
        self._ref(el, "errorRef", "error", "error")

    def _bpmn_escalationEventDefinition(self, el: etree._Element) -> None:
        self._ref(el, "escalationRef", "escalation", "escalation")

    def _bpmn_linkEventDefinition(self, el: etree._Element) -> None:
        self.doc.problem("Link events are not supported; connect the elements with a sequence flow.", el)

    def _bpmn_compensateEventDefinition(self, el: etree._Element) -> None:
        self.doc.problem("Compensation events are not supported.", el)

    def _bpmn_boundaryEvent(self, el: etree._Element) -> None:
        ref = el.get("attachedToRef")
        if not ref:
            self.doc.problem("The boundary event is not attached to any activity (attachedToRef is missing).", el)
        else:
            target = self.doc.ids.get(ref)
            local = etree.QName(target).localname if target is not None else None
            if target is None:
                self.doc.problem(f"The boundary event is attached to '{ref}', which does not exist.", el)
            elif not (local.endswith("Task") or local in ("subProcess", "callActivity", "transaction",
                                                           "adHocSubProcess", "task")):
                self.doc.problem(f"The boundary event is attached to '{ref}', which is a {local}, not an "
                                 "activity.", el)
        if not any(isinstance(c.tag, str) and c.tag.endswith("EventDefinition") for c in el):
            self.doc.problem("The boundary event has no event definition (timer, message, error, ...).", el)

    def _bpmn_eventBasedGateway(self, el: etree._Element) -> None:
        # SpiffWorkflow keeps one due time per event-based gateway: with two timers behind it, both would
        # fire at the earlier moment and the winner would be arbitrary.
        targets = {flow.get("targetRef") for flow in self.process.iter(_b("sequenceFlow")) if flow.get("sourceRef") == el.get("id")}
        timers = [t for t in targets if t and any(
            child.get("id") == t and child.find(_b("timerEventDefinition")) is not None
            for child in self.process.iter(_b("intermediateCatchEvent")))]
        if len(timers) > 1:
            self.doc.problem(f"event-based gateway waits on {len(timers)} timers ({', '.join(sorted(timers))}); "
                             "at most one timer is supported — keep the earliest and model the others as "
                             "boundary timers on a task.", el)

    def _bpmn_callActivity(self, el: etree._Element) -> None:
        called = (el.get("calledElement") or "").strip()
        if not called:
            self.doc.problem("The call activity does not say which process it calls (Called element is empty).",
                             el)
        for child in el.findall(f"{_b('extensionElements')}/{_c('in')}") + \
                el.findall(f"{_b('extensionElements')}/{_c('out')}"):
            if child.get("variables") != "all":
                direction = "in" if child.tag == _c("in") else "out"
                self.doc.problem(f"camunda:{direction} variable mappings are not supported: the called process "
                                 "always sees all case data and its results are merged back (use "
                                 f"camunda:{direction} variables=\"all\" or remove the mapping).", child)

    def _bpmn_dataStoreReference(self, el: etree._Element) -> None:
        self.doc.problem("Data stores are not supported by the engine; remove the data store reference (case "
                         "data lives in the case's variables).", el)

    def _bpmn_subProcess(self, el: etree._Element) -> None:
        starts = el.findall(_b("startEvent"))
        if len(starts) != 1 and el.get("triggeredByEvent") != "true":
            self.doc.problem(f"An embedded subprocess needs exactly one start event; it has {len(starts)}.", el)
        if not el.findall(_b("endEvent")):
            self.doc.problem("The embedded subprocess has no end event.", el)

    _bpmn_transaction = _bpmn_subProcess

    def _bpmn_businessRuleTask(self, el: etree._Element) -> None:
        self.doc.problem(_UNSUPPORTED_HINTS["businessRuleTask"], el)

    # -- user tasks

    def _bpmn_userTask(self, el: etree._Element) -> None:
        for attr in ("candidateGroups", "candidateUsers"):
            value = el.get(_c(attr))
            if value is None or _has_juel(value):
                continue
            value = value.strip()
            if value.startswith("="):
                self._expression(el, value[1:], f"camunda:{attr} expression")
            elif not value or any(not item for item in _split_list(value)):
                self.doc.problem(f"camunda:{attr} \"{value}\" must be a comma-separated list of names without "
                                 "empty entries, or an expression starting with '='.", el)
        assignee = el.get(_c("assignee"))
        if assignee is not None and not _has_juel(assignee):
            if assignee.strip().startswith("="):
                self._expression(el, assignee.strip()[1:], "camunda:assignee expression")
            elif not assignee.strip():
                self.doc.problem("camunda:assignee is empty.", el)
        for attr in ("dueDate", "followUpDate"):
            value = el.get(_c(attr))
            if value is None or _has_juel(value):
                continue
            value = value.strip()
            if value.startswith("="):
                self._expression(el, value[1:], f"camunda:{attr} expression")
            elif not _is_iso_date_or_duration(value):
                self.doc.problem(f"camunda:{attr} \"{value}\" is neither an ISO 8601 date/time (e.g. "
                                 "2025-03-31T17:00:00+08:00), an ISO 8601 duration (e.g. P5D) nor an expression "
                                 "starting with '=' (e.g. =workdays(5)).", el)
        priority = el.get(_c("priority"))
        if priority is not None and not _has_juel(priority):
            if priority.strip().startswith("="):
                self._expression(el, priority.strip()[1:], "camunda:priority expression")
            elif _as_int(priority) is None:
                self.doc.problem(f"camunda:priority \"{priority}\" is not a whole number.", el)
        self._form(el)

    def _form(self, task: etree._Element) -> None:
        seen: set[str] = set()
        for fld in task.iterfind(f"{_b('extensionElements')}/{_c('formData')}/{_c('formField')}"):
            fid = fld.get("id")
            label = f"Form field '{fid}'" if fid else "A form field"
            bad_id = _identifier_problem(fid, "Form field")
            if bad_id:
                self.doc.problem(bad_id, fld)
            elif fid in seen:
                self.doc.problem(f"Form field '{fid}' appears twice in the form.", fld)
            seen.add(fid or "")
            raw_type = (fld.get("type") or "").strip()
            kind = raw_type.lower()
            if not raw_type:
                self.doc.problem(f"{label} has no type; use one of: {', '.join(FORM_TYPES)}.", fld)
            elif kind not in FORM_TYPES:
                self.doc.problem(f"{label} has type '{raw_type}', which is not supported; use one of: "
                                 f"{', '.join(FORM_TYPES)}.", fld)
            values = [v for v in fld if v.tag == _c("value")]
            if kind == "enum":
                ids = [(v.get("id") or "").strip() for v in values]
                if not values:
                    self.doc.problem(f"{label} is an enum without values; add the choices (camunda:value).", fld)
                elif any(not i for i in ids):
                    self.doc.problem(f"{label} has an enum value without an id.", fld)
                elif len(set(ids)) != len(ids):
                    self.doc.problem(f"{label} lists the same enum value id twice.", fld)
            self._default(fld, label, kind, values)
            self._constraints(fld, label)

    def _default(self, fld: etree._Element, label: str, kind: str, values: list[etree._Element]) -> None:
        default = fld.get("defaultValue")
        if default is None or _has_juel(default):
            return
        text = default.strip()
        if kind == "long" and _as_int(text) is None:
            self.doc.problem(f"{label}: default value '{default}' is not a whole number.", fld)
        elif kind == "boolean" and text.lower() not in ("true", "false"):
            self.doc.problem(f"{label}: default value '{default}' must be true or false.", fld)
        elif kind == "enum" and values and text not in {v.get("id") for v in values}:
            self.doc.problem(f"{label}: default value '{default}' is not one of the enum value ids.", fld)
        elif kind == "date" and text:
            try:
                date.fromisoformat(text)
            except ValueError:
                self.doc.problem(f"{label}: default value '{default}' is not an ISO date (YYYY-MM-DD).", fld)

    def _constraints(self, fld: etree._Element, label: str) -> None:
        bounds: dict[str, float] = {}
        for con in fld.iterfind(f"{_c('validation')}/{_c('constraint')}"):
            name = (con.get("name") or "").strip()
            config = con.get("config")
            if name not in CONSTRAINTS:
                self.doc.problem(f"{label}: validation constraint '{name}' is not supported; use "
                                 f"{', '.join(CONSTRAINTS)}.", con)
            elif name in ("min", "max"):
                number = _as_float(config)
                if number is None:
                    self.doc.problem(f"{label}: constraint '{name}' needs a number as config, got "
                                     f"'{config or ''}'.", con)
                else:
                    bounds[name] = number
            elif name in ("minlength", "maxlength"):
                number = _as_int(config)
                if number is None or number < 0:
                    self.doc.problem(f"{label}: constraint '{name}' needs a non-negative whole number as config, "
                                     f"got '{config or ''}'.", con)
                else:
                    bounds[name] = number
        for low, high in (("min", "max"), ("minlength", "maxlength")):
            if low in bounds and high in bounds and bounds[low] > bounds[high]:
                self.doc.problem(f"{label}: constraint {low} ({bounds[low]:g}) is greater than {high} "
                                 f"({bounds[high]:g}).", fld)

    # -- Camunda features that would silently do nothing here

    def _implementation(self, el: etree._Element) -> None:
        for attr in ("class", "delegateExpression", "expression", "type", "topic"):
            value = el.get(_c(attr))
            if value is None or _has_juel(value):
                continue
            if attr == "expression" and el.tag == _b("sendTask"):
                continue  # SpiffWorkflow reads it as the message payload: checked as an expression
            self.doc.problem(f"camunda:{attr}=\"{value}\": Java delegates, expressions and external tasks are not "
                             "supported, so this task would do nothing. Use a script task (Python) or a user task.",
                             el)
        if el.find(f"{_b('extensionElements')}/{_c('connector')}") is not None:
            self.doc.problem("Camunda connectors are not supported, so this task would do nothing. Use a script "
                             "task (Python) or a user task.", el)

    def _camunda_executionListener(self, el: etree._Element) -> None:
        self.doc.problem("Execution listeners are not supported (they would never run); model the work as a "
                         "script task instead.", el)

    def _camunda_taskListener(self, el: etree._Element) -> None:
        self.doc.problem("Task listeners are not supported (they would never run); model the work as a script "
                         "task instead.", el)

    def _camunda_inputOutput(self, el: etree._Element) -> None:
        self.doc.problem("Input/output mappings (camunda:inputOutput) are not supported: tasks read and write "
                         "the case variables directly. Remove the mapping.", el)

    def _starter_groups(self) -> None:
        value = self.process.get(_c("candidateStarterGroups"))
        if value is None or _has_juel(value):
            return
        if value.strip().startswith("=") or any(not item for item in _split_list(value)):
            self.doc.problem(f"camunda:candidateStarterGroups \"{value}\" must be a comma-separated list of role "
                             "names (no expressions: there is no case data before the case starts).", self.process)


def _attr_label(attr: str) -> str:
    qname = etree.QName(attr)
    prefix = {CAMUNDA_NS: "camunda:", BPMN_NS: "", ZEEBE_NS: "zeebe:"}.get(qname.namespace or "", "")
    return f"{prefix}{qname.localname}"


def _tag_label(el: etree._Element) -> str:
    qname = etree.QName(el)
    prefix = {CAMUNDA_NS: "camunda:", BPMN_NS: "bpmn:"}.get(qname.namespace or "", "")
    return f"{prefix}{qname.localname}"


def _check_duplicate_ids(doc: _Doc) -> None:
    assert doc.root is not None
    first_seen: dict[str, etree._Element] = {}
    for el in doc.root.iter():
        if not isinstance(el.tag, str) or not _is_model_element(el):
            continue
        el_id = el.get("id")
        if not el_id:
            continue
        if el_id in first_seen and el.tag != _b("process"):  # duplicate processes are reported separately
            doc.problem(f"The id '{el_id}' is used by more than one element (first at line "
                        f"{first_seen[el_id].sourceline}); ids must be unique in a file.",
                        el, element_id=el_id)
        else:
            first_seen[el_id] = el


# --------------------------------------------------------------------------------------------- SpiffWorkflow errors

# SpiffWorkflow's parser messages -> what a designer can act on. {tag}: element kind, {m1}: first regex group.
_SPIFF_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"There is no support implemented for this task type"),
     "<{tag}> elements are not supported by the engine."),
    (re.compile(r"No start event found"), "The process has no start event."),
    (re.compile(r"Non-default exclusive outgoing sequence flow without condition"),
     "This sequence flow leaves a gateway without a condition and is not the gateway's default flow: add a "
     "condition or make it the default flow."),
    (re.compile(r"When looking for a task spec.*\((.*)\)"),
     "A sequence flow from this element points to '{m1}', which does not exist in the process."),
    (re.compile(r"Multiple outgoing flows are not supported"),
     "This element has several outgoing sequence flows; put a gateway after it (parallel to do all, exclusive "
     "to choose one)."),
    (re.compile(r'No "calledElement" attribute'),
     "The call activity does not say which process it calls (Called element is empty)."),
    (re.compile(r"Duplicate process ID: (.*)"),
     "The process id '{m1}' is defined more than once in this deployment."),
    (re.compile(r"Process (.*) is not executable"), "Process '{m1}' is not executable (isExecutable is not true)."),
    (re.compile(r"The process '(.*)' was not found"),
     "The called process '{m1}' is neither in this deployment nor deployed before."),
    (re.compile(r"Expected (?:a|an) (Message|Signal|error|Escalation) node"),
     "The {m1} this event refers to is not defined in the file."),
    (re.compile(r"Expected 1 result\. Received 0 results"),
     "This element refers to a message that is not defined in the file."),
    (re.compile(r"Unsupported Catch Event"),
     "The boundary event has no event definition (timer, message, error, ...)."),
    (re.compile(r"Cannot resolve data(Input|Output)Association"),
     "A data association of this element refers to a data object or data store that cannot be found."),
    (re.compile(r"Data Store with name (.*) has no implementation"), "Data stores are not supported ('{m1}')."),
    (re.compile(r"No DMN Diagram available with id \"?([^\",]*)"),
     "Business rule tasks (DMN decision tables) are not supported (decision '{m1}')."),
    (re.compile(r"Unknown Time Specification"), "The timer has no date, duration or cycle."),
    (re.compile(r"Exactly one start event is required in a SubWorkflow Task; found (\d+)"),
     "An embedded subprocess needs exactly one start event; it has {m1}."),
    (re.compile(r"A SubWorkflow Must contain an End event"), "The embedded subprocess has no end event."),
]

_REPR_RE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt))\((.*)\)\.?$", re.S)


def _clean_message(raw: str) -> str:
    """Strip Python reprs/object addresses from a message that was not translated."""
    text = raw.strip()
    match = _REPR_RE.match(text)
    if match:
        name, args = match.groups()
        try:
            parsed = ast.literal_eval(f"({args},)") if args.strip() else ()
        except (ValueError, SyntaxError):
            parsed = (args,)
        words = [str(a) for a in parsed if isinstance(a, str)]
        text = words[0].replace("%r", "").strip() if words else name
        if name == "KeyError":
            text = f"a required attribute is missing ({_attr_label(text.strip(chr(39)))})"
    text = re.sub(r"<Element [^>]*>", "an element", text)
    text = re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>", "an object", text)
    text = re.sub(r"\.\.+$", ".", text).strip()
    return text or "unknown error"


def _spiff_problem(exc: BaseException, docs: dict[str, _Doc], default_file: str | None) -> Problem:
    if isinstance(exc, ValidationException):
        raw = str(exc.args[0]) if exc.args else ""
        tag = exc.tag or ""
        element_id = exc.id or None
        file_name = exc.file_name or default_file
        line = exc.line_number if isinstance(exc.line_number, int) and exc.line_number > 0 else None
    else:
        raw, tag, element_id, file_name, line = str(exc) or type(exc).__name__, "", None, default_file, None
        if isinstance(exc, KeyError):
            raw = f"KeyError({exc.args[0]!r})" if exc.args else "KeyError()"
    if tag.startswith("{"):
        tag = _tag_label_from_clark(tag)
    message = None
    for pattern, template in _SPIFF_MESSAGES:
        match = pattern.search(raw)
        if match:
            m1 = match.group(1) if match.groups() else ""
            message = template.format(tag=tag or "element", m1=m1)
            break
    if message is None:
        message = f"The engine cannot use this element: {_clean_message(raw)}"
        if not message.endswith("."):
            message += "."
    doc = docs.get(file_name or "")
    if line is None and doc is not None and element_id:
        line = doc.line_of(element_id)
    return Problem(message=message, element_id=element_id, line=line, file=file_name)


def _tag_label_from_clark(tag: str) -> str:
    qname = etree.QName(tag)
    prefix = {CAMUNDA_NS: "camunda:", BPMN_NS: "bpmn:"}.get(qname.namespace or "", "")
    return f"{prefix}{qname.localname}"


# --------------------------------------------------------------------------------------------- serialization


@lru_cache(maxsize=1)
def _registry() -> DefaultRegistry:
    return BpmnWorkflowSerializer.configure(spec_serializer_config())


def _specs_to_json(spec: BpmnProcessSpec, subprocess_specs: dict) -> str:
    registry = _registry()
    dct = {
        SPEC_FORMAT_KEY: SPEC_FORMAT_VERSION,
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(sub) for name, sub in subprocess_specs.items()},
    }
    return json.dumps(dct, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _unserializable_task(specs: Iterable[BpmnProcessSpec]) -> tuple[str | None, str | None, str]:
    """(spec file, bpmn id, reason) of the first task spec that does not serialize, to point at the element."""
    registry = _registry()
    for spec in specs:
        for task_spec in spec.task_specs.values():
            try:
                json.dumps(registry.convert(task_spec))
            except (TypeError, ValueError) as exc:
                return spec.file, getattr(task_spec, "bpmn_id", None), str(exc)
    return None, None, ""


def _round_trip(spec: BpmnProcessSpec, subs: dict, pid: str, docs: dict[str, _Doc],
                file_name: str) -> tuple[tuple[BpmnProcessSpec, dict] | None, Problem | None]:
    """Serialize, restore and compare; the restored specs are what the engine will run."""
    try:
        text = _specs_to_json(spec, subs)
    except (TypeError, ValueError) as exc:
        bad_file, bad_id, reason = _unserializable_task([spec, *subs.values()])
        log.warning("spec %s does not serialize: %s", pid, reason or exc)
        doc = docs.get(bad_file or "")
        return None, Problem(
            message="The engine cannot store this element of the process definition (it contains something the "
                    "spec serializer does not know); please report this with the file.",
            element_id=bad_id, line=doc.line_of(bad_id) if doc else None, file=bad_file or file_name)
    try:
        restored = restore_spec(text)
        again = _specs_to_json(*restored)
    except Exception as exc:  # noqa: BLE001 - any failure here is a deploy-time rejection, not a crash
        log.warning("spec %s does not restore: %r", pid, exc)
        again, restored = None, None
    if again != text or restored is None:
        return None, Problem(message=f"The process definition '{pid}' does not survive being stored and reloaded; "
                                     "please report this with the file.", element_id=pid,
                             line=docs[file_name].line_of(pid) if file_name in docs else None, file=file_name)
    return restored, None


# --------------------------------------------------------------------------------------------- derived facts


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


# --------------------------------------------------------------------------------------------- parse_files


def _is_executable(proc: etree._Element) -> bool:
    # Exactly "true", as SpiffWorkflow's parser reads it (xsd:boolean's "1" is not executable in Camunda either).
    return proc.get("isExecutable") == "true"


def _executable_note(proc: etree._Element) -> str:
    value = proc.get("isExecutable")
    return "no isExecutable attribute" if value is None else f'isExecutable="{value}"'


def _resolve_import(location: str, importer: str, names: Iterable[str]) -> bool:
    names = list(names)
    wanted = posixpath.normpath(posixpath.join(posixpath.dirname(importer), location.replace("\\", "/")))
    if wanted in names:
        return True
    base = posixpath.basename(wanted)
    return any(posixpath.basename(n) == base for n in names)


def parse_files(files: dict[str, bytes], available: dict[str, bytes] | None = None) -> list[ProcessDefinition]:
    """Validate a deployment and prepare one ProcessDefinition per executable process in `files`.

    `available` holds other, already deployed files; they are used to resolve call activities and imports
    (and are not validated again). Raises ProcessDefinitionError listing every problem found.
    """
    if not files:
        raise ProcessDefinitionError("Nothing to deploy", [Problem("The deployment contains no BPMN file.")])
    docs = {name: _load_doc(name, data) for name, data in files.items()}
    others: dict[str, _Doc] = {}
    for name, data in sorted((available or {}).items()):  # sorted: a deterministic pick among duplicates
        if name in files:
            continue  # the new version of a file replaces the deployed one
        other = _load_doc(name, data)
        if other.fatal:
            log.debug("ignoring unusable available file %s", name)
        else:
            others[name] = other

    # Top-level processes by id: the deployment first, then what is deployed already.
    index: dict[str, tuple[_Doc, etree._Element]] = {}
    for doc in docs.values():
        if doc.fatal:
            continue
        for proc in doc.processes:
            pid = proc.get("id")
            if not pid:
                doc.problem("A process has no id.", proc)
            elif pid in index:
                first_doc, first_el = index[pid]
                doc.problem(f"The process id '{pid}' is defined more than once in this deployment (also in "
                            f"{first_doc.name}, line {first_el.sourceline}).", proc, element_id=pid)
            else:
                index[pid] = (doc, proc)
    for other in others.values():
        for proc in other.processes:
            pid = proc.get("id")
            if pid and pid not in index:
                index[pid] = (other, proc)
            elif pid and index[pid][0].name in others:
                log.debug("process %s is defined in deployed files %s and %s; using the first",
                          pid, index[pid][0].name, other.name)

    # Designer-level checks of every executable process.
    executable: list[tuple[_Doc, etree._Element]] = []
    for doc in docs.values():
        if doc.fatal:
            continue
        _check_duplicate_ids(doc)
        procs = doc.processes
        runnable = [p for p in procs if _is_executable(p)]
        if not procs:
            assert doc.root is not None
            doc.problem("The file contains no process, so there is nothing to deploy (a collaboration needs at least "
                        "one pool with a process).", line=doc.root.sourceline)
        elif not runnable:
            listed = ", ".join(f"'{p.get('id')}' ({_executable_note(p)})" for p in procs)
            doc.problem(f"No process in this file is executable, so there is nothing to deploy: {listed}. Like "
                        "Camunda 7, the engine deploys only processes marked executable: tick 'Executable' on the "
                        "process (pool) in the modeler.", procs[0], element_id=procs[0].get("id"))
        if runnable:
            for imp in doc.root.iter(_b("import")):
                location = (imp.get("location") or "").strip()
                if location and not _resolve_import(location, doc.name, [*files, *others]):
                    doc.problem(f"This file imports '{location}', which is neither in this deployment nor deployed "
                                "before; add that file to the deployment or remove the import.", imp,
                                element_id=imp.get("id"))
        for proc in runnable:
            _Checker(doc, proc).run()
            executable.append((doc, proc))

    # Call activities must resolve (transitively) to executable processes we can load.
    needed_others: dict[str, _Doc] = {}
    unresolved: set[str] = set()  # process ids of `files` whose call tree cannot be built
    call_ok: dict[str, bool] = {}  # process id -> its call tree resolves (memo)

    def resolve_calls(doc: _Doc, proc: etree._Element, chain: tuple[str, ...]) -> bool:
        pid = proc.get("id")
        if pid in call_ok:
            return call_ok[pid]
        ok = True
        for call in proc.iter(_b("callActivity")):
            called = (call.get("calledElement") or "").strip()
            if not called or _has_juel(called):
                ok = False  # already reported
                continue
            target = index.get(called)
            if target is None:
                doc.problem(f"The call activity calls process '{called}', which is neither in this deployment nor "
                            "deployed before.", call)
                ok = False
                continue
            target_doc, target_proc = target
            if not _is_executable(target_proc):
                doc.problem(f"The call activity calls process '{called}' ({target_doc.name}), which is not "
                            "executable (isExecutable is not true).", call)
                ok = False
                continue
            if called in chain:
                # Each call runs inside the same engine step: an unconditional self-call never reaches a wait
                # state and would hang the worker, so recursion is refused outright.
                loop = " → ".join([*chain[chain.index(called):], called])
                doc.problem(f"The call activity calls process '{called}', which is already running higher up in "
                            f"this call chain ({loop}); recursive calls are not supported.", call)
                ok = False
                continue
            if target_doc.name in others:
                needed_others[target_doc.name] = target_doc
            if not resolve_calls(target_doc, target_proc, (*chain, called)):
                ok = False
        call_ok[pid] = ok
        return ok

    for doc, proc in executable:
        if not resolve_calls(doc, proc, (proc.get("id"),)):
            unresolved.add(proc.get("id"))

    problems = [p for doc in docs.values() for p in doc.problems]
    problems += [p for doc in needed_others.values() for p in doc.problems]
    definitions: list[ProcessDefinition] = []
    if executable:
        definitions, spiff_problems = _build(docs, needed_others, index, executable, unresolved)
        known = {(p.file, p.element_id) for p in problems}
        # SpiffWorkflow stops at the first problem per process; ours are more specific, so keep ours.
        problems += [p for p in spiff_problems if (p.file, p.element_id) not in known or p.element_id is None]

    problems = _dedupe(problems)
    if problems:
        names = ", ".join(sorted(files))
        first = problems[0]
        where = f"{first.file}" + (f" line {first.line}" if first.line else "")
        raise ProcessDefinitionError(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {names} (first: {where}: {first.message})",
            problems)
    log.debug("parsed %d process definition(s) from %s", len(definitions), sorted(files))
    return definitions


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple] = set()
    out: list[Problem] = []
    for p in problems:
        key = (p.file, p.element_id, p.line, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    out.sort(key=lambda p: (p.file or "", p.line or 0))
    return out


def _build(docs: dict[str, _Doc], needed_others: dict[str, _Doc], index: dict[str, tuple[_Doc, etree._Element]],
           executable: list[tuple[_Doc, etree._Element]],
           unresolved: set[str]) -> tuple[list[ProcessDefinition], list[Problem]]:
    """Run SpiffWorkflow's parser over the deployment, collecting its problems, and build the definitions."""
    all_docs = {**needed_others, **docs}
    problems: list[Problem] = []
    parser = CamundaSpecParser()
    file_pids = {pid for pid, (doc, _) in index.items() if doc.name in docs}
    runnable_docs = {doc.name for doc, _ in executable}
    failed: set[str] = set()
    for doc in [*docs.values(), *needed_others.values()]:
        if doc.fatal or doc.tree is None or (doc.name in docs and doc.name not in runnable_docs):
            continue
        superseded = file_pids if doc.name in needed_others else set()
        try:
            parser.add_bpmn_xml(_spiff_tree(doc, superseded), filename=doc.name)
        except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises many kinds; each becomes a Problem
            failed.update(p.get("id") for p in doc.processes)
            if doc.problems:
                # Our own checks already explain what SpiffWorkflow trips over (DMN, messages...).
                log.debug("SpiffWorkflow could not load %s: %r", doc.name, exc)
            else:
                problems.append(_spiff_problem(exc, all_docs, doc.name))

    def try_spec(pid: str, file_name: str | None) -> None:
        try:
            parser.get_spec(pid)
        except Exception as exc:  # noqa: BLE001
            failed.add(pid)
            problems.append(_spiff_problem(exc, all_docs, file_name))

    for doc, proc in executable:
        if proc.get("id") not in failed:
            try_spec(proc.get("id"), doc.name)
    # Embedded subprocesses get their own parsers while the parents parse; parse each on its own so one
    # broken subprocess does not hide the problems of another.
    done: set[str] = {proc.get("id") for _, proc in executable}
    while True:
        pending = [(pid, pp) for pid, pp in parser.process_parsers.items()
                   if pid not in done and pp.filename in docs and pid not in index]
        if not pending:
            break
        for pid, pp in pending:
            done.add(pid)
            if pp.parent is not None and pp.parent.bpmn_id in failed:
                continue  # its parent failed part-way, so this parser may be half set up
            try_spec(pid, pp.filename)

    event_subprocesses = {el.get("id") for doc in all_docs.values() if doc.root is not None
                          for el in doc.root.iter(_b("subProcess")) if el.get("triggeredByEvent") == "true"}
    definitions: list[ProcessDefinition] = []
    for doc, proc in executable:
        pid = proc.get("id")
        if pid in failed or pid in unresolved:
            continue
        try:
            subs = parser.get_subprocess_specs(pid, require_call_activity_specs=False)
        except Exception as exc:  # noqa: BLE001
            problems.append(_spiff_problem(exc, all_docs, doc.name))
            continue
        if any(sub is None or name in failed for name, sub in subs.items()):
            continue  # reported above
        spec = parser.get_spec(pid)
        restored, problem = _round_trip(spec, subs, pid, all_docs, doc.name)
        if problem is not None:
            problems.append(problem)
            continue
        assert restored is not None
        spec, subs = restored
        all_specs = [spec, *subs.values()]
        user_tasks: dict[str, UserTaskInfo] = {}
        owners: dict[str, str] = {}
        clash = False
        for one in all_specs:
            for ts in one.task_specs.values():
                if not isinstance(ts, UserTask):
                    continue
                if ts.name in owners and owners[ts.name] != one.name:
                    problems.append(Problem(
                        message=f"User task id '{ts.bpmn_id}' is used in process '{owners[ts.name]}' and in "
                                f"'{one.name}', which it calls or contains; user task ids must be unique across "
                                "a process and the processes it calls.",
                        element_id=ts.bpmn_id, line=_line_in(all_docs, one.file, ts.bpmn_id), file=one.file))
                    clash = True
                owners[ts.name] = one.name
                user_tasks[ts.name] = _user_task_info(ts)
        if clash:
            continue
        starters = proc.get(_c("candidateStarterGroups"))
        definitions.append(ProcessDefinition(
            process_id=pid,
            name=_process_name(doc, proc),
            file_name=doc.name,
            xml=doc.data,
            sha256=hashlib.sha256(doc.data).hexdigest(),
            spec=spec,
            subprocess_specs=subs,
            user_tasks=user_tasks,
            start_roles=[g for g in _split_list(starters) if g] if starters and not _has_juel(starters) else [],
            first_user_tasks=_first_user_tasks(spec, subs, event_subprocesses),
            called_processes=[name for name in subs if name in index],
            timer_docs=_timer_docs([proc, *(index[name][1] for name in subs if name in index)]),
        ))
    return definitions, problems


def _spiff_tree(doc: _Doc, superseded: set[str]) -> etree._ElementTree:
    """The tree SpiffWorkflow gets: without non-executable processes (Camunda 7 ignores them, SpiffWorkflow would
    still trip over their content), without processes a new deployment replaces, and without data store
    definitions (unsupported; references to them in executable processes are reported by the checks)."""
    assert doc.root is not None and doc.tree is not None
    drop = [p for p in doc.processes if not _is_executable(p) or p.get("id") in superseded]
    stores = doc.root.findall(_b("dataStore"))
    if not drop and not stores:
        return doc.tree
    drop_ids = {id(el) for el in [*drop, *stores]}
    root = etree.Element(doc.root.tag, attrib=dict(doc.root.attrib), nsmap=doc.root.nsmap)
    root.text = doc.root.text
    for child in doc.root:
        if id(child) not in drop_ids:
            root.append(copy.deepcopy(child))
    root.sourceline = doc.root.sourceline
    return etree.ElementTree(root)


def _line_in(docs: dict[str, _Doc], file_name: str | None, element_id: str | None) -> int | None:
    doc = docs.get(file_name or "")
    return doc.line_of(element_id) if doc is not None else None
