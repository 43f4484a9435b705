"""_Checker: designer-level checks of an executable process, each problem phrased for the process designer.

User-task checks live in user_task_checks.py (mixed into _Checker).
"""
from __future__ import annotations

import logging
import re
from typing import Any, Callable, ClassVar

from lxml import etree

from engine import scripting
from engine.models import OUTCOME_CLASSES
from engine.specs.facts import outcome_class_id
from engine.specs.parser import _SUPPORTED_FLOW_TAGS
from engine.specs.user_task_checks import _UserTaskChecks
from engine.specs.values import _as_int, _has_juel, _split_list
from engine.specs.xmldoc import (BPMN_NS, BPMNDI_NS, CAMUNDA_NS, DC_NS, DI_NS, _attr_label, _b, _c, _Doc,
                                 _is_model_element, _tag_label)

log = logging.getLogger(__name__)


# Children of a process/subprocess that are not flow nodes and need no parser.
_NON_FLOW_TAGS = frozenset(_b(t) for t in (
    "sequenceFlow", "laneSet", "lane", "dataObject", "dataObjectReference", "dataStoreReference", "textAnnotation",
    "association", "group", "documentation", "extensionElements", "ioSpecification", "property", "incoming",
    "outgoing", "dataInputAssociation", "dataOutputAssociation", "standardLoopCharacteristics",
    "multiInstanceLoopCharacteristics", "auditing", "monitoring", "category", "categoryValue",
    "correlationSubscription", "supports", "resourceRole", "performer", "humanPerformer", "potentialOwner",
    "dataInput", "dataOutput", "inputSet", "outputSet", "completionCondition",
))
_DECISION_MAPPINGS = ("singleEntry", "singleResult", "collectEntries", "resultList")  # = dmn.MAPPINGS
# What to tell a designer about BPMN elements the engine cannot run.
_UNSUPPORTED_HINTS = {
    "complexGateway": "Complex gateways are not supported; use exclusive, inclusive or parallel gateways.",
}


def _quote(src: str, limit: int = 80) -> str:
    """An expression as it appears in a message: one line, shortened."""
    text = " ".join(src.split())
    return f"«{text if len(text) <= limit else text[:limit - 1] + '…'}»"


# How messages name an element whose text is an expression.
_TEXT_LABELS = {"conditionExpression": "Condition", "condition": "Condition", "timeDate": "Timer timeDate",
                "timeDuration": "Timer timeDuration", "timeCycle": "Timer timeCycle",
                "loopCardinality": "Loop cardinality", "completionCondition": "Completion condition",
                "loopCondition": "Loop condition"}

_JUEL_HINT = ("JUEL is not translated here: jiefen translates JUEL (a safe subset: variables, literals, comparisons, "
              "&& || !, empty, arithmetic) only in conditions, loop and timer bodies and the task attributes "
              "candidateGroups, candidateUsers, assignee, dueDate, followUpDate and priority; beans, delegates and "
              "listeners are Camunda's Java code, which this engine does not run. Write Python instead: a plain "
              "Python condition (e.g. approved == True), or '=expr' for task assignments (e.g. "
              "camunda:candidateGroups=\"=handling_unit\").")


def _run_check(check: Callable[..., list[str]], *args: Any, **kwargs: Any) -> list[str]:
    """Call an engine.scripting check; a crash in it must not look like a problem in the designer's file."""
    try:
        return [str(m) for m in check(*args, **kwargs) if m]
    except Exception:  # noqa: BLE001 - logged with traceback, reported without one
        log.exception("scripting check %s failed", getattr(check, "__name__", check))
        return ["The expression could not be checked (internal error, logged for the administrator)."]


