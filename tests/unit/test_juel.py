"""JUEL written by Camunda Modeler (issue 19 §5): the safe subset is translated into the sandbox's Python when a
file is loaded; anything else is refused with the construct named."""
from __future__ import annotations

import pytest

from engine.clock import CHINA_TZ
from engine.services import cases, processes, tasks
from engine.services.users import SYSTEM
from engine.specs.juel import JuelError, translate
from tests.conftest import FIXTURES


@pytest.mark.parametrize("juel, python", [
    ("${approved}", "approved"),
    ("${!approved}", "(not approved)"),
    ("${amount > 1000}", "(amount > 1000)"),
    ("${!rejected && tier == 'major'}", "((not rejected) and (tier == 'major'))"),
    ('#{result eq "agreed" or n ge 2}', "((result == 'agreed') or (n >= 2))"),
    ("${empty note}", "(note is None or note == '' or note == [] or note == {})"),
    ("${a ? 'P5D' : 'P2D'}", "('P5D' if a else 'P2D')"),
    ("${x div 2 mod 3 - -1}", "(((x / 2) % 3) - (-1))"),
    ("${ name == 'O\\'Brien' }", "(name == \"O'Brien\")"),
    ("${null == x || true}", "((None == x) or True)"),
])
def test_the_subset_translates_to_python(juel, python):
    assert translate(juel) == python


@pytest.mark.parametrize("juel, named", [
    ("${genderBean.getGenderString(gender)}", "a property, method or index (genderBean.…)"),
    ("${execution.getVariable('x')}", "execution.…"),
    ("${items[0]}", "a property, method or index (items[…)"),
    ("${now()}", "a function call (now(…))"),
    ("Hello ${name}", "composite"),
    ("${a} ${b}", "composite"),
    ("${}", "empty"),
    ("${a ? b}", "missing its ':'"),
    ("${(a}", "not closed"),
    ("${a instanceof b}", "'instanceof'"),
    ("${a ~ b}", "'~'"),
])
def test_what_is_outside_the_subset_is_refused_by_name(juel, named):
    with pytest.raises(JuelError) as caught:
        translate(juel)
    assert named in str(caught.value)


def test_a_modeler_file_with_juel_deploys_and_routes_as_camunda_would(session, directory, actor, clock):
    xml = (FIXTURES / "engine" / "juel_modeler.bpmn").read_bytes()
    processes.deploy(session, {"juel_modeler.bpmn": xml}, SYSTEM)
    version = processes.active_version(session, "juel_modeler")
    assert version.xml == xml  # the designer's file is kept as written; the spec runs the translation

    def run(data: dict) -> tuple:
        case = cases.start_case(session, "juel_modeler", {}, actor("clerk"))
        [intake] = cases.open_tasks(session, case.id)
        tasks.complete_task(session, intake.id, data, actor("clerk"))
        session.refresh(case)
        return case, cases.open_tasks(session, case.id)

    case, [handle] = run({"approved": True, "amount": 800, "handler": "dept_hrss", "deadline": "2026-03-20"})
    assert handle.spec_name == "handle" and handle.roles == ["dept_hrss"]  # candidateGroups="${handler}"
    assert handle.due_at.astimezone(CHINA_TZ).date().isoformat() == "2026-03-20"  # dueDate="${deadline}"
    case, open_tasks = run({"approved": False, "amount": 5000, "handler": "mediator"})
    assert (case.status, case.outcome, open_tasks) == ("closed", "大额不同意", [])
    case, open_tasks = run({"approved": False, "amount": None, "handler": "mediator"})
    assert (case.status, case.outcome) == ("closed", "其他")  # empty amount: the default flow


def test_the_deploy_check_names_the_construct_and_the_element(session, directory):
    from engine.errors import ProcessDefinitionError

    xml = (FIXTURES / "engine" / "juel_modeler.bpmn").read_bytes().replace(
        b"${handler}", b"${routing.unitFor(handler)}")
    with pytest.raises(ProcessDefinitionError) as caught:
        processes.deploy(session, {"juel_modeler.bpmn": xml}, SYSTEM)
    [problem] = caught.value.problems
    line = next(n for n, text in enumerate(xml.decode().splitlines(), 1) if 'id="handle"' in text)
    assert problem.element_id == "handle" and problem.line == line
    assert "a property, method or index (routing.…) is outside the JUEL subset" in problem.message
