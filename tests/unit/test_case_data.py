"""The rules all case data obeys, in the engine: whoever calls start_case or complete_task (CLI, scripts) gets them."""
from __future__ import annotations

import pytest

from engine.case_data import DataLimits, check_data
from engine.errors import InvalidData
from engine.services import cases, tasks
from tests.support import PASSWORD

HELPERS = ("workdays", "legal_days", "natural_days")


def _refused(data, limits=DataLimits()) -> dict:
    with pytest.raises(InvalidData) as caught:
        check_data(data, limits, HELPERS)
    return caught.value.details


def test_depth_counts_the_data_object_as_the_first_level():
    check_data({"a": [[[[[[[[[1]]]]]]]]]}, DataLimits(), HELPERS)  # the object and 9 lists: 10 levels
    assert list(_refused({"a": [[[[[[[[[[1]]]]]]]]]]})) == ["a" + "[0]" * 9]
    refused = _refused({"a": {"b": 1}}, DataLimits(max_depth=1))  # a message by id; as text, the English
    assert refused == {"a": ["nested deeper than 1 levels"]} and refused["a"][0].id == "data.too_deep"


def test_data_deeper_than_the_recursion_limit_is_refused_not_crashed():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert list(_refused({"x": deep})) == ["x" + "[0]" * 9]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_must_be_finite(value):
    assert list(_refused({"amount": value})) == ["amount"]


@pytest.mark.parametrize("text", ["a\x00b", "\u202eevil", "x\u2067y", "\ud800", "\ufeffbom", "bell\x07"])
def test_control_bidi_and_invalid_characters_are_refused_in_values_and_keys(text):
    assert list(_refused({"name": text})) == ["name"]
    assert len(_refused({text: 1})) == 1


def test_ordinary_text_passes():
    check_data({"summary": "第一行\n第二行\t制表\r\n", "name": "José Ñúñez 张三", "n": 1.5, "ok": True, "none": None},
               DataLimits(), HELPERS)


def test_size_and_text_length_limits():
    assert list(_refused({"a": "x" * 11}, DataLimits(max_string=10))) == ["a"]
    assert list(_refused({"a": "x" * 100}, DataLimits(max_bytes=50))) == ["data"]


def test_keys_named_like_the_helpers_are_refused_at_the_top_level_only():
    assert sorted(_refused({"workdays": 1, "legal_days": 2})) == ["legal_days", "workdays"]
    check_data({"nested": {"workdays": 1}}, DataLimits(), HELPERS)


def test_start_case_applies_the_rules_for_every_caller(session, actor):
    clerk = actor("clerk")
    for data in ({"workdays": 1, "legal_days": 2}, {"amount": float("nan")}, {"party_name": "张\u202e三"},
                 {"tier": "x"}, {"channel": "fax"}):
        with pytest.raises(InvalidData):
            cases.start_case(session, "small_mediation", data, clerk)
    session.rollback()
    assert cases.start_case(session, "small_mediation", {"party_name": "张三"}, clerk).data["party_name"] == "张三"


def test_complete_task_applies_the_same_rules(session, actor):
    clerk = actor("clerk")
    case = cases.start_case(session, "small_mediation", {}, clerk)
    intake = cases.open_tasks(session, case.id)[0]
    form = {"channel": "walk_in", "party_name": "张三", "handling_dept": "mediator"}
    for bad in ({"party_name": "张\x00三"}, {"amount": float("inf")}, {"legal_days": 1}):
        with pytest.raises(InvalidData) as caught:
            tasks.complete_task(session, intake.id, {**form, **bad}, clerk)
        assert set(caught.value.details) == set(bad)
        session.rollback()
    assert tasks.complete_task(session, intake.id, form, clerk).status == "open"


def test_a_display_name_with_a_bidi_override_is_a_field_error(session, directory):
    with pytest.raises(InvalidData) as caught:
        directory.create_user(session, "spoof", PASSWORD, ["mediator"], display_name="管理员\u202e")
    assert list(caught.value.details) == ["display_name"]
