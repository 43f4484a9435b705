"""SpiffWorkflow parser exceptions turned into Problems a process designer can act on."""
from __future__ import annotations

import ast
import re

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

from engine.errors import Problem
from engine.specs.xmldoc import BPMN_NS, CAMUNDA_NS, _attr_label, _Doc


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
     "The DMN decision '{m1}' is not deployed; deploy its DMN file first."),
    (re.compile(r"decision '([^']*)' is not deployed"),
     "The DMN decision '{m1}' is not deployed; deploy its DMN file first."),
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
