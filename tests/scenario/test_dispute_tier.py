"""dispute.bpmn's 研判 gets a suggested tier and route from the decision table dispute_tier (processes/
dispute_tier.dmn, issue 19 §6), through the API: the suggestion is stored as the case's tier_suggestion, the
screener's choice stays theirs, and a new version of the table deployed by an administrator (POST
/api/v1/decisions) changes the suggestion of the next case while a case already open keeps its own table."""
from pathlib import Path

from tests.scenario.test_dispute import AGREE, register
from tests.support.web import ui_login

DMN = (Path(__file__).resolve().parents[2] / "processes" / "dispute_tier.dmn").read_bytes()


def suggestion(c, cid) -> dict:
    return c.case(cid)["data"]["tier_suggestion"]


def deploy(c, xml: bytes, user="admin", note=None):
    url = "/api/v1/decisions?filename=dispute_tier.dmn" + (f"&note={note}" if note else "")
    return c.client.post(url, data=xml, headers={**c.login(user), "Content-Type": "application/xml"})


def test_the_table_suggests_and_the_screener_decides(center):
    c = center
    simple = register(c)  # neighbourhood, 2 people, no amount
    assert suggestion(c, simple) == {"tier": "simple", "route": "grassroots_mediator"}
    labour = register(c, category="labour", people_involved=3, amount=20000)
    assert suggestion(c, labour) == {"tier": "ordinary", "route": "dept_hrss"}
    big = register(c, category="labour", people_involved=3, amount=800000)
    assert suggestion(c, big) == {"tier": "complex", "route": "mediator"}
    crowd = register(c, category="neighbourhood", people_involved=40)
    assert suggestion(c, crowd) == {"tier": "major", "route": "mediator"}
    # the screener overrides: what they submit is the case's tier
    c.complete(simple, "screen", "screener", {**AGREE, "tier": "complex"})
    assert c.case(simple)["data"]["tier"] == "complex"


def test_a_new_table_version_changes_the_next_cases_suggestion(center):
    c = center
    before = register(c, category="medical", people_involved=2)
    assert suggestion(c, before)["tier"] == "ordinary"
    listed = c.get("/api/v1/decisions", "admin")["items"]
    assert [(d["decision_id"], d["latest_version"], d["used_by"]) for d in listed] == [("dispute_tier", 1,
                                                                                          ["dispute"])]
    # designers and screeners may not deploy a table; an administrator may
    assert deploy(c, DMN, user="screener").status_code == 403
    same = deploy(c, DMN)
    assert same.status_code == 200 and same.get_json()["processes"] == []
    changed = DMN.replace(b'"medical","traffic_accident"</text></inputEntry>', b'"traffic_accident"</text></inputEntry>')
    changed = changed.replace(b'<inputEntry id="rule_3_category"><text>"expropriation"</text>',
                              b'<inputEntry id="rule_3_category"><text>"expropriation","medical"</text>')
    response = deploy(c, changed, note="医疗纠纷改为疑难复杂")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["decision_id"], body["version"]) == ("dispute_tier", 2)
    assert [(p["process_id"], p["version"], p["created"]) for p in body["processes"]] == [("dispute", 2, True)]
    after = register(c, category="medical", people_involved=2)
    assert suggestion(c, after) == {"tier": "complex", "route": "dept_housing"}
    assert (c.case(after)["version"], c.case(before)["version"]) == (2, 1)
    # the case opened before keeps the table it started with
    c.complete(before, "screen", "screener", {**AGREE, "tier": "ordinary"})
    assert suggestion(c, before)["tier"] == "ordinary"
    versions = c.get("/api/v1/decisions", "auditor")["items"][0]["versions"]
    assert [(v["version"], v["note"]) for v in versions] == [(2, "医疗纠纷改为疑难复杂"), (1, None)]
    assert c.get("/api/v1/decisions/dispute_tier?version=1", "admin")["xml"].encode() == DMN


def test_a_refused_table_names_the_cell_and_changes_nothing(center):
    c = center
    broken = DMN.replace(b"<text>&gt;= 500000</text>", b"<text>&gt;= \"lots\"</text>")
    assert broken != DMN
    check = c.client.post("/api/v1/decisions/validate", data=broken,
                          headers={**c.login("admin"), "Content-Type": "application/xml"})
    assert check.status_code == 200
    [problem] = check.get_json()["problems"]
    assert "rule 4, input column '争议金额（元）'" in problem["message"] and problem["element_id"] == "rule_4"
    assert problem["line"] == DMN.decode().splitlines().index(
        next(line for line in DMN.decode().splitlines() if 'id="rule_4_amount"' in line)) + 1
    refused = deploy(c, broken)
    assert refused.status_code == 422
    assert c.get("/api/v1/decisions", "admin")["items"][0]["latest_version"] == 1


def test_the_forms_default_to_the_suggestion_marked_as_such(center):
    c = center
    cid = register(c, category="labour", people_involved=3)
    ui_login(c.client, "screener", expect=302)
    page = c.client.get(f"/tasks/{c.task(cid, 'screen')['id']}").get_data(as_text=True)
    tier = page[page.index('data-field="tier"'):]
    tier = tier[:tier.index('data-field="screen_note"')]
    assert 'value="ordinary" checked' in tier and 'value="simple" checked' not in tier
    assert 'data-suggestion="tier"' in tier and "建议" in tier and "一般" in tier
    assert 'data-suggestion="escalation_risk"' not in page  # only fields with jiefen.suggestion
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "complex"})
    page = c.client.get(f"/tasks/{c.task(cid, 'dispatch')['id']}").get_data(as_text=True)
    dept = page[page.index('data-field="handling_dept"'):]
    dept = dept[:dept.index('data-field="mediation_type"')]
    assert 'value="dept_hrss" selected' in dept and "人社局/劳动仲裁" in dept[dept.index('data-suggestion'):]
