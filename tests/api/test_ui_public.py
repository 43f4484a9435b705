"""The public case lookup: code + phone, status and next step only, one answer for every mismatch."""
from __future__ import annotations

import pytest

from engine.services import cases, tasks
from tests.support.web import csrf


def lookup(client, code: str, phone: str):
    token = csrf(client.get(f"/lookup?code={code}").get_data(as_text=True))
    return client.post("/lookup", data={"code": code, "phone": phone, "csrf_token": token})


@pytest.fixture
def case(session, directory, actor):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    intake = cases.open_tasks(session, case.id)[0]
    return tasks.complete_task(session, intake.id, {
        "channel": "phone", "party_name": "王五隐私", "party_phone": "139-1234-5678", "amount": 88000,
        "handling_dept": "mediator"}, actor("clerk"))


def test_lookup_shows_status_and_next_step_only(client, case):
    page = client.get(f"/lookup?code={case.code}").get_data(as_text=True)
    assert f'value="{case.code}"' in page  # the receipt's QR code fills the code in
    response = lookup(client, case.code, "13912345678")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "办理中" in html and "调解" in html and case.code in html
    for personal in ("王五隐私", "139-1234-5678", "13912345678", "88000", "clerk", "mediator"):
        assert personal not in html, personal


def test_wrong_phone_and_unknown_code_get_the_same_answer(client, case):
    wrong_phone = lookup(client, case.code, "13900000000")
    unknown = lookup(client, "3301061020269999990", "13912345678")
    assert wrong_phone.status_code == unknown.status_code == 404
    message = "案件编号与联系电话不匹配，未找到案件。"
    assert message in wrong_phone.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    assert "办理中" not in wrong_phone.get_data(as_text=True)


def test_lookup_needs_no_login_but_a_csrf_token(client, case):
    response = client.post("/lookup", data={"code": case.code, "phone": "13912345678"})
    assert response.status_code == 400


@pytest.mark.committed_db  # the rate limiter counts in a transaction of its own
def test_repeated_failures_are_throttled(client, app, case):
    app.config["JIEFEN_LOOKUP_MAX_FAILURES"] = 3
    for _ in range(3):
        assert lookup(client, case.code, "1").status_code == 404
    response = lookup(client, case.code, "13912345678")
    assert response.status_code == 429
    assert "办理中" not in response.get_data(as_text=True)


def test_case_without_phone_never_matches(client, session, directory, actor):
    bare = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    assert lookup(client, bare.code, "").status_code == 404
