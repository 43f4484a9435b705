"""Issue 19 §4 (draft hand-over): a designer submits a draft for deployment (提交审核); administrators see the
submitted drafts, open, deploy or return them with a note; every step recorded; nobody else sees them."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import PASSWORD
from tests.support.web import csrf, ui_login

XML = (Path(__file__).resolve().parent.parent / "fixtures" / "engine" / "small_mediation.bpmn").read_text(encoding="utf-8")
EDITED = XML.replace('name="调解"', 'name="联合调解"')


@pytest.fixture
def designer(session, directory):
    directory.create_user(session, "designer1", PASSWORD, ["designer"])


def _draft(client, headers) -> dict:
    draft = client.post("/api/v1/processes/drafts", json={"process_id": "small_mediation"}, headers=headers).get_json()
    saved = client.put(f"/api/v1/processes/drafts/{draft['id']}", json={"xml": EDITED}, headers=headers)
    assert saved.status_code == 200, saved.get_json()
    return draft


def test_submit_return_resubmit_deploy(client, login, designer):
    author, admin = login("designer1"), login("admin")
    draft = _draft(client, author)
    url = f"/api/v1/processes/drafts/{draft['id']}"
    assert client.get(url, headers=admin).status_code == 403  # private until submitted
    assert client.get("/api/v1/processes/drafts/submitted", headers=admin).get_json()["items"] == []
    submitted = client.post(url + "/submit", json={"note": "调解改名为联合调解"}, headers=author)
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["submitted_at"] and submitted.get_json()["submit_note"] == "调解改名为联合调解"
    [listed] = client.get("/api/v1/processes/drafts/submitted", headers=admin).get_json()["items"]
    assert (listed["id"], listed["author"]) == (draft["id"], "designer1")
    opened = client.get(url, headers=admin)
    assert opened.status_code == 200 and opened.get_json()["xml"] == EDITED
    assert client.get(url + "/diff", headers=admin).status_code == 200
    assert client.put(url, json={"xml": XML}, headers=admin).status_code == 403  # only its author edits it

    returned = client.post(url + "/return", json={"note": "请补充调解期限说明"}, headers=admin)
    assert returned.status_code == 200, returned.get_json()
    body = client.get(url, headers=author).get_json()
    assert (body["submitted_at"], body["returned_by"], body["return_note"]) == (None, "admin", "请补充调解期限说明")
    assert client.get(url, headers=admin).status_code == 403  # back with its author alone
    assert client.post(url + "/return", json={}, headers=admin).status_code == 409  # not submitted (any more)

    client.post(url + "/submit", json={"note": "已补充"}, headers=author)
    deployed = client.post(url + "/deploy", json={"note": "联合调解（设计员 designer1 提交）"}, headers=admin)
    assert deployed.status_code == 201, deployed.get_json()
    assert deployed.get_json()["version"] == 2
    assert client.get(url, headers=author).status_code == 404  # deployed: the draft is gone
    audit = client.get("/api/v1/processes/audit?process_id=small_mediation", headers=login("auditor")).get_json()
    assert [(a["action"], a["actor"]) for a in audit["items"]][:4] == [
        ("deployed", "admin"), ("submitted", "designer1"), ("returned", "admin"), ("submitted", "designer1")]
    assert "请补充调解期限说明" in audit["items"][2]["note"]


def test_who_may_hand_over(client, login, designer):
    author = login("designer1")
    draft = _draft(client, author)
    url = f"/api/v1/processes/drafts/{draft['id']}"
    for who in ("clerk", "auditor"):
        assert client.post(url + "/submit", json={}, headers=login(who)).status_code == 403
        assert client.get("/api/v1/processes/drafts/submitted", headers=login(who)).status_code == 403
    assert client.post(url + "/submit", json={}, headers=login("admin")).status_code == 403  # not the author
    assert client.post(url + "/deploy", json={}, headers=author).status_code == 403  # designers do not deploy
    too_long = client.post(url + "/submit", json={"note": "x" * 2001}, headers=author)
    assert too_long.status_code == 422 and "note" in too_long.get_json()["details"]
    client.post(url + "/submit", json={}, headers=author)
    assert client.post(url + "/return", json={}, headers=author).status_code == 403
    assert client.post("/api/v1/processes/drafts/999999/return", json={}, headers=login("admin")).status_code == 404


def test_the_pages_hand_a_draft_over_in_chinese(app, client, login, designer):
    draft = _draft(client, login("designer1"))
    designer_ui = app.test_client()
    ui_login(designer_ui, "designer1", expect=302)
    page = designer_ui.get("/admin/processes/small_mediation").get_data(as_text=True)
    assert "提交审核" in page
    done = designer_ui.post(f"/admin/processes/drafts/{draft['id']}/submit",
                            data={"note": "调解改名", "next": "/admin/processes/small_mediation", "csrf_token": csrf(page)})
    assert done.status_code == 302
    assert "已提交审核" in designer_ui.get("/admin/processes/small_mediation").get_data(as_text=True)

    admin_ui = app.test_client()
    ui_login(admin_ui, "admin", expect=302)
    listing = admin_ui.get("/admin/processes").get_data(as_text=True)
    assert "待部署的草稿" in listing and "调解改名" in listing and f'data-submitted-draft="{draft["id"]}"' in listing
    modeler = admin_ui.get(f"/admin/processes/small_mediation/model?draft={draft['id']}")
    assert modeler.status_code == 200 and '"readOnly": true' in modeler.get_data(as_text=True)
    own = designer_ui.get(f"/admin/processes/small_mediation/model?draft={draft['id']}").get_data(as_text=True)
    assert '"readOnly": false' in own
    back = admin_ui.post(f"/admin/processes/drafts/{draft['id']}/return",
                         data={"note": "请补充说明", "csrf_token": csrf(listing)})
    assert back.status_code == 302
    assert "已退回" in designer_ui.get("/admin/processes/small_mediation").get_data(as_text=True)
    page = designer_ui.get("/admin/processes/small_mediation").get_data(as_text=True)
    designer_ui.post(f"/admin/processes/drafts/{draft['id']}/submit", data={"note": "已补充", "csrf_token": csrf(page)})
    listing = admin_ui.get("/admin/processes/small_mediation").get_data(as_text=True)
    deployed = admin_ui.post(f"/admin/processes/drafts/{draft['id']}/deploy",
                             data={"note": "联合调解", "csrf_token": csrf(listing)})
    assert deployed.status_code == 302 and "deployed=2" in deployed.headers["Location"]
