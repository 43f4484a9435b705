"""The public case lookup: code + phone, status and next step only, one answer for every mismatch."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import InvalidData
from engine.models import CaseEventModel
from engine.services import cases, history, tasks
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


# ---------------------------------------------------------------- tolerant input (issue 18 §4)

def _spaced(code: str) -> str:
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4))


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


@pytest.mark.parametrize("shape", ["spaced", "full_width", "full_width_spaced", "lower_x", "padded"])
def test_lookup_reads_the_code_as_people_type_it(client, case, shape):
    typed = {"spaced": _spaced(case.code), "full_width": _full_width(case.code),
             "full_width_spaced": "\u3000".join(_full_width(case.code[i:i + 4]) for i in range(0, 19, 4)),
             "lower_x": case.code.lower(), "padded": f"  {case.code}  "}[shape]
    response = lookup(client, typed, "13912345678")
    assert response.status_code == 200, shape
    assert case.code in response.get_data(as_text=True)


@pytest.mark.parametrize("phone", ["+86 139 1234 5678", "+8613912345678", "008613912345678", "８６１３９１２３４５６７８",
                                   "１３９ １２３４ ５６７８", "139-1234-5678"])
def test_lookup_reads_the_phone_as_people_type_it(client, case, phone):
    assert lookup(client, case.code, phone).status_code == 200, phone


@pytest.mark.parametrize("phone", ["1391234567", "13912345679", "+85213912345678", "5678", "86"])
def test_lookup_still_needs_the_whole_phone(client, case, phone):
    assert lookup(client, case.code, phone).status_code == 404, phone


def test_code_field_keyboard(client, case):
    """A number pad for a code of digits; a text keyboard (and the X button) for a code ending in X."""
    digits = client.get("/lookup?code=3301061020260000010").get_data(as_text=True)
    assert 'inputmode="numeric"' in digits and "data-append-x" in digits
    with_x = client.get("/lookup?code=330106102026000007x").get_data(as_text=True)
    assert 'value="330106102026000007X"' in with_x and 'inputmode="text"' in with_x


def test_lookup_shows_the_stage_in_words_and_the_unit_with_its_phone(client, session, case, directory):
    directory.set_org_unit_phone(session, "330106000", "0571-8701 2345")
    html = lookup(client, case.code, "13912345678").get_data(as_text=True)
    assert "调解办理" in html and 'aria-current="step"' in html  # the mediator's task: handling
    assert "您的案件正在调解或办理中" in html
    assert "西湖区综治中心" in html and "0571-8701 2345" in html and 'href="tel:057187012345"' in html


def test_a_unit_phone_must_be_a_phone(session, directory):
    with pytest.raises(InvalidData) as refused:
        directory.set_org_unit_phone(session, "330106000", "请拨打总机")
    assert "phone" in refused.value.details


# ---------------------------------------------------------------- the party's rating (issue 18 §4)

def rate(client, code: str, phone: str, rating: str | None, comment: str = ""):
    token = csrf(client.get(f"/lookup?code={code}").get_data(as_text=True))
    data = {"code": code, "phone": phone, "comment": comment, "csrf_token": token}
    if rating is not None:
        data["rating"] = rating
    return client.post("/lookup/rate", data=data)


@pytest.fixture
def closed(session, case, actor):
    [mediate] = cases.open_tasks(session, case.id)
    return tasks.complete_task(session, mediate.id, {"result": "agreed"}, actor("mediator1"))


def test_party_rates_a_closed_case_once(client, session, closed):
    page = lookup(client, closed.code, "13912345678").get_data(as_text=True)
    assert 'action="/lookup/rate"' in page and "基本满意" in page
    response = rate(client, _spaced(closed.code), "+86 139 1234 5678", "basically_satisfied", "调解员很耐心")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "基本满意" in html and 'action="/lookup/rate"' not in html
    session.expire_all()
    stored = session.get(type(closed), closed.id)
    assert stored.data["party_rating"] == "basically_satisfied"
    assert stored.data["party_rating_comment"] == "调解员很耐心"
    [event] = session.scalars(select(CaseEventModel).where(CaseEventModel.case_id == closed.id,
                                                           CaseEventModel.type == "party_rated")).all()
    assert event.actor == "@party" and event.payload == {"rating": "basically_satisfied", "comment": "调解员很耐心",
                                                          "changes": {"party_rating": [None, "basically_satisfied"]}}
    again = rate(client, closed.code, "13912345678", "dissatisfied")
    assert again.status_code == 409 and "已评价" in again.get_data(as_text=True)
    session.expire_all()
    assert session.get(type(closed), closed.id).data["party_rating"] == "basically_satisfied"
    # the lookup says so afterwards, without the form
    later = lookup(client, closed.code, "13912345678").get_data(as_text=True)
    assert "您已评价" in later and 'action="/lookup/rate"' not in later


def test_the_partys_rating_counts_in_the_satisfaction_rate(client, session, closed, actor, clock):
    """满意率 reads the party's own rating as it reads the revisit's (engine/stats.py), counted when it is given and
    the same after a rebuild."""
    from engine import stats as stats_defs
    from engine.clock import CHINA_TZ
    from engine.services import stats

    day = clock.now().astimezone(CHINA_TZ).date()

    def rate_now():
        result = stats.get_stats(session, actor("auditor"), day, day, "org_unit", None)
        return result.total["satisfaction_rate"]

    assert rate_now() is None  # nothing rated yet
    assert rate(client, closed.code, "13912345678", "dissatisfied").status_code == 200
    session.expire_all()
    assert rate_now() == 0.0  # one rating, 不满意
    stats_defs.rebuild(session)
    assert rate_now() == 0.0


def test_history_verifies_after_a_rating(client, session, closed, actor):
    assert rate(client, closed.code, "13912345678", "satisfied").status_code == 200
    session.expire_all()  # the request committed through its own session
    result = history.verify_case(session, closed.id, actor("auditor"))
    assert result.chain_ok and result.replay_ok, result.problems


def test_rating_an_open_case_is_refused(client, session, case):
    response = rate(client, case.code, "13912345678", "satisfied")
    assert response.status_code == 409 and "办结后" in response.get_data(as_text=True)
    session.expire_all()
    assert "party_rating" not in session.get(type(case), case.id).data


@pytest.mark.parametrize("rating", [None, "", "great"])
def test_rating_must_be_one_of_the_three(client, closed, rating):
    response = rate(client, closed.code, "13912345678", rating)
    assert response.status_code == 422
    assert "满意、基本满意、不满意" in response.get_data(as_text=True)


def test_rating_comment_is_bounded(client, closed):
    assert rate(client, closed.code, "13912345678", "satisfied", "长" * 501).status_code == 422


def test_rating_needs_the_lookups_proof(client, closed):
    wrong = rate(client, closed.code, "13900000000", "dissatisfied")
    assert wrong.status_code == 404 and "案件编号与联系电话不匹配" in wrong.get_data(as_text=True)
    assert "不满意" not in wrong.get_data(as_text=True).split("案件编号与联系电话不匹配")[1][:200]


def test_rating_needs_a_csrf_token(client, closed):
    assert client.post("/lookup/rate", data={"code": closed.code, "phone": "13912345678",
                                             "rating": "satisfied"}).status_code == 400


@pytest.mark.committed_db  # the rate limiter counts in a transaction of its own
def test_failed_ratings_and_lookups_share_one_limit(client, app, closed):
    app.config["JIEFEN_LOOKUP_MAX_FAILURES"] = 3
    assert rate(client, closed.code, "1", "satisfied").status_code == 404
    assert lookup(client, closed.code, "1").status_code == 404
    assert rate(client, closed.code, "2", "satisfied").status_code == 404
    assert rate(client, closed.code, "13912345678", "satisfied").status_code == 429
    assert lookup(client, closed.code, "13912345678").status_code == 429
