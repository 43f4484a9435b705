"""A designer's decision table draft handed over to an administrator (提交审核), as a process draft is: the
designer edits but may not deploy, so they submit the draft with a note; administrators list the submitted
drafts, open one read-only, deploy it as saved or return it with a note; each hand-over is recorded. Through the
API and the pages' forms."""
from __future__ import annotations

from tests.scenario.test_decision_drafts import DMN, MEDICAL, _new_draft, _put
from tests.scenario.test_decision_drafts import designer  # noqa: F401 (the fixture, used by name)
from tests.scenario.test_dispute import register


def _submitted(c, user="admin"):
    return c.get("/api/v1/decisions/drafts/submitted", user)["items"]


def test_a_designer_submits_an_admin_returns_then_deploys(designer):  # noqa: F811
    c = designer
    draft = _new_draft(c)
    url = f"/api/v1/decisions/drafts/{draft['id']}"
    assert _put(c, draft["id"], MEDICAL).status_code == 200
    assert _submitted(c) == []  # not handed over: the administrator neither lists nor reads it
    assert c.client.get(url, headers=c.login("admin")).status_code == 403
    assert c.post(url + "/deploy", "admin", {"note": "x"}).status_code == 403
    assert c.post(url + "/return", "admin", {"note": "x"}).status_code == 409  # nothing to return

    # only its author submits; the note is checked
    assert c.post(url + "/submit", "designer2", {"note": "x"}).status_code == 403
    too_long = c.post(url + "/submit", "designer", {"note": "长" * 2001})
    assert too_long.status_code == 422 and "note" in too_long.get_json()["details"]
    sent = c.post(url + "/submit", "designer", {"note": "医疗纠纷改为疑难复杂"})
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["submitted_at"] and sent.get_json()["submit_note"] == "医疗纠纷改为疑难复杂"

    # administrators see it, read it and its changes; they do not save over it; others do not see the list
    listed = _submitted(c)
    assert [(d["id"], d["author"], d["target"], d["submit_note"]) for d in listed] == [
        (draft["id"], "designer", "dispute_tier", "医疗纠纷改为疑难复杂")]
    assert c.get("/api/v1/decisions/drafts/submitted?decision_id=other", "admin")["items"] == []
    assert c.get(url, "admin")["xml"] == MEDICAL
    assert [i["element_id"] for i in c.get(url + "/diff", "admin")["items"]] == ["rule_3", "rule_7"]
    assert _put(c, draft["id"], DMN, "admin").status_code == 403
    assert c.client.delete(url, headers=c.login("admin")).status_code == 403
    for user in ("designer", "designer2", "clerk", "auditor"):
        assert c.client.get("/api/v1/decisions/drafts/submitted", headers=c.login(user)).status_code == 403, user
    assert c.post(url + "/return", "designer", {"note": "x"}).status_code == 403

    # returned with a note: the author's alone again, the note on their draft
    back = c.post(url + "/return", "admin", {"note": "请先与法院核对医疗纠纷的定级"})
    assert back.status_code == 200
    mine = c.get("/api/v1/decisions/drafts", "designer")["items"][0]
    assert (mine["submitted_at"], mine["returned_by"], mine["return_note"]) == (
        None, "admin", "请先与法院核对医疗纠纷的定级")
    assert _submitted(c) == [] and c.client.get(url, headers=c.login("admin")).status_code == 403
    assert c.post(url + "/return", "admin", {"note": "again"}).status_code == 409

    # submitted again and deployed by the administrator as saved; the next case follows it
    assert c.post(url + "/submit", "designer", {}).status_code == 200
    assert c.get("/api/v1/decisions/drafts", "designer")["items"][0]["returned_at"] is None
    deployed = c.post(url + "/deploy", "admin", {"note": "已核对：医疗纠纷为疑难复杂"})
    assert deployed.status_code == 201, deployed.get_json()
    assert deployed.get_json()["version"] == 2
    assert c.client.get(url, headers=c.login("designer")).status_code == 404  # the deployed draft is gone
    assert _submitted(c) == []
    case = register(c, category="medical", people_involved=2)
    assert c.case(case)["data"]["tier_suggestion"]["tier"] == "complex"

    # every hand-over recorded, newest first, with the draft and the note
    audit = [(a["action"], a["actor"], a["process_id"], a["note"])
             for a in c.get("/api/v1/processes/audit?process_id=dispute_tier", "auditor")["items"]]
    assert [a[:3] for a in audit[:4]] == [
        ("decision_deployed", "admin", "dispute_tier"), ("decision_submitted", "designer", "dispute_tier"),
        ("decision_returned", "admin", "dispute_tier"), ("decision_submitted", "designer", "dispute_tier")]
    assert "请先与法院核对医疗纠纷的定级" in audit[2][3] and f"draft {draft['id']} by designer" in audit[2][3]


