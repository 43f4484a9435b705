"""DMN decision tables (issue 19 §6): FEEL unary tests translated at deploy, cells refused by rule and column,
Camunda's hit policies and result mappings, versions of their own, and a process that uses a table embedding the
newest version (a changed table re-versions its processes; a running case keeps its table)."""
from __future__ import annotations

from xml.sax.saxutils import escape

import pytest

from engine import scripting
from engine.errors import NotFound, ProcessDefinitionError
from engine.services import cases, processes
from engine.services.users import SYSTEM
from engine.specs import dmn, feel

DMN_NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def table(rules: list[tuple[list[str], list[str]]], *, hit: str = "UNIQUE", aggregation: str | None = None,
          inputs=(("amount", "金额", "long"),), outputs=(("tier", "等级", ""),), decision_id: str = "d") -> bytes:
    """A one-decision DMN file; rules as ([input cells], [output cells]); output values as the 3rd of a column."""
    cols = "".join(f'<input id="i{n}" label="{label}"><inputExpression id="ie{n}" typeRef="{kind}"><text>{expr}'
                   f'</text></inputExpression></input>' for n, (expr, label, kind) in enumerate(inputs))
    cols += "".join(f'<output id="o{n}" label="{label}" name="{name}">'
                    + (f'<outputValues><text>{values}</text></outputValues>' if values else "") + "</output>"
                    for n, (name, label, values) in enumerate(outputs))
    body = ""
    for r, (ins, outs) in enumerate(rules, start=1):
        body += f'<rule id="r{r}">'
        body += "".join(f'<inputEntry id="r{r}i{n}"><text>{escape(c)}</text></inputEntry>' for n, c in enumerate(ins))
        body += "".join(f'<outputEntry id="r{r}o{n}"><text>{escape(c)}</text></outputEntry>'
                        for n, c in enumerate(outs))
        body += "</rule>\n"
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{DMN_NS}" id="defs" name="t" '
            f'namespace="urn:t">\n<decision id="{decision_id}" name="定级">\n<decisionTable id="t" hitPolicy="{hit}"'
            f'{agg}>\n{cols}\n{body}</decisionTable>\n</decision>\n</definitions>\n').encode()


def run(xml: bytes, **data):
    """The decision result of a table for `data`, evaluated in the sandbox."""
    (defn,) = dmn.parse_decisions({"t.dmn": xml})
    return dmn.evaluate_table(defn.table, lambda src, ctx: scripting.evaluate(src, {**data, **ctx}))


@pytest.mark.parametrize("cell, value, expected", [
    ("-", 5, True), ("", None, True),
    ('"labour"', "labour", True), ('"labour"', "family", False),
    ('"a","b"', "b", True), ('"a","b"', "c", False),
    (">= 100000", 100000, True), (">= 100000", 99999, False), (">= 100000", None, False),
    ("[1..10]", 1, True), ("[1..10]", 10, True), ("]1..10[", 1, False), ("[1..10)", 10, False),
    ("(1..10]", 10, True), ('not("x")', "y", True), ('not("x")', "x", False), ("not(1, 2)", 3, True),
    ("42", 42, True), ("-1.5", -1.5, True), ("< -3", -4, True), ("true", True, True), ("false", True, False),
    ("null", None, True), ("null", 0, False), ("limit", 7, True),
])
def test_feel_unary_tests_evaluate_as_camunda_does(cell, value, expected):
    test = feel.translate_unary_tests(cell, "v")
    assert (True if test is None else scripting.evaluate(test, {"v": value, "limit": 7})) is expected


@pytest.mark.parametrize("cell, fragment", [
    ("'x'", "double quotes"), ('date("2020-01-01")', "function"), ("a.b", "path"), ("= 5", "'='"),
    ("[1 10]", "'..'"), ("not(-)", "whole cell"), (">= true", "true, false and null"), ('"a" "b"', "unexpected"),
    ("[1..10", "must end"), ("not(1", "')'"),
])
def test_feel_outside_the_subset_is_refused_with_the_construct_named(cell, fragment):
    with pytest.raises(feel.FeelError, match=None) as info:
        feel.translate_unary_tests(cell, "v")
    assert fragment in str(info.value)


def test_a_refused_cell_names_rule_column_and_line():
    xml = table([([">= 100"], ['"a"']), (['date("2020-01-01")'], ['"b"']), (["-"], ["x +* 1"])])
    with pytest.raises(ProcessDefinitionError) as info:
        dmn.parse_decisions({"t.dmn": xml})
    problems = info.value.problems
    assert len(problems) == 2
    first, second = problems
    assert "rule 2, input column '金额'" in first.message and "function" in first.message
    assert first.element_id == "r2" and first.file == "t.dmn"
    assert first.line == xml.decode().splitlines().index(
        next(line for line in xml.decode().splitlines() if 'id="r2"' in line)) + 1
    assert "rule 3, output column '等级'" in second.message and second.element_id == "r3"


