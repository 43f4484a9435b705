"""Form rules beyond Camunda's constraints (engine/form_rules.py): a date bound `today`, phone numbers, and
jiefen.show_if — refused at deploy when malformed, honoured by the engine's validation (issue 17 §5)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine import form_rules, forms, specs
from engine.errors import InvalidData
from tests.unit.test_specs import field, find, process, rejected, user_task


@pytest.mark.parametrize("text", ["13800000000", "138 0000 0000", "139-1234-5678", "+86 13812345678",
                                  "0571-87654321", "010 12345678", "(0571)87654321", "0571-87654321转123"])
def test_phone_numbers_that_are_phones(text):
    assert form_rules.is_phone(text)


@pytest.mark.parametrize("text", ["12345", "12800000000", "1380000000", "87654321", "0571-876", "电话13800000000",
                                  "abc", ""])
def test_phone_numbers_that_are_not(text):
    assert not form_rules.is_phone(text)


@pytest.mark.parametrize("text, rule", [
    ("dispatch_route == 'handle'", ("dispatch_route", "==", "handle")),
    ('route != "escalate"', ("route", "!=", "escalate")),
    ("count == 3", ("count", "==", 3)),
    ("agree == true", ("agree", "==", True)),
    ("a == b", None), ("a > 3", None), ("__import__('os') == 1", None), ("a == 'x' or b == 'y'", None),
])
def test_show_if_has_a_tiny_syntax(text, rule):
    assert form_rules.parse_show_if(text) == rule


def test_show_if_compares_browser_text_too():
    spec = {"show_if": "agree == true"}
    assert form_rules.applies(spec, {"agree": "true"}) and form_rules.applies(spec, {"agree": True})
    assert not form_rules.applies(spec, {"agree": "false"}) and not form_rules.applies(spec, {})
    assert form_rules.applies({"show_if": "n != 2"}, {"n": "3"}) and not form_rules.applies({"show_if": "n != 2"},
                                                                                          {"n": "2"})


FORM = [
    {"id": "route", "label": "分流方式", "type": "enum", "required": True, "enum": [("handle", "本级"), ("up", "上报")]},
    {"id": "dept", "label": "承办部门", "type": "string", "required": True, "show_if": "route == 'handle'"},
    {"id": "phone", "label": "联系电话", "type": "string", "required": False, "phone": True},
    {"id": "received", "label": "收件日期", "type": "date", "required": False, "max": "today"},
    {"id": "later", "label": "约定日期", "type": "date", "required": False, "min": "2026-03-01", "max": "2026-12-31"},
]


def _errors(rt, data):
    with pytest.raises(InvalidData) as caught:
        forms.validate_form(forms.build_schema(FORM, name="Form_rules"), data, rt)
    return {key: [m.id for m in value] for key, value in caught.value.details.items()}


def test_engine_refuses_future_dates_bad_phones_and_requires_only_fields_that_apply(rt, clock):
    clock.set(datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc))  # 23:30 in China: still 2 March there
    schema = forms.build_schema(FORM, name="Form_rules")
    ok = forms.validate_form(schema, {"route": "up", "dept": "民政", "phone": "0571-87654321",
                                      "received": "2026-03-02"}, rt)
    assert ok == {"route": "up", "phone": "0571-87654321", "received": "2026-03-02"}  # dept does not apply
    assert _errors(rt, {"route": "handle", "received": "2026-03-03", "phone": "12345", "later": "2027-01-01"}) == {
        "dept": ["form.required"], "received": ["form.date_after_today"], "phone": ["form.not_phone"],
        "later": ["form.date_max"]}
    assert _errors(rt, {"route": "up", "later": "2026-02-28"}) == {"later": ["form.date_min"]}
    clock.set(datetime(2026, 3, 2, 16, 30, tzinfo=timezone.utc))  # 00:30 on 3 March in China
    assert forms.validate_form(schema, {"route": "up", "received": "2026-03-03"}, rt)["received"] == "2026-03-03"


@pytest.mark.parametrize("form, element, fragment", [
    (field('id="d" type="date"', '<camunda:validation><camunda:constraint name="max" config="tomorrow" />'
                                  '</camunda:validation>'), "x", "needs 'today' or an ISO date"),
    (field('id="n" type="long"', '<camunda:validation><camunda:constraint name="phone" /></camunda:validation>'),
     "x", "applies to string fields"),
    (field('id="a" type="string"', '<camunda:properties><camunda:property id="jiefen.show_if" value="b &gt; 1" />'
                                    '</camunda:properties>'), "x", "must read field == 'value'"),
    (field('id="a" type="string"', '<camunda:properties><camunda:property id="jiefen.show_if" value="b == 1" />'
                                    '</camunda:properties>'), "x", "not another field of this form"),
    (field('id="e" type="enum"', '<camunda:value id="yes" name="是" />')
     + field('id="a" type="string"', '<camunda:properties><camunda:property id="jiefen.show_if" '
                                      'value="e == \'maybe\'" /></camunda:properties>'), "x",
     "not one of its enum value ids"),
], ids=["date bound", "phone on a number", "show_if syntax", "show_if field", "show_if enum value"])
def test_malformed_rules_are_refused_at_deploy(form, element, fragment):
    find(rejected({"rule.bpmn": process(user_task(form=form)).encode()}), element, fragment)


def test_rules_reach_the_form_fields_of_a_deployed_process():
    form = (field('id="route" type="enum"', '<camunda:value id="handle" name="本级" />')
            + field('id="d" type="date"', '<camunda:validation><camunda:constraint name="max" config="today" />'
                                           '</camunda:validation>')
            + field('id="p" type="string"', '<camunda:properties><camunda:property id="jiefen.show_if" '
                                             'value="route == \'handle\'" /></camunda:properties><camunda:validation>'
                                             '<camunda:constraint name="phone" /></camunda:validation>'))
    [definition] = specs.parse_files({"ok.bpmn": process(user_task(form=form)).encode()})
    fields = {f.id: f for f in definition.user_tasks["x"].form}
    assert fields["d"].max == "today" and fields["p"].phone and fields["p"].show_if == "route == 'handle'"
