"""Issue 19 §2: process drafts on the server — started from a deployed version or the new-process template,
autosaved, listed per author, deployed (administrators; refused with every problem while the deploy check fails)
or discarded; a draft belongs to its author."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import PASSWORD

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
XML = (FIXTURES / "small_mediation.bpmn").read_text(encoding="utf-8")
BROKEN = XML.replace("result == 'agreed'", "result === 'agreed'")


@pytest.fixture
def designers(session, directory):
    directory.create_user(session, "designer1", PASSWORD, ["designer"])
    directory.create_user(session, "designer2", PASSWORD, ["designer"])


def _new_draft(client, headers, **body):
    response = client.post("/api/v1/processes/drafts", json=body or {"process_id": "small_mediation"},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_draft_opens_from_the_active_version_and_autosaves_for_its_author(client, login, designers):
    designer = login("designer1")
    draft = _new_draft(client, designer)
    assert (draft["process_id"], draft["base_version"], draft["author"]) == ("small_mediation", 1, "designer1")
    assert 'id="small_mediation"' in draft["xml"] and draft["name"] == "小型调解（测试）"
    edited = XML.replace('name="调解"', 'name="联合调解"')
    saved = client.put(f"/api/v1/processes/drafts/{draft['id']}", json={"xml": edited}, headers=designer)
    assert saved.status_code == 200 and saved.get_json()["xml"] is None
    again = client.get(f"/api/v1/processes/drafts/{draft['id']}", headers=designer).get_json()
    assert again["xml"] == edited  # reloaded as saved
    listed = client.get("/api/v1/processes/drafts?process_id=small_mediation", headers=designer).get_json()
    assert [d["id"] for d in listed["items"]] == [draft["id"]] and listed["items"][0]["xml"] is None
    assert client.get("/api/v1/processes/drafts?process_id=other", headers=designer).get_json()["items"] == []


def test_a_draft_belongs_to_its_author_and_to_designers_and_admins_only(client, login, designers):
    draft = _new_draft(client, login("designer1"))
    other, admin = login("designer2"), login("admin")
    url = f"/api/v1/processes/drafts/{draft['id']}"
    for headers in (other, admin):
        assert client.get(url, headers=headers).status_code == 403
        assert client.put(url, json={"xml": XML}, headers=headers).status_code == 403
        assert client.delete(url, headers=headers).status_code == 403
        assert client.post(url + "/deploy", json={}, headers=headers).status_code == 403
    assert client.get("/api/v1/processes/drafts", headers=other).get_json()["items"] == []
    for who in ("clerk", "auditor", "super"):
        headers = login(who)
        assert client.get("/api/v1/processes/drafts", headers=headers).status_code == 403, who
        assert client.post("/api/v1/processes/drafts", json={"process_id": "small_mediation"},
                           headers=headers).status_code == 403, who
    # a designer may draw but not deploy
    refused = client.post(url + "/deploy", json={"note": "x"}, headers=login("designer1"))
    assert refused.status_code == 403
    assert client.get(url, headers=login("designer1")).status_code == 200
    assert client.get("/api/v1/processes/drafts/999999", headers=other).status_code == 404


def test_deploying_a_draft_with_problems_is_refused_with_each_and_keeps_the_draft(client, login):
    admin = login("admin")
    draft = _new_draft(client, admin)
    url = f"/api/v1/processes/drafts/{draft['id']}"
    assert client.put(url, json={"xml": BROKEN}, headers=admin).status_code == 200
    refused = client.post(url + "/deploy", json={"note": "坏的"}, headers=admin)
    assert refused.status_code == 422
    problems = refused.get_json()["details"]
    assert problems and all({"element_id", "line", "message"} <= set(p) for p in problems)
    assert any(p["element_id"] for p in problems)
    assert client.get(url, headers=admin).get_json()["xml"] == BROKEN  # kept as it was
    versions = client.get("/api/v1/processes/small_mediation/versions", headers=admin).get_json()
    assert (versions["active_version"], versions["newest_version"]) == (1, 1)


def test_deploying_a_draft_makes_the_next_active_version_with_its_note_and_removes_the_draft(client, login):
    admin = login("admin")
    draft = _new_draft(client, admin)
    url = f"/api/v1/processes/drafts/{draft['id']}"
    client.put(url, json={"xml": XML.replace('name="调解"', 'name="联合调解"')}, headers=admin)
    deployed = client.post(url + "/deploy", json={"note": "调解改为联合调解"}, headers=admin)
    assert deployed.status_code == 201, deployed.get_json()
    assert (deployed.get_json()["process_id"], deployed.get_json()["version"]) == ("small_mediation", 2)
    versions = client.get("/api/v1/processes/small_mediation/versions", headers=admin).get_json()
    assert versions["active_version"] == 2
    v2 = versions["versions"][0]
    assert (v2["note"], v2["deployed_by"], v2["file_name"]) == ("调解改为联合调解", "admin", "small_mediation.bpmn")
    assert client.get(url, headers=admin).status_code == 404
    # a draft of unchanged content deploys as the no-op it is (200), and goes too
    same = _new_draft(client, admin)
    again = client.post(f"/api/v1/processes/drafts/{same['id']}/deploy", json={}, headers=admin)
    assert again.status_code == 200 and again.get_json()["version"] == 2


def test_a_new_process_starts_from_the_template_and_deploys(client, login):
    admin = login("admin")
    draft = _new_draft(client, admin, new_process_id="neighbour_dispute", name="邻里纠纷 <快速>")
    assert (draft["process_id"], draft["base_version"], draft["name"]) == (None, None, "邻里纠纷 <快速>")
    assert 'id="neighbour_dispute"' in draft["xml"] and "邻里纠纷 &lt;快速&gt;" in draft["xml"]
    problems = client.post("/api/v1/processes/validate?filename=n.bpmn", data=draft["xml"].encode(),
                           headers={**admin, "Content-Type": "application/xml"}).get_json()["problems"]
    assert problems == []  # the template deploys as it is
    deployed = client.post(f"/api/v1/processes/drafts/{draft['id']}/deploy", json={"note": "新流程"}, headers=admin)
    assert deployed.status_code == 201, deployed.get_json()
    assert (deployed.get_json()["process_id"], deployed.get_json()["version"]) == ("neighbour_dispute", 1)
    versions = client.get("/api/v1/processes/neighbour_dispute/versions", headers=admin).get_json()
    assert versions["versions"][0]["file_name"] == "neighbour_dispute.bpmn"
    # an id already deployed, a bad id, both sources or none
    taken = client.post("/api/v1/processes/drafts", json={"new_process_id": "small_mediation"}, headers=admin)
    assert taken.status_code == 409
    for body in ({"new_process_id": "1abc"}, {"new_process_id": "a b"}, {}, {"process_id": "small_mediation",
                                                                           "new_process_id": "x"}):
        response = client.post("/api/v1/processes/drafts", json=body, headers=admin)
        assert response.status_code == 422 and "process_id" in response.get_json()["details"], body
    assert client.post("/api/v1/processes/drafts", json={"process_id": "nope"}, headers=admin).status_code == 404
    missing = client.post("/api/v1/processes/drafts", json={"process_id": "small_mediation", "version": 7},
                          headers=admin)
    assert missing.status_code == 404


def test_a_draft_is_discarded_and_bad_saves_are_refused(client, login):
    admin = login("admin")
    draft = _new_draft(client, admin, process_id="small_mediation", version=1)
    url = f"/api/v1/processes/drafts/{draft['id']}"
    for body in ({}, {"xml": ""}, {"xml": "a\x00b"}):
        response = client.put(url, json=body, headers=admin)
        assert response.status_code == 422 and "xml" in response.get_json()["details"], body
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    assert client.delete(url, headers=admin).status_code == 404


def test_the_modeler_pages_are_for_designers_and_admins(client, directory, designers):
    from tests.support.web import csrf, ui_login
    ui_login(client, "auditor")
    assert client.get("/admin/processes/small_mediation/model").status_code == 403
    assert client.get("/admin/processes/new").status_code == 403
    assert client.get("/admin/processes/small_mediation/versions/1.bpmn").status_code == 200  # auditors read it
    assert client.get("/admin/processes/small_mediation/versions/9.bpmn").status_code == 404
    assert client.get("/admin/vendor/not-a-package/x.js").status_code == 404
    client.post("/logout", data={"csrf_token": csrf(client.get("/tasks/").get_data(as_text=True))})
    ui_login(client, "designer1")
    page = client.get("/admin/processes/small_mediation/model")
    assert page.status_code == 200 and 'id="modeler-config"' in page.get_data(as_text=True)
    assert client.get("/admin/processes/small_mediation/model?version=9").status_code == 404
    assert client.get("/admin/processes/small_mediation/model?draft=x").status_code == 404
    # a new process from the form: a draft of the designer's, opened in the modeler
    form = client.get("/admin/processes/new").get_data(as_text=True)
    created = client.post("/admin/processes/new", data={"csrf_token": csrf(form), "process_id": "fast_track",
                                                        "name": "快速调解"})
    assert created.status_code == 302 and "/admin/processes/fast_track/model?draft=" in created.headers["Location"]
    listing = client.get("/admin/processes").get_data(as_text=True)
    assert "快速调解" in listing and 'id="my-drafts"' in listing
    draft_id = int(created.headers["Location"].rsplit("=", 1)[1])
    # a draft opened under another process id is redirected to its own
    assert client.get(f"/admin/processes/other/model?draft={draft_id}").headers["Location"].endswith(
        f"/admin/processes/fast_track/model?draft={draft_id}")
    discarded = client.post(f"/admin/processes/drafts/{draft_id}/discard",
                            data={"csrf_token": csrf(listing), "next": "https://evil.example/"})
    assert discarded.status_code == 302 and discarded.headers["Location"].endswith("/admin/processes")
    assert 'id="my-drafts"' not in client.get("/admin/processes").get_data(as_text=True)


def test_the_diff_lists_what_a_draft_changes_in_its_base_version(client, login):
    admin = login("admin")
    draft = _new_draft(client, admin)
    url = f"/api/v1/processes/drafts/{draft['id']}"
    assert client.get(url + "/diff", headers=admin).get_json() == {"base_version": 1, "items": []}
    edited = (XML.replace('name="调解"', 'name="联合调解"').replace("result == 'agreed'", "result == 'signed'")
              .replace('<bpmn:userTask id="mediate"', '<bpmn:userTask camunda:candidateGroups="mediator" id="mediate"', 1)
              .replace('camunda:candidateGroups="=handling_dept" ', ''))
    client.put(url, json={"xml": edited}, headers=admin)
    items = {i["element_id"]: i for i in client.get(url + "/diff", headers=admin).get_json()["items"]}
    assert items["mediate"]["change"] == "changed" and items["mediate"]["name"] == "联合调解"
    assert items["mediate"]["what"] == ["camunda:candidateGroups", "name"]
    [flow] = [i for i in items.values() if i["type"] == "sequenceFlow"]
    assert (flow["change"], flow["what"]) == ("changed", ["condition"])
    assert len(items) == 2  # nothing else, however the attributes are ordered
    other = login("auditor")
    assert client.get(url + "/diff", headers=other).status_code == 403


def test_a_refused_new_process_keeps_what_was_typed(client, directory, designers):
    from tests.support.web import csrf, ui_login
    ui_login(client, "designer1")
    token = csrf(client.get("/admin/processes/new").get_data(as_text=True))
    for process_id, message in (("small_mediation", "已部署"), ("9lives", "流程标识须以字母")):
        page = client.post("/admin/processes/new", data={"csrf_token": token, "process_id": process_id,
                                                         "name": "我的新流程"})
        html = page.get_data(as_text=True)
        assert page.status_code in (409, 422) and message in html, process_id
        assert 'value="我的新流程"' in html and f'value="{process_id}"' in html


def test_the_modeler_warns_when_a_newer_version_exists(client, login):
    from tests.support.web import ui_login
    admin = login("admin")
    old = _new_draft(client, admin, process_id="small_mediation", version=1)
    client.post("/api/v1/processes?filename=small_mediation.bpmn", data=XML.replace("小型", "中型").encode(),
                headers={**admin, "Content-Type": "application/xml"})
    ui_login(client, "admin")
    assert "data-older-base" in client.get("/admin/processes/small_mediation/model?version=1").get_data(as_text=True)
    assert "data-older-base" in client.get(f"/admin/processes/small_mediation/model?draft={old['id']}").get_data(
        as_text=True)
    assert "data-older-base" not in client.get("/admin/processes/small_mediation/model").get_data(as_text=True)
