"""CamundaSpecParser: SpiffWorkflow's Camunda parser with the 3.2.0 work-arounds the engine needs."""
from __future__ import annotations

from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.event_parsers import ReceiveTaskParser, SendTaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.specs.defaults import (EndEvent, IntermediateThrowEvent, ReceiveTask, ScriptTask, SendTask,
                                               ServiceTask)
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (CamundaEndEventParser, CamundaEventDefinitionParser,
                                                       CamundaIntermediateThrowEventParser)
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser, UserTaskParser
from SpiffWorkflow.camunda.parser.task_spec import ScriptTaskParser as CamundaScriptTaskParser
from SpiffWorkflow.camunda.specs.user_task import EnumFormField, Form
from SpiffWorkflow.camunda.specs.user_task import FormField as SpiffFormField
from SpiffWorkflow.camunda.specs.user_task import UserTask

from engine.specs.decision_task import DecisionTask, DecisionTaskParser
from engine.specs.values import _split_list
from engine.specs.xmldoc import _c


# camunda: attributes of a user task kept in task_spec.extensions (serialized with the spec).
USER_TASK_ATTRS = ("candidateGroups", "candidateUsers", "assignee", "dueDate", "followUpDate", "priority")


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
        full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask),
    }

    def __init__(self, decision_tables: dict[str, dict] | None = None):
        super().__init__()
        # decision id -> the translated table of its newest deployed version (dmn.py), for business rule tasks
        self.decision_tables = dict(decision_tables or {})


# Flow elements the parser can build; anything else inside a process is reported as unsupported.
_SUPPORTED_FLOW_TAGS = (frozenset(CamundaSpecParser.PARSER_CLASSES)
                        | frozenset(CamundaSpecParser.OVERRIDE_PARSER_CLASSES))