@pytest.mark.parametrize("xml, fragment", [
    (table([(['"x"'], ['"a"'])]), "column's type is long"),
    (table([(["1"], ['"a"'])], inputs=(("category", "类型", "string"),)), "compares with a number"),
    (table([(["-"], ['"a"'])], hit="SOMETIMES"), "hit policy 'SOMETIMES'"),
    (table([(["-"], ['"a"'])], hit="PRIORITY"), "output values"),
    (table([(["-"], ['"a"'])], hit="FIRST", aggregation="SUM"), "only possible with the hit policy COLLECT"),
    (table([(["-"], ['"a"'])], outputs=(("", "等级", ""),)), "has no name"),
    (table([(["-"], ['"a"', '"b"'])]), "rule 1 has 1 input and 2 output cells"),
    (table([(["-"], ["'a'"])]), "double quotes"),
    (table([(["-"], ['"a"'])], inputs=(("__import__('os')", "金额", "long"),)), "input column '金额' expression"),
    (b"<definitions xmlns='http://www.omg.org/spec/BPMN/20100524/MODEL'/>", "not a DMN file"),
    (b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>", "entities"),
])
def test_tables_the_engine_cannot_evaluate_are_refused(xml, fragment):
    with pytest.raises(ProcessDefinitionError) as info:
        dmn.parse_decisions({"t.dmn": xml})
    assert any(fragment in p.message for p in info.value.problems), info.value.problems


RULES = [([">= 100"], ['"big"']), (["[10..100)"], ['"mid"']), ([">= 10"], ['"ten+"']), (["-"], ['"any"'])]


def test_hit_policies():
    assert run(table(RULES[:2] + [([" < 10"], ['"small"'])]), amount=50) == [{"tier": "mid"}]
    assert run(table(RULES[:2]), amount=5) == []
    with pytest.raises(dmn.DecisionFailed, match="rules 2, 3, 4 all match"):
        run(table(RULES), amount=50)
    assert run(table(RULES, hit="FIRST"), amount=50) == [{"tier": "mid"}]
    assert run(table(RULES, hit="COLLECT"), amount=150) == [{"tier": t} for t in ("big", "ten+", "any")]
    assert run(table(RULES, hit="RULE ORDER"), amount=50) == [{"tier": "mid"}, {"tier": "ten+"}, {"tier": "any"}]
    ranked = (("tier", "等级", '"any","ten+","mid","big"'),)
    assert run(table(RULES, hit="PRIORITY", outputs=ranked), amount=150) == [{"tier": "any"}]
    assert run(table(RULES, hit="OUTPUT ORDER", outputs=ranked), amount=50) == [
        {"tier": "any"}, {"tier": "ten+"}, {"tier": "mid"}]
    agree = [([">= 10"], ['"x"']), (["-"], ['"x"'])]
    assert run(table(agree, hit="ANY"), amount=50) == [{"tier": "x"}]
    with pytest.raises(dmn.DecisionFailed, match="different outputs"):
        run(table(RULES, hit="ANY"), amount=50)
    points = [([">= 10"], ["3"]), ([">= 100"], ["4"]), (["-"], ["amount * 2"])]
    assert run(table(points, hit="COLLECT", aggregation="SUM"), amount=150) == [{"tier": 307}]
    assert run(table(points, hit="COLLECT", aggregation="MAX"), amount=150) == [{"tier": 300}]
    assert run(table(points, hit="COLLECT", aggregation="MIN"), amount=150) == [{"tier": 3}]
    assert run(table(points, hit="COLLECT", aggregation="COUNT"), amount=5) == [{"tier": 1}]


def test_result_mappings():
    two = [{"a": 1, "b": 2}]
    assert dmn.map_result(two, "singleResult", "d") == {"a": 1, "b": 2}
    assert dmn.map_result([], "singleResult", "d") is None
    assert dmn.map_result([{"a": 1}], "singleEntry", "d") == 1
    assert dmn.map_result([{"a": 1}, {"a": 2}], "collectEntries", "d") == [1, 2]
    assert dmn.map_result(two, "resultList", "d") == two
    with pytest.raises(dmn.DecisionFailed, match="at most one"):
        dmn.map_result([{"a": 1}, {"a": 2}], "singleResult", "d")
    with pytest.raises(dmn.DecisionFailed, match="one output"):
        dmn.map_result(two, "singleEntry", "d")


def process(task_attrs: str = 'camunda:decisionRef="tier_rules" camunda:resultVariable="suggestion" '
                              'camunda:mapDecisionResult="singleEntry"') -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="urn:t">
  <bpmn:process id="ruled" name="定级测试" isExecutable="true" camunda:candidateStarterGroups="intake_clerk">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init" />
    <bpmn:scriptTask id="init" scriptFormat="python"><bpmn:script>amount = 150</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="decide" />
    <bpmn:businessRuleTask id="decide" name="定级" {task_attrs} />
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="work" />
    <bpmn:userTask id="work" name="办理" camunda:candidateGroups="intake_clerk" />
    <bpmn:sequenceFlow id="f4" sourceRef="work" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def test_a_business_rule_task_needs_a_deployed_decision(session, directory):
    with pytest.raises(ProcessDefinitionError) as info:
        processes.deploy(session, {"ruled.bpmn": process()}, SYSTEM)
    (problem,) = info.value.problems
    assert problem.element_id == "decide" and problem.line == 8
    assert "no DMN decision 'tier_rules' is deployed" in problem.message
    processes.deploy(session, {"tier.dmn": table(RULES, hit="FIRST", decision_id="tier_rules")}, SYSTEM)
    with pytest.raises(ProcessDefinitionError) as info:
        processes.deploy(session, {"ruled.bpmn": process('camunda:decisionRef="tier_rules" '
                                                         'camunda:mapDecisionResult="everything"')}, SYSTEM)
    messages = " | ".join(p.message for p in info.value.problems)
    assert "no camunda:resultVariable" in messages and '"everything" is not one of' in messages


def test_decisions_are_versioned_and_a_changed_table_reaches_new_cases_only(session, directory, actor):
    first = processes.deploy(session, {"tier.dmn": table(RULES, hit="FIRST", decision_id="tier_rules"),
                                       "ruled.bpmn": process()}, SYSTEM)
    assert [(r.kind, r.process_id, r.version, r.created) for r in first] == [
        ("decision", "tier_rules", 1, True), ("process", "ruled", 1, True)]
    assert processes.active_version(session, "ruled").meta["decisions"] == {"tier_rules": first[0].sha256}
    old_case = cases.start_case(session, "ruled", {}, actor("clerk"))
    assert old_case.data["suggestion"] == "big"
    # identical content: nothing new
    again = processes.deploy(session, {"tier.dmn": table(RULES, hit="FIRST", decision_id="tier_rules")}, SYSTEM)
    assert [(r.version, r.created) for r in again] == [(1, False)]
    changed = table([([">= 1000"], ['"huge"'])] + RULES, hit="FIRST", decision_id="tier_rules")
    changed = changed.replace(b"&gt;= 1000<", b"&gt;= 120<")
    results = processes.deploy(session, {"tier.dmn": changed}, SYSTEM, note="大额门槛下调")
    assert [(r.kind, r.process_id, r.version, r.created) for r in results] == [
        ("decision", "tier_rules", 2, True), ("process", "ruled", 2, True)]
    assert "决策表已变更" in processes.active_version(session, "ruled").note
    new_case = cases.start_case(session, "ruled", {}, actor("clerk"))
    assert new_case.data["suggestion"] == "huge"
    assert session.get(type(old_case), old_case.id).data["suggestion"] == "big"  # kept its own table
    (info,) = processes.list_decisions(session, actor("admin"))
    assert (info.decision_id, info.latest_version, info.hit_policy, info.used_by) == ("tier_rules", 2, "FIRST",
                                                                                     ["ruled"])
    assert [v.note for v in info.versions] == ["大额门槛下调", None]
    assert processes.decision_xml(session, actor("admin"), "tier_rules", 1)[1] == table(
        RULES, hit="FIRST", decision_id="tier_rules")
    with pytest.raises(NotFound):
        processes.decision_xml(session, actor("admin"), "tier_rules", 9)
    with pytest.raises(NotFound):
        processes.decision_xml(session, actor("admin"), "nothing")


def test_a_failing_table_fails_the_command_with_the_element(session, directory, actor):
    from engine.errors import TaskFailed
    processes.deploy(session, {"tier.dmn": table(RULES, decision_id="tier_rules"), "ruled.bpmn": process()}, SYSTEM)
    with pytest.raises(TaskFailed) as info:
        cases.start_case(session, "ruled", {}, actor("clerk"))
    assert "UNIQUE" in str(info.value) and "decide" in str(info.value.__dict__) + str(info.value)
