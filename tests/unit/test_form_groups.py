"""Repeatable groups of form fields (jiefen.group "key:label"): one row per party of a 调解协议书. The columns
become a list of rows under the key, each row checked by the columns' own rules; the deploy check refuses a bad
property; the HTML form's inputs `<key>-<row>-<column>` come back as rows, blank rows dropped."""
import pytest
from werkzeug.datastructures import MultiDict

from engine import forms, specs
from engine.errors import InvalidData, ProcessDefinitionError
from tests.unit.test_specs import process, user_task

COLUMNS = [
    {"id": "name", "label": "姓名", "type": "string", "required": True, "maxlength": 10, "group": "parties",
     "group_label": "当事人"},
    {"id": "sex", "label": "性别", "type": "enum", "required": False, "enum": [["male", "男"], ["female", "女"]],
     "group": "parties", "group_label": "当事人"},
    {"id": "age", "label": "年龄", "type": "long", "required": False, "min": 0, "max": 150, "group": "parties",
     "group_label": "当事人"},
    {"id": "note", "label": "备注", "type": "string", "required": False},
]


def test_a_group_is_a_list_of_rows_checked_by_its_columns(rt):
    schema = forms.build_schema(COLUMNS)
    rows = [{"name": "张三", "sex": "male", "age": "45"}, {"name": "李四"}]
    assert forms.validate_form(schema, {"parties": rows, "note": "x"}, rt) == {
        "parties": [{"name": "张三", "sex": "male", "age": 45}, {"name": "李四"}], "note": "x"}
    with pytest.raises(InvalidData) as info:
        forms.validate_form(schema, {"parties": [{"name": "张三", "sex": "other"}, {"sex": "male", "age": 200},
                                                 {"name": "王五", "phone": "1"}]}, rt)
    problems = info.value.details["parties"]
    assert set(problems[0]) == {"sex"} and set(problems[1]) == {"name", "age"} and set(problems[2]) == {"phone"}
    for bad in ({"parties": []}, {}, {"parties": "张三"}, {"parties": [{"name": "x"}] * 51}):
        with pytest.raises(InvalidData) as info:  # required (a required column): one row at least, 50 at most
            forms.validate_form(schema, bad, rt)
        assert "parties" in info.value.details, bad
    # the columns' ids are not fields of their own
    with pytest.raises(InvalidData):
        forms.validate_form(schema, {"parties": [{"name": "张三"}], "name": "张三"}, rt)


def test_the_property_reaches_the_field_and_a_bad_one_is_refused():
    column = ('<camunda:formField id="name" label="姓名" type="string"><camunda:properties>'
              '<camunda:property id="jiefen.group" value="{value}" /></camunda:properties></camunda:formField>')
    [definition] = specs.parse_files({"p.bpmn": process(user_task(form=column.format(value="parties:当事人"))).encode()})
    [field] = definition.user_tasks["x"].form
    assert (field.group, field.group_label) == ("parties", "当事人")
    for value in ("Parties:当事人", "parties", "parties:", "1x:当事人"):
        with pytest.raises(ProcessDefinitionError) as info:
            specs.parse_files({"p.bpmn": process(user_task(form=column.format(value=value))).encode()})
        assert any("key:label" in p.message for p in info.value.problems), value
    clash = column.format(value="name:当事人")
    with pytest.raises(ProcessDefinitionError) as info:
        specs.parse_files({"p.bpmn": process(user_task(form=clash)).encode()})
    assert any("also the id of a field" in p.message for p in info.value.problems)


def test_the_html_form_sends_rows_and_drops_blank_ones(app):
    from webui.task_forms import field_errors, shown_values, submitted_data

    form = MultiDict({"parties-0-name": " 张三 ", "parties-0-sex": "male", "parties-1-name": "", "parties-1-sex": "",
                      "parties-2-name": "李四", "parties-2-age": "38", "note": "x"})
    assert submitted_data(COLUMNS, form) == {"parties": [{"name": "张三", "sex": "male"}, {"name": "李四", "age": "38"}],
                                             "note": "x"}
    # a group with no row entered is left out when required, so the engine names it
    assert "parties" not in submitted_data(COLUMNS, MultiDict({"parties-0-name": ""}))
    shown = shown_values(COLUMNS, {"parties": [{"name": "张三", "age": 45}]})
    assert shown["parties"] == [{"name": "张三", "sex": "", "age": "45"}]
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        errors, _general = field_errors({"parties": {1: {"name": ["必填"]}}})
    assert errors["parties"] == ["第 2 行：必填"]
