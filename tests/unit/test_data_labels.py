"""jiefen.label.<var> / jiefen.values.<var>: labels a designer gives data no form field names (issue 17 §5)."""
from __future__ import annotations

import pytest

from engine import specs
from engine.services.processes import _meta
from tests.unit.test_specs import find, process, rejected, user_task


def labelled(props: str, where: str = "process") -> str:
    ext = f"<bpmn:extensionElements><camunda:properties>{props}</camunda:properties></bpmn:extensionElements>"
    xml = process(user_task(extensions=f"<camunda:properties>{props}</camunda:properties>") if where == "task"
                  else user_task())
    return xml if where == "task" else xml.replace('isExecutable="true">', f'isExecutable="true">{ext}', 1)


def prop(name: str, value: str) -> str:
    return f'<camunda:property name="{name}" value="{value}" />'


def test_declared_labels_and_value_names_reach_the_version_meta():
    xml = labelled(prop("jiefen.label.jc_result", "司法确认结果")
                   + prop("jiefen.values.jc_result", "valid=裁定有效；rejected=驳回; none=未申请")
                   + prop("jiefen.label.rounds", "调解轮次"))
    [definition] = specs.parse_files({"ok.bpmn": xml.encode()})
    assert _meta(definition, {})["data_labels"] == {
        "jc_result": {"label": "司法确认结果",
                      "enum": [["valid", "裁定有效"], ["rejected", "驳回"], ["none", "未申请"]]},
        "rounds": {"label": "调解轮次", "enum": None},
    }


@pytest.mark.parametrize("props, where, fragment", [
    (prop("jiefen.label.rounds", "调解轮次"), "task", "put it on the process itself"),
    (prop("jiefen.label.2rounds", "调解轮次"), "process", "is not a variable name"),
    (prop("jiefen.label.rounds", " "), "process", "has no value"),
    (prop("jiefen.label.r", "结果") + prop("jiefen.values.r", "valid裁定有效"), "process", "value=name pairs"),
    (prop("jiefen.label.r", "结果") + prop("jiefen.values.r", "a=甲;a=乙"), "process", "each id once"),
    (prop("jiefen.values.r", "a=甲"), "process", "has no jiefen.label.r"),
], ids=["on a task", "bad name", "empty", "no =", "id twice", "values without label"])
def test_bad_label_properties_are_refused_at_deploy(props, where, fragment):
    problems = rejected({"rule.bpmn": labelled(props, where).encode()})
    find(problems, "x" if where == "task" else "p", fragment)


def test_shipped_processes_label_their_script_results():
    files = specs.load_directory("processes")
    meta = {d.process_id: _meta(d, {}) for d in specs.parse_files(files, decisions=specs.load_decision_tables("processes"))}
    assert meta["dispute"]["data_labels"]["closure_type"]["label"] == "结案方式"
    assert "escalate_now" not in meta["dispute"]["data_labels"]
    for pid in ("dispute", "petition_revisit", "judicial_confirmation"):
        assert dict(meta[pid]["data_labels"]["jc_result"]["enum"])["valid"] == "裁定有效"
