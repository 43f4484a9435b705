"""The business rule task: SpiffWorkflow's BusinessRuleTaskMixin with a checked, translated decision table.

SpiffWorkflow 3.2's DMN engine evaluates only UNIQUE (first match) and COLLECT, sends every cell to `eval` after
guessing whether to add `==`, and merges the outputs into the task data without Camunda's resultVariable and
mapDecisionResult. So the task spec here keeps SpiffWorkflow's mixin and parser structure but carries the table
dmn.py translated at deploy (its `dmnEngine` is a TableEngine), evaluates every cell through the case's sandboxed
script engine, and stores the mapped result in camunda:resultVariable, as Camunda 7 does. The table travels in the
spec's JSON (DecisionTaskConverter), so a case runs the table version it was started with.
"""
from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.helpers.spec import TaskSpecConverter
from SpiffWorkflow.bpmn.specs.mixins import BpmnSpecMixin
from SpiffWorkflow.camunda.parser.task_spec import BusinessRuleTaskParser
from SpiffWorkflow.dmn.specs import BusinessRuleTaskMixin
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.specs import dmn
from engine.specs.xmldoc import _c


class TableEngine:
    """One translated decision table (dmn.py's dict) and how a task evaluates it."""

    def __init__(self, table: dict):
        self.table = table

    def result(self, task: Any) -> list[dict]:
        engine = task.workflow.script_engine

        def evaluate(expression: str, context: dict) -> Any:
            return engine.evaluate(task, expression, external_context=context)

        return dmn.evaluate_table(self.table, evaluate)


class DecisionTask(BusinessRuleTaskMixin, BpmnSpecMixin):
    """A bpmn:businessRuleTask: evaluates its table and stores the mapped result in `result_variable`."""

    def __init__(self, wf_spec: Any, name: str, dmnEngine: TableEngine, result_variable: str,
                 map_result: str = "resultList", **kwargs: Any):
        super().__init__(wf_spec, name, dmnEngine, **kwargs)
        self.result_variable = result_variable
        self.map_result = map_result

    @property
    def decision_id(self) -> str:
        return self.dmnEngine.table["decision_id"]

    def _run_hook(self, my_task: Any) -> bool:
        table = self.dmnEngine.table
        try:
            result = self.dmnEngine.result(my_task)
            my_task.data[self.result_variable] = dmn.map_result(result, self.map_result,
                                                                table.get("name") or table["decision_id"])
        except SpiffWorkflowException as exc:
            exc.add_note(f"Business rule task '{my_task.task_spec.bpmn_name}' (decision '{table['decision_id']}').")
            raise
        except dmn.DecisionFailed as exc:
            raise WorkflowTaskException(str(exc), task=my_task, exception=exc) from exc
        return True


class DecisionTaskParser(BusinessRuleTaskParser):
    """Builds a DecisionTask from camunda:decisionRef (the table comes from the parser's `decision_tables`, the
    newest deployed version of each decision), camunda:resultVariable and camunda:mapDecisionResult."""

    def create_task(self) -> DecisionTask:
        ref = (self.node.get(_c("decisionRef")) or "").strip()
        tables = getattr(self.process_parser.parser, "decision_tables", {})
        if ref not in tables:
            raise ValidationException(f"decision '{ref}' is not deployed", node=self.node,
                                      file_name=self.filename)
        return DecisionTask(self.spec, self.bpmn_id, dmnEngine=TableEngine(tables[ref]),
                            result_variable=(self.node.get(_c("resultVariable")) or "").strip(),
                            map_result=(self.node.get(_c("mapDecisionResult")) or "resultList").strip(),
                            **self.bpmn_attributes)


class DecisionTaskConverter(TaskSpecConverter):
    def to_dict(self, spec: DecisionTask) -> dict:
        dct = self.get_default_attributes(spec)
        dct["decision_table"] = spec.dmnEngine.table
        dct["result_variable"] = spec.result_variable
        dct["map_result"] = spec.map_result
        return dct

    def from_dict(self, dct: dict) -> DecisionTask:
        dct["dmnEngine"] = TableEngine(dct.pop("decision_table"))
        return self.task_spec_from_dict(dct)
