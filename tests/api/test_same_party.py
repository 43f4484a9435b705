"""The same party's other cases by their phone (重复件 / 重复信访), through the API and the pages: the phone as
typed in any form finds them (cases.party_key, kept by each command), the caller sees the cases they may read and
only counts of the others, a case page leaves itself out, and the intake form's check is a fragment."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from engine.models import CaseModel
from engine.services import cases
from tests.api.test_ledger import COUNTY, TOWNSHIP, ledger_cases  # noqa: F401 (the fixture, used by name)
from tests.support.web import ui_login


@pytest.fixture
def repeats(session, ledger_cases, actor, clock):  # noqa: F811
    """A (county, 138 0000 1234) from ledger_cases, then E at the township and F at the county: the same phone
    written +86 with hyphens and in full-width digits."""
    made = {}
    for key, who, unit, phone in (("E", "tclerk", TOWNSHIP, "+86 138-0000-1234"),
                                  ("F", "clerk", COUNTY, "１３８００００１２３４")):
        case = cases.start_case(session, "ledger_case", {"title": f"又来了{key}", "category": "neighbour",
                                                         "party_name": "张三", "party_phone": phone}, actor(who), unit)
        made[key] = (case.id, case.code)
        clock.advance(days=1)
    return {**ledger_cases, **made}


def _ask(client, headers, **params):
    response = client.get("/api/v1/cases/same-party", headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_phone_however_written_finds_the_partys_cases(client, login, session, repeats):
    keys = set(session.scalars(select(CaseModel.party_key).where(CaseModel.id.in_(
        [repeats[k][0] for k in "AEF"]))))
    assert keys == {"13800001234"}  # one key, kept by the command from each spelling
    director = _ask(client, login("director"), phone="0086 13800001234")
    assert director["phone_key"] == "13800001234"
    assert [i["code"] for i in director["items"]] == [repeats[k][1] for k in "FEA"]  # newest first
    assert (director["readable"], director["others"], director["others_open"]) == (3, 0, 0)
    assert director["items"][1]["org_unit"]["code"] == TOWNSHIP and director["items"][0]["status"] == "open"
    # the county clerk reads A and F; E is the township's: counted, not shown
    clerk = _ask(client, login("clerk"), phone="138 0000 1234")
    assert [i["code"] for i in clerk["items"]] == [repeats["F"][1], repeats["A"][1]]
    assert (clerk["readable"], clerk["others"], clerk["others_open"]) == (2, 1, 1)
    # a case page leaves itself out; another party's phone finds nothing; a short one is not compared
    assert [i["code"] for i in _ask(client, login("director"), phone="13800001234",
                                    exclude=repeats["A"][0])["items"]] == [repeats[k][1] for k in "FE"]
    assert _ask(client, login("director"), phone="13900005678")["readable"] == 1  # B alone
    assert _ask(client, login("director"), phone="13911112222")["items"] == []
    short = _ask(client, login("director"), phone="1234")
    assert (short["phone_key"], short["items"], short["readable"]) == (None, [], 0)
    # bad input is named
    missing = client.get("/api/v1/cases/same-party", headers=login("director"))
    assert missing.status_code == 422 and "phone" in missing.get_json()["details"]
    bad = client.get("/api/v1/cases/same-party?phone=138&exclude=x", headers=login("director"))
    assert bad.status_code == 422 and "exclude" in bad.get_json()["details"]
    assert client.get("/api/v1/cases/same-party?phone=13800001234").status_code == 401


def test_a_phone_entered_in_a_task_sets_the_key(session, directory, actor):
    """small_mediation takes the phone in its intake task, not at the start: that command sets the key."""
    from tests.support.cases import intake, registered

    case = registered(session, actor("clerk"), intake(party_phone="１３９-1111-2222"))
    assert session.get(CaseModel, case.id).party_key == "13911112222"


def test_the_intake_check_and_the_case_page(app, session, repeats):
    browser = app.test_client()
    ui_login(browser, "clerk", expect=302)
    fragment = browser.get("/cases/same-party?phone=%2B86%20138%200000%201234").get_data(as_text=True)
    assert "该电话已有 3 件其他案件" in fragment and repeats["F"][1] in fragment and repeats["A"][1] in fragment
    assert repeats["E"][1] not in fragment and "另有 1 件由您无权查看的单位办理（其中 1 件在办）" in fragment
    assert browser.get("/cases/same-party?phone=13911112222").get_data(as_text=True).strip() == ""
    page = browser.get(f"/cases/{repeats['A'][0]}").get_data(as_text=True)
    assert 'id="same-party-card"' in page and "同一当事人的其他案件" in page and repeats["F"][1] in page
    assert "请与正在办理的案件一并处理" in page and "请勿重复登记" not in page  # it is registered already
    assert "请勿重复登记" in fragment
    other = browser.get(f"/cases/{repeats['F'][0]}").get_data(as_text=True)
    assert repeats["A"][1] in other and f'href="/cases/{repeats["F"][0]}"' not in other.split("same-party-card")[1]


def test_the_lookup_reads_the_party_key_index(session, repeats):
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's plan")
    plan = " ".join(str(r[-1]) for r in session.execute(text(
        "EXPLAIN QUERY PLAN SELECT id FROM cases WHERE party_key = '13800001234' ORDER BY opened_at DESC LIMIT 20")))
    assert "ix_cases_party_key" in plan, plan


def test_intake_registers_a_repeat_linked_to_the_earlier_case(app, session, repeats):
    """The clerk judges the phone's earlier case the same matter (重复件): the new case is linked to it as a repeat,
    both pages say so; a case the clerk may not read, or no case number, is refused on the form."""
    from tests.support.web import csrf

    browser = app.test_client()
    ui_login(browser, "clerk", expect=302)
    form = {"channel": "walk_in", "party_name": "张三", "party_phone": "13800001234", "handling_dept": "mediator"}
    token = csrf(browser.get("/cases/new/small_mediation").get_data(as_text=True))
    fragment = browser.get("/cases/same-party?phone=13800001234").get_data(as_text=True)
    assert f'name="repeat_of" value="{repeats["A"][0]}"' in fragment  # the choice the intake form submits
    refused = browser.post("/cases/new/small_mediation", data={**form, "csrf_token": token,
                                                               "repeat_of": str(repeats["E"][0])})
    assert refused.status_code == 422 and "请从列出的该当事人案件中选择" in refused.get_data(as_text=True)
    assert browser.post("/cases/new/small_mediation", data={**form, "csrf_token": token,
                                                            "repeat_of": "x1"}).status_code == 422
    before = session.scalar(select(CaseModel.id).order_by(CaseModel.id.desc()).limit(1))
    made = browser.post("/cases/new/small_mediation", data={**form, "csrf_token": token,
                                                            "repeat_of": str(repeats["A"][0])})
    assert made.status_code == 302, made.get_data(as_text=True)[:500]
    session.expire_all()
    new = session.scalars(select(CaseModel).where(CaseModel.id > before)).one()
    assert (new.linked_case_id, new.link_kind, new.party_key) == (repeats["A"][0], "repeat", "13800001234")
    page = browser.get(f"/cases/{new.id}").get_data(as_text=True)
    assert f'{repeats["A"][1]}</a> (重复件)' in page
    earlier = browser.get(f"/cases/{repeats['A'][0]}").get_data(as_text=True)
    assert f"{new.code}</a> (重复件)" in earlier
    # marked 重复件 beside its code in the ledger and on its page, the earlier case not
    ledger_page = browser.get("/cases").get_data(as_text=True)
    row = ledger_page[ledger_page.index(f'>{new.code}</a>'):][:300]
    assert 'class="badge badge-orange case-repeat">重复件<' in row
    row = ledger_page[ledger_page.index(f'>{repeats["A"][1]}</a>'):][:300]
    assert "case-repeat" not in row.split("</td>")[0]
    assert "case-repeat" in page
    # a different matter: no link
    plain = browser.post("/cases/new/small_mediation", data={**form, "csrf_token": token, "repeat_of": ""})
    assert plain.status_code == 302
    session.expire_all()
    assert session.scalars(select(CaseModel).order_by(CaseModel.id.desc()).limit(1)).one().linked_case_id is None


def test_the_api_opens_a_repeat(client, login, session, repeats):
    body = {"process_id": "ledger_case", "data": {"title": "又来了", "party_phone": "13800001234"},
            "org_unit": COUNTY}
    refused = client.post("/api/v1/cases", json={**body, "repeat_of": repeats["E"][0]}, headers=login("clerk"))
    assert refused.status_code == 422 and "repeat_of" in refused.get_json()["details"]
    made = client.post("/api/v1/cases", json={**body, "repeat_of": repeats["A"][0]}, headers=login("clerk"))
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["linked_case_id"], made.get_json()["link_kind"]) == (repeats["A"][0], "repeat")
