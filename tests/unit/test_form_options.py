"""Form fields whose options depend on the case or take several values (jiefen.options, jiefen.multiple,
jiefen.parent_only_options), and the deploy-time check of units named in candidate groups."""
import pytest

from engine import forms
from engine.errors import InvalidData, ProcessDefinitionError
from engine.services import processes
from engine.services.users import SYSTEM
from engine.specs.facts import FormField
from tests.unit.test_specs import process, user_task

MULTI = {"id": "co", "label": "协办部门", "type": "enum", "required": True, "enum": [["a", "甲"], ["b", "乙"]],
         "multiple": True}


def test_a_multi_select_takes_a_list_of_its_options(rt):
    schema = forms.build_schema([MULTI])
    assert forms.validate_form(schema, {"co": ["a", "b"]}, rt) == {"co": ["a", "b"]}
    for bad in (["a", "c"], [], "a", None):
        with pytest.raises(InvalidData) as info:
            forms.validate_form(schema, {"co": bad}, rt)
        assert "co" in info.value.details, bad


def test_options_from_the_case_are_not_checked_against_a_static_list(rt):
    schema = forms.build_schema([{"id": "unit", "label": "交办单位", "type": "enum", "required": False, "enum": None,
                                  "options_from": "org_units_below"}])
    assert forms.validate_form(schema, {"unit": "330106001"}, rt) == {"unit": "330106001"}


def test_field_properties_reach_the_form_field():
    from engine import specs
    xml = process(user_task(form='<camunda:formField id="u" label="单位" type="enum"><camunda:properties>'
                                 '<camunda:property id="jiefen.options" value="org_units_below" />'
                                 '<camunda:property id="jiefen.multiple" value="true" /></camunda:properties>'
                                 '</camunda:formField><camunda:formField id="r" label="方式" type="enum">'
                                 '<camunda:properties><camunda:property id="jiefen.parent_only_options" '
                                 'value="up" /></camunda:properties><camunda:value id="here" name="本级" />'
                                 '<camunda:value id="up" name="上报" /></camunda:formField>'))
    [definition] = specs.parse_files({"p.bpmn": xml.encode()})
    unit, route = definition.user_tasks["x"].form
    assert isinstance(unit, FormField) and unit.options_from == "org_units_below" and unit.multiple
    assert route.parent_only == ["up"] and not route.multiple and route.options_from is None


def test_deploy_refuses_a_candidate_group_naming_a_unit_that_does_not_exist(session, directory):
    xml = process(user_task(' camunda:candidateGroups="mediator@330106999"'))
    with pytest.raises(ProcessDefinitionError) as info:
        processes.deploy(session, {"p.bpmn": xml.encode()}, SYSTEM)
    [problem] = info.value.problems
    assert problem.element_id == "x" and "330106999" in problem.message
    ok = process(user_task(' camunda:candidateGroups="mediator@330106001,mediator@parent,intake_clerk@first,'
                           'competent_body_head@unit_of:competent_body"'))
    assert processes.deploy(session, {"p.bpmn": ok.encode()}, SYSTEM)


def test_deploy_refuses_a_unit_of_group_without_its_role(session, directory):
    xml = process(user_task(' camunda:candidateGroups="competent_body_head@unit_of:"'))
    with pytest.raises(ProcessDefinitionError) as info:
        processes.deploy(session, {"p.bpmn": xml.encode()}, SYSTEM)
    [problem] = info.value.problems
    assert problem.element_id == "x" and "unit_of" in problem.message
