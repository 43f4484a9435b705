"""Decision tables edited like processes (issue 19 §6), through the API: a draft of a table on the server (started
from a deployed version or the new-table template, autosaved, listed per author, its author's alone), the diff of a
draft against its version and between any two versions (the table, columns and rules; cells by column), and
deploying a draft with a change note (administrators; a refused table names the cell and the draft stays)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenario.test_dispute import register
from tests.support import PASSWORD

DMN = (Path(__file__).resolve().parents[2] / "processes" / "dispute_tier.dmn").read_text(encoding="utf-8")
# 医疗纠纷 from 一般 to 疑难复杂 (rule 3 takes it, rule 5 no longer), the crowd threshold 30 → 20, a new rule at the
# end, rule 1 removed, FIRST → UNIQUE
MEDICAL = DMN.replace('"medical","traffic_accident"</text></inputEntry>', '"traffic_accident"</text></inputEntry>') \
    .replace('<inputEntry id="rule_3_category"><text>"expropriation"</text>',
             '<inputEntry id="rule_3_category"><text>"expropriation","medical"</text>')


@pytest.fixture
def designer(center):
    from engine.services import users
    users.create_user(center.session, "designer", PASSWORD, ["designer"])
    users.create_user(center.session, "designer2", PASSWORD, ["designer"])
    return center


def _new_draft(c, user="designer", **body):
    response = c.post("/api/v1/decisions/drafts", user, body or {"decision_id": "dispute_tier"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _put(c, draft_id, xml, user="designer"):
    return c.client.put(f"/api/v1/decisions/drafts/{draft_id}", json={"xml": xml}, headers=c.login(user))


def test_a_table_draft_autosaves_for_its_author_and_is_listed(designer):
    c = designer
    draft = _new_draft(c)
    assert (draft["decision_id"], draft["target"], draft["base_version"], draft["author"]) == (
        "dispute_tier", "dispute_tier", 1, "designer")
    assert draft["xml"] == DMN and draft["name"] == "纠纷定级与分流建议"
    saved = _put(c, draft["id"], MEDICAL)
    assert saved.status_code == 200 and saved.get_json()["xml"] is None
    assert c.get(f"/api/v1/decisions/drafts/{draft['id']}", "designer")["xml"] == MEDICAL  # a reload finds it
    listed = c.get("/api/v1/decisions/drafts?decision_id=dispute_tier", "designer")["items"]
    assert [d["id"] for d in listed] == [draft["id"]] and listed[0]["xml"] is None
    assert c.get("/api/v1/decisions/drafts?decision_id=other", "designer")["items"] == []
    # the author's alone: another designer, even an administrator, neither reads nor saves nor deploys it
    url = f"/api/v1/decisions/drafts/{draft['id']}"
    for user in ("designer2", "admin"):
        assert c.client.get(url, headers=c.login(user)).status_code == 403
        assert _put(c, draft["id"], DMN, user).status_code == 403
        assert c.client.delete(url, headers=c.login(user)).status_code == 403
        assert c.post(url + "/deploy", user).status_code == 403
    assert c.get("/api/v1/decisions/drafts", "designer2")["items"] == []
    for user in ("clerk", "screener", "auditor"):
        assert c.client.get("/api/v1/decisions/drafts", headers=c.login(user)).status_code == 403, user
        assert c.post("/api/v1/decisions/drafts", user, {"decision_id": "dispute_tier"}).status_code == 403, user
    # a designer edits but does not deploy; discarding removes it
    assert c.post(url + "/deploy", "designer", {"note": "x"}).status_code == 403
    assert c.client.delete(url, headers=c.login("designer")).status_code == 204
    assert c.client.get(url, headers=c.login("designer")).status_code == 404


def test_the_diff_lists_the_table_its_columns_and_its_rules_cell_by_cell(designer):
    c = designer
    draft = _new_draft(c)
    assert c.get(f"/api/v1/decisions/drafts/{draft['id']}/diff", "designer") == {
        "base_version": 1, "version": None, "items": []}
    rule_1 = DMN[DMN.index('      <rule id="rule_1">'):DMN.index('      <rule id="rule_2">')]
    edited = MEDICAL.replace(rule_1, "").replace("<text>&gt;= 30</text>", "<text>&gt;= 20</text>") \
        .replace('hitPolicy="FIRST"', 'hitPolicy="UNIQUE"').replace('label="涉及人数"', 'label="涉及人数（人）"')
    last = edited.rindex("</rule>") + len("</rule>")
    added = ('\n      <rule id="rule_new"><description>新增：家事纠纷</description>'
             '<inputEntry id="n1"><text>"family"</text></inputEntry><inputEntry id="n2"><text>-</text></inputEntry>'
             '<inputEntry id="n3"><text>-</text></inputEntry><inputEntry id="n4"><text>-</text></inputEntry>'
             '<outputEntry id="n5"><text>"simple"</text></outputEntry>'
             '<outputEntry id="n6"><text>"grassroots_mediator"</text></outputEntry></rule>')
    edited = edited[:last] + added + edited[last:]
    assert _put(c, draft["id"], edited).status_code == 200
    diff = c.get(f"/api/v1/decisions/drafts/{draft['id']}/diff", "designer")
    items = {(i["kind"], i["element_id"]): i for i in diff["items"]}
    assert items[("decision", "dispute_tier")]["fields"] == [
        {"field": "hit_policy", "old": "FIRST", "new": "UNIQUE", "column": None}]
    assert items[("input", "in_people")]["change"] == "changed"
    assert items[("input", "in_people")]["fields"] == [
        {"field": "label", "old": "涉及人数", "new": "涉及人数（人）", "column": None}]
    crowd = items[("rule", "rule_2")]
    assert (crowd["change"], crowd["number"], crowd["old_number"]) == ("changed", 1, 2)  # rule 1 went
    assert crowd["fields"] == [{"field": "cell", "old": ">= 30", "new": ">= 20", "column": "涉及人数（人）"}]
    medical = items[("rule", "rule_3")]["fields"]
    assert medical == [{"field": "cell", "old": '"expropriation"', "new": '"expropriation","medical"',
                        "column": "纠纷类型"}]
    assert items[("rule", "rule_new")]["change"] == "added" and items[("rule", "rule_new")]["label"] == "新增：家事纠纷"
    removed = items[("rule", "rule_1")]
    assert (removed["change"], removed["number"], removed["label"]) == ("removed", 1, "可能激化（高风险）：重大，领导包案")
    # the layout of the file (whitespace, attribute order) is not a change; moving a rule is
    rule_2 = DMN[DMN.index('      <rule id="rule_2">'):DMN.index('      <rule id="rule_3">')]
    swapped = DMN.replace(rule_1 + rule_2, rule_2 + rule_1)
    assert _put(c, draft["id"], swapped).status_code == 200
    moved = c.get(f"/api/v1/decisions/drafts/{draft['id']}/diff", "designer")["items"]
    assert [(i["element_id"], i["change"], i["old_number"], i["number"]) for i in moved] == [
        ("rule_1", "moved", 1, 2)]


def test_an_admin_deploys_a_draft_with_a_note_and_the_next_case_follows_it(designer):
    c = designer
    before = register(c, category="medical", people_involved=2)
    assert c.case(before)["data"]["tier_suggestion"]["tier"] == "ordinary"
    draft = _new_draft(c, "admin")
    broken = MEDICAL.replace("<text>&gt;= 500000</text>", '<text>&gt;= "lots"</text>')
    assert _put(c, draft["id"], broken, "admin").status_code == 200
    refused = c.post(f"/api/v1/decisions/drafts/{draft['id']}/deploy", "admin", {"note": "坏的"})
    assert refused.status_code == 422
    assert any(p["element_id"] == "rule_4" for p in refused.get_json()["details"])
    assert c.get(f"/api/v1/decisions/drafts/{draft['id']}", "admin")["xml"] == broken  # the draft stays
    assert c.get("/api/v1/decisions", "admin")["items"][0]["latest_version"] == 1
    assert _put(c, draft["id"], MEDICAL, "admin").status_code == 200
    deployed = c.post(f"/api/v1/decisions/drafts/{draft['id']}/deploy", "admin", {"note": "医疗纠纷改为疑难复杂"})
    assert deployed.status_code == 201, deployed.get_json()
    body = deployed.get_json()
    assert (body["decision_id"], body["version"]) == ("dispute_tier", 2)
    assert [(p["process_id"], p["version"]) for p in body["processes"]] == [("dispute", 2)]
    assert c.client.get(f"/api/v1/decisions/drafts/{draft['id']}", headers=c.login("admin")).status_code == 404
    versions = c.get("/api/v1/decisions", "auditor")["items"][0]["versions"]
    assert [(v["version"], v["note"]) for v in versions] == [(2, "医疗纠纷改为疑难复杂"), (1, None)]
    after = register(c, category="medical", people_involved=2)
    assert c.case(after)["data"]["tier_suggestion"] == {"tier": "complex", "route": "dept_housing"}
    # any two versions compare, either way round; auditors may read it
    diff = c.get("/api/v1/decisions/dispute_tier/diff?a=1&b=2", "auditor")
    assert (diff["base_version"], diff["version"]) == (1, 2)
    assert [(i["element_id"], [f["column"] for f in i["fields"]]) for i in diff["items"]] == [
        ("rule_3", ["纠纷类型"]), ("rule_7", ["纠纷类型"])]
    back = c.get("/api/v1/decisions/dispute_tier/diff?a=2&b=1", "auditor")["items"]
    assert back[0]["fields"][0]["new"] == '"expropriation"'
    assert c.client.get("/api/v1/decisions/dispute_tier/diff?a=1&b=9", headers=c.login("admin")).status_code == 404
    assert c.client.get("/api/v1/decisions/dispute_tier/diff?a=1", headers=c.login("admin")).status_code == 422
    assert c.client.get("/api/v1/decisions/dispute_tier/diff?a=1&b=2", headers=c.login("clerk")).status_code == 403


def test_a_new_table_starts_from_the_template_and_deploys_as_version_1(designer):
    c = designer
    draft = _new_draft(c, "admin", new_decision_id="family_route", name="家事纠纷分流")
    assert (draft["decision_id"], draft["target"], draft["base_version"]) == (None, "family_route", None)
    assert 'id="family_route"' in draft["xml"] and 'name="家事纠纷分流"' in draft["xml"]
    assert c.get(f"/api/v1/decisions/drafts/{draft['id']}/diff", "admin")["items"] == []
    check = c.client.post("/api/v1/decisions/validate?filename=family_route.dmn", data=draft["xml"].encode(),
                          headers={**c.login("admin"), "Content-Type": "application/xml"})
    assert check.get_json()["problems"] == []  # the template is a table that deploys as it is
    deployed = c.post(f"/api/v1/decisions/drafts/{draft['id']}/deploy", "admin", {"note": "新表"})
    assert deployed.status_code == 201 and deployed.get_json()["version"] == 1
    listed = {d["decision_id"]: d for d in c.get("/api/v1/decisions", "admin")["items"]}
    assert listed["family_route"]["name"] == "家事纠纷分流"
    assert listed["family_route"]["versions"][0]["file_name"] == "family_route.dmn"
    # ids: a name as camunda:decisionRef needs it, and not one already deployed
    bad = c.post("/api/v1/decisions/drafts", "designer", {"new_decision_id": "家事"})
    assert bad.status_code == 422 and "decision_id" in bad.get_json()["details"]
    taken = c.post("/api/v1/decisions/drafts", "designer", {"new_decision_id": "dispute_tier"})
    assert taken.status_code == 409
    both = c.post("/api/v1/decisions/drafts", "designer", {"decision_id": "dispute_tier", "new_decision_id": "x"})
    assert both.status_code == 422
    assert c.post("/api/v1/decisions/drafts", "designer", {"decision_id": "nope"}).status_code == 404


def test_the_pages_new_table_form_changes_list_and_comparison(designer, app):
    """The UI side: 新建决策表 refuses a bad or taken id with the form again, opens the editor on a good one; a
    draft's change list and the comparison of two versions render in Chinese; others get 403."""
    from tests.support.web import csrf, ui_login

    c = designer
    browser = app.test_client()
    ui_login(browser, "designer", expect=302)
    form = browser.get("/admin/decisions/new")
    assert form.status_code == 200 and "新建决策表" in form.get_data(as_text=True)
    token = csrf(form.get_data(as_text=True))
    bad = browser.post("/admin/decisions/new", data={"csrf_token": token, "name": "家事", "decision_id": "家事"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "决策标识须以字母或 _ 开头" in html and 'value="家事"' in html
    taken = browser.post("/admin/decisions/new", data={"csrf_token": token, "decision_id": "dispute_tier"})
    assert taken.status_code == 409 and "已部署" in taken.get_data(as_text=True)
    made = browser.post("/admin/decisions/new", data={"csrf_token": token, "name": "家事纠纷分流",
                                                       "decision_id": "family_route"})
    assert made.status_code == 302 and "/admin/decisions/family_route/edit?draft=" in made.headers["Location"]
    editor = browser.get(made.headers["Location"]).get_data(as_text=True)
    assert "新决策表，尚未部署" in editor and "decision-config" in editor
    listed = browser.get("/admin/decisions").get_data(as_text=True)
    assert 'id="my-decision-drafts"' in listed and "家事纠纷分流" in listed

    draft = _new_draft(c)
    assert _put(c, draft["id"], DMN.replace("<text>&gt;= 30</text>", "<text>&gt;= 20</text>")).status_code == 200
    changes = browser.get(f"/admin/decisions/drafts/{draft['id']}/changes").get_data(as_text=True)
    assert 'data-count="1"' in changes and "规则 2" in changes and "涉及人数" in changes
    assert "<code>&gt;= 30</code> → <code>&gt;= 20</code>" in changes
    other = app.test_client()
    ui_login(other, "designer2", expect=302)
    assert other.get(f"/admin/decisions/drafts/{draft['id']}/changes").status_code == 403

    c.post(f"/api/v1/decisions/drafts/{_new_draft(c, 'admin')['id']}/deploy", "admin")  # nothing changed: a no-op
    admin_draft = _new_draft(c, "admin")
    assert _put(c, admin_draft["id"], MEDICAL, "admin").status_code == 200
    assert c.post(f"/api/v1/decisions/drafts/{admin_draft['id']}/deploy", "admin", {"note": "医疗"}).status_code == 201
    auditor = app.test_client()
    ui_login(auditor, "auditor", expect=302)
    compare = auditor.get("/admin/decisions/dispute_tier/compare")  # the newest two by default
    html = compare.get_data(as_text=True)
    assert compare.status_code == 200 and "第 2 版相对第 1 版的改动" in html and "规则 3" in html
    assert auditor.get("/admin/decisions/dispute_tier/compare?a=1&b=9").status_code == 404
    assert auditor.get("/admin/decisions/new").status_code == 403
    clerk = app.test_client()
    ui_login(clerk, "clerk", expect=302)
    assert clerk.get("/admin/decisions/dispute_tier/compare").status_code == 403