def test_the_pages_submit_list_return_and_deploy(designer, app):  # noqa: F811
    """The same through the pages: 提交审核 from 我的草稿, the administrator's list of submitted tables (with the
    editor opened read-only), 退回 with a note shown to the designer, 部署 from the list."""
    from tests.support.web import csrf, ui_login

    c = designer
    draft = _new_draft(c)
    assert _put(c, draft["id"], MEDICAL).status_code == 200
    author = app.test_client()
    ui_login(author, "designer", expect=302)
    page = author.get("/admin/decisions").get_data(as_text=True)
    assert f'/admin/decisions/drafts/{draft["id"]}/submit' in page and "提交审核" in page
    token = csrf(page)
    sent = author.post(f"/admin/decisions/drafts/{draft['id']}/submit",
                       data={"csrf_token": token, "note": "医疗纠纷改为疑难复杂", "next": "/admin/decisions"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/admin/decisions")
    page = author.get("/admin/decisions").get_data(as_text=True)
    assert "已提交审核" in page and f'/admin/decisions/drafts/{draft["id"]}/submit' not in page

    admin = app.test_client()
    ui_login(admin, "admin", expect=302)
    listing = admin.get("/admin/decisions").get_data(as_text=True)
    assert 'id="submitted-drafts"' in listing and "医疗纠纷改为疑难复杂" in listing
    assert f"/admin/decisions/dispute_tier/edit?draft={draft['id']}" in listing
    editor = admin.get(f"/admin/decisions/dispute_tier/edit?draft={draft['id']}")
    html = editor.get_data(as_text=True)
    assert editor.status_code == 200 and 'id="hand-over-state"' in html and '"readOnly": true' in html
    token = csrf(listing)
    back = admin.post(f"/admin/decisions/drafts/{draft['id']}/return",
                      data={"csrf_token": token, "note": "请先核对", "next": "/admin/decisions"})
    assert back.status_code == 302
    page = author.get("/admin/decisions").get_data(as_text=True)
    assert "已退回" in page and "请先核对" in page
    mine = author.get(f"/admin/decisions/dispute_tier/edit?draft={draft['id']}").get_data(as_text=True)
    assert 'id="hand-over-state"' in mine and "请先核对" in mine and '"readOnly": false' in mine

    author.post(f"/admin/decisions/drafts/{draft['id']}/submit", data={"csrf_token": csrf(page), "note": "已核对"})
    done = admin.post(f"/admin/decisions/drafts/{draft['id']}/deploy", data={"csrf_token": token, "note": "已核对"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/decisions")
    listing = admin.get("/admin/decisions").get_data(as_text=True)
    assert "第 2 版已部署。" in listing and 'class="latest-version">v2<' in listing
    assert 'id="submitted-drafts"' not in listing
    history = admin.get("/admin/processes").get_data(as_text=True)
    assert "决策表草稿提交审核" in history and "决策表草稿退回" in history
    # a designer may not deploy or return through the pages either
    other = author.post(f"/admin/decisions/drafts/{draft['id']}/return", data={"csrf_token": csrf(page)})
    assert other.status_code in (403, 404)