class _Checker(_UserTaskChecks):
    """Designer-level checks of one executable process element (and everything nested in it)."""

    def __init__(self, doc: _Doc, process: etree._Element, limits: scripting.Limits = scripting.DEFAULT_LIMITS,
                 decisions: dict[str, dict] | None = None):
        self.doc = doc
        self.process = process
        self.limits = limits  # the deploying runtime's script limits (the size checks depend on them)
        self.decisions = decisions or {}  # decision id -> translated table of its newest deployed version

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
        refused = self.doc.juel_refused
        for attr, value in el.attrib.items():
            if _has_juel(value):
                why = refused.get((el, attr))
                self.doc.problem(f"{_attr_label(attr)} = \"{value}\": {why + '.' if why else _JUEL_HINT}", el)
        if _has_juel(el.text):
            what = _TEXT_LABELS.get(local, f"<{_tag_label(el)}>")
            why = refused.get((el, None))
            self.doc.problem(f"{what} {_quote(el.text)}: {why + '.' if why else _JUEL_HINT}", el)

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
        for msg in _run_check(scripting.check_expression, src.strip(), limits=self.limits):
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
        for msg in _run_check(scripting.check_script, script.text, limits=self.limits):
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
                for msg in _run_check(scripting.check_timer_expression, src, kind, limits=self.limits):
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
        """A business rule task evaluates a deployed DMN decision table (dmn.py, decision_task.py): the decision
        must be deployed, its result stored in a variable, mapped in a way the table can satisfy."""
        ref = (el.get(_c("decisionRef")) or "").strip()
        if not ref:
            self.doc.problem("The business rule task names no decision: set camunda:decisionRef to the id of a "
                             "deployed DMN decision table.", el)
            return
        if _has_juel(ref):
            return  # reported by _juel
        table = self.decisions.get(ref)
        if table is None:
            known = ", ".join(sorted(self.decisions)) or "none"
            self.doc.problem(f"camunda:decisionRef=\"{ref}\": no DMN decision '{ref}' is deployed (deployed: "
                             f"{known}); deploy its DMN file first (jiefen deploy file.dmn, or 决策表 in the "
                             "workbench).", el)
        binding = (el.get(_c("decisionRefBinding")) or "latest").strip()
        if binding != "latest":
            self.doc.problem(f"camunda:decisionRefBinding=\"{binding}\": only 'latest' is supported (the newest "
                             "version of the decision is embedded when the process is deployed).", el)
        variable = (el.get(_c("resultVariable")) or "").strip()
        if not variable:
            self.doc.problem("The business rule task has no camunda:resultVariable, so its result would be lost: "
                             "name the variable the decision result is stored in.", el)
        elif not re.match(r"[A-Za-z][A-Za-z0-9_]*\Z", variable):
            self.doc.problem(f"camunda:resultVariable=\"{variable}\" is not a variable name (letters, digits, _).",
                             el)
        mapping = (el.get(_c("mapDecisionResult")) or "resultList").strip()
        if mapping not in _DECISION_MAPPINGS:
            self.doc.problem(f"camunda:mapDecisionResult=\"{mapping}\" is not one of "
                             f"{', '.join(_DECISION_MAPPINGS)}.", el)
        elif table is not None and mapping in ("singleEntry", "collectEntries") and len(table["outputs"]) != 1:
            self.doc.problem(f"camunda:mapDecisionResult=\"{mapping}\" needs a table with one output column; "
                             f"decision '{ref}' has {len(table['outputs'])} (use singleResult or resultList).", el)

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

    def _camunda_property(self, el: etree._Element) -> None:
        """The jiefen.* properties this check owns (_OWN_PROPERTIES: name → checker of value and owner element,
        docs/designers.md); the others as the mixin checks them (jiefen.label.* / jiefen.values.*)."""
        checker = self._OWN_PROPERTIES.get((el.get("name") or "").strip())
        if checker is None:
            super()._camunda_property(el)  # user_task_checks.py
            return
        owner = el.getparent()
        while owner is not None and owner.get("id") is None:
            owner = owner.getparent()
        checker(self, (el.get("value") or "").strip(), owner if owner is not None else el, owner)

    def _ladder_property(self, value: str, where: etree._Element, owner: etree._Element | None) -> None:
        """jiefen.ladder = off | on, on a user task only (engine/ladder.py)."""
        if value not in ("off", "on"):
            self.doc.problem(f"jiefen.ladder = \"{value}\": use off (no supervision ladder on this task) or on "
                             "(the default).", where)
        if owner is None or owner.tag != _b("userTask"):
            self.doc.problem(f"jiefen.ladder is set on a {_kind(owner)}: the supervision ladder follows user tasks "
                             "with a due date, so put it on the user task.", where)

    def _expiry_property(self, value: str, where: etree._Element, owner: etree._Element | None) -> None:
        """jiefen.expiry = party, on a timer event only (engine/expiry.py)."""
        if value != "party":
            self.doc.problem(f"jiefen.expiry = \"{value}\": use party (a party's own window or a statutory expiry "
                             "that ends the case: confirmed by a supervisor while its year is provisional).", where)
        if owner is None or owner.find(f"{_b('timerEventDefinition')}") is None:
            self.doc.problem(f"jiefen.expiry is set on a {_kind(owner)} without a timer: put it on the timer event "
                             "whose firing closes the window.", where)

    def _outcome_class_property(self, value: str, where: etree._Element, owner: etree._Element | None) -> None:
        """jiefen.outcome_class, on an end event only, one of OUTCOME_CLASSES."""
        if outcome_class_id(value) is None:
            choices = ", ".join(f"{k} ({v})" for k, v in OUTCOME_CLASSES.items())
            self.doc.problem(f"jiefen.outcome_class = \"{value}\" is not an outcome class: use one of {choices}.",
                             where)
        if owner is None or owner.tag != _b("endEvent"):
            self.doc.problem(f"jiefen.outcome_class is set on a {_kind(owner)}: the outcome class is the class of "
                             "the end event a case closes on, so put it on the end event.", where)

    _OWN_PROPERTIES: ClassVar[dict[str, Callable[..., None]]] = {
        "jiefen.ladder": _ladder_property, "jiefen.expiry": _expiry_property,
        "jiefen.outcome_class": _outcome_class_property}

    def _starter_groups(self) -> None:
        value = self.process.get(_c("candidateStarterGroups"))
        if value is None or _has_juel(value):
            return
        if value.strip().startswith("=") or any(not item for item in _split_list(value)):
            self.doc.problem(f"camunda:candidateStarterGroups \"{value}\" must be a comma-separated list of role "
                             "names (no expressions: there is no case data before the case starts).", self.process)


def _kind(owner: etree._Element | None) -> str:
    """An element's BPMN kind for a message (userTask, endEvent …)."""
    return etree.QName(owner).localname if owner is not None else "this element"


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
