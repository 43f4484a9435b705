"""Issue 19 §1 through the API and the /admin/processes pages: every version of a process with who deployed it,
when and why; the active version new cases start on; activation (rollback) as an audited command."""
from __future__ import annotations

from pathlib import Path

from tests.support.web import csrf, ui_login

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
XML = (FIXTURES / "small_mediation.bpmn").read_bytes()
V2 = XML.replace("小型".encode(), "中型".encode())


def _deploy(client, headers, xml: bytes, note: str | None = None):
    url = "/api/v1/processes?filename=small_mediation.bpmn" + (f"&note={note}" if note else "")
    return client.post(url, data=xml, headers={**headers, "Content-Type": "application/xml"})


def _open(client, headers) -> dict:
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_versions_list_who_deployed_each_with_its_note_and_open_cases(client, login):
    admin, clerk, auditor = login("admin"), login("clerk"), login("auditor")
    _open(client, clerk)
    assert _deploy(client, admin, V2, "调解期限改为十五日").status_code == 201
    _open(client, clerk), _open(client, clerk)
    body = client.get("/api/v1/processes/small_mediation/versions", headers=auditor).get_json()
    assert (body["active_version"], body["newest_version"]) == (2, 2)
    v2, v1 = body["versions"]
    assert (v2["version"], v2["active"], v2["open_cases"], v2["deployed_by"], v2["note"]) == (
        2, True, 2, "admin", "调解期限改为十五日")
    assert (v1["version"], v1["active"], v1["open_cases"], v1["note"]) == (1, False, 1, None)
    assert v2["deployed_at"].endswith("+08:00") and len(v2["sha256"]) == 64
    listed = {p["process_id"]: p for p in client.get("/api/v1/processes", headers=clerk).get_json()["items"]}
    assert listed["small_mediation"]["active_version"] == 2


def test_activating_an_earlier_version_rolls_new_cases_back_and_is_recorded(client, login):
    admin, clerk = login("admin"), login("clerk")
    running = _open(client, clerk)
    _deploy(client, admin, V2, "v2")
    on_v2 = _open(client, clerk)
    assert on_v2["version"] == 2
    response = client.post("/api/v1/processes/small_mediation/activate", headers=admin,
                           json={"version": 1, "note": "第2版期限有误，回退"})
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["active_version"], response.get_json()["newest_version"]) == (1, 2)
    assert _open(client, clerk)["version"] == 1  # new cases start on v1 again
    assert client.get(f"/api/v1/cases/{on_v2['id']}", headers=clerk).get_json()["version"] == 2  # running: kept
    assert client.get(f"/api/v1/cases/{running['id']}", headers=clerk).get_json()["version"] == 1
    listed = {p["process_id"]: p for p in client.get("/api/v1/processes", headers=clerk).get_json()["items"]}
    assert (listed["small_mediation"]["active_version"], listed["small_mediation"]["version"]) == (1, 1)
    # activating the active version again records nothing
    again = client.post("/api/v1/processes/small_mediation/activate", headers=admin, json={"version": 1})
    assert again.status_code == 200
    audit = client.get("/api/v1/processes/audit?process_id=small_mediation", headers=login("auditor")).get_json()
    assert [(a["action"], a["version"], a["actor"], a["note"]) for a in audit["items"]][:3] == [
        ("activated", 1, "admin", "第2版期限有误，回退"), ("deployed", 2, "admin", "v2"), ("deployed", 1, "system", None)]
    # an identical deploy stays a no-op and does not move the active version
    assert _deploy(client, admin, V2).status_code == 200
    assert _open(client, clerk)["version"] == 1


def test_who_may_and_what_is_refused(client, login):
    admin, clerk = login("admin"), login("clerk")
    _deploy(client, admin, V2)
    assert client.get("/api/v1/processes/small_mediation/versions", headers=clerk).status_code == 403
    assert client.get("/api/v1/processes/audit", headers=clerk).status_code == 403
    for who in ("clerk", "auditor", "super"):
        refused = client.post("/api/v1/processes/small_mediation/activate", headers=login(who), json={"version": 1})
        assert refused.status_code == 403, who
    missing = client.post("/api/v1/processes/small_mediation/activate", headers=admin, json={"version": 9})
    assert missing.status_code == 404 and "version" in missing.get_json()["details"]
    unknown = client.post("/api/v1/processes/nope/activate", headers=admin, json={"version": 1})
    assert unknown.status_code == 404
    for body, field in (({}, "version"), ({"version": "1"}, "version"), ({"version": 0}, "version"),
                        ({"version": 1, "note": "x" * 2001}, "note")):
        bad = client.post("/api/v1/processes/small_mediation/activate", headers=admin, json=body)
        assert bad.status_code == 422 and field in bad.get_json()["details"], (body, bad.get_json())
    assert client.get("/api/v1/processes/nope/versions", headers=admin).status_code == 404
    assert client.get("/api/v1/processes/small_mediation/versions", headers=admin).get_json()["active_version"] == 2


def test_the_admin_page_lists_versions_in_chinese_and_activates_one(app, login, client):
    _deploy(client, login("admin"), V2, "第二版")
    browser = app.test_client()
    ui_login(browser, "admin", expect=302)
    html = browser.get("/admin/processes").get_data(as_text=True)
    assert "流程管理" in html and "启用版本" in html and "部署与启用记录" in html and "第二版" in html
    page = browser.get("/admin/processes/small_mediation").get_data(as_text=True)
    assert "使用中" in page and "变更说明" in page and "新案件改用第1版" in page
    done = browser.post("/admin/processes/small_mediation/activate",
                        data={"version": "1", "note": "回退", "csrf_token": csrf(page)})
    assert done.status_code == 302
    page = browser.get("/admin/processes/small_mediation").get_data(as_text=True)
    assert "新案件已改用第1版" in page and "新案件改用第2版" in page
    # others: no link in the header, 403 on the page
    clerk = app.test_client()
    ui_login(clerk, "clerk", expect=302)
    assert "流程管理" not in clerk.get("/").get_data(as_text=True)
    assert clerk.get("/admin/processes").status_code == 403


def test_validate_lists_every_problem_without_deploying(client, login):
    """POST /api/v1/processes/validate: the modeler's live check — what deploy would refuse, nothing stored."""
    admin = login("admin")
    bad = XML.replace(b"result == 'agreed'", b"${outcome.agreed()}").replace(b'"=workdays(5)"', b'"=nosuch(5)"')
    response = client.post("/api/v1/processes/validate?filename=small_mediation.bpmn", data=bad,
                           headers={**admin, "Content-Type": "application/xml"})
    assert response.status_code == 200
    problems = response.get_json()["problems"]
    assert {p["element_id"] for p in problems} >= {"f5"} and all(p["severity"] == "error" for p in problems)
    assert all(p["line"] and p["message"] for p in problems if p["element_id"] == "f5")
    clean = client.post("/api/v1/processes/validate", data=V2, headers={**admin, "Content-Type": "application/xml"})
    assert clean.status_code == 200 and clean.get_json() == {"problems": []}
    empty = client.post("/api/v1/processes/validate", data=b" ", headers={**admin, "Content-Type": "application/xml"})
    assert empty.status_code == 422 and "body" in empty.get_json()["details"]
    # nothing was deployed by either
    assert client.get("/api/v1/processes/small_mediation/versions", headers=admin).get_json()["newest_version"] == 1
    assert client.post("/api/v1/processes/validate", data=V2, headers={
        **login("clerk"), "Content-Type": "application/xml"}).status_code == 403


def test_the_workbench_pages_mark_the_processes_tab_and_the_console_its_own(app, login, client):
    """流程管理 is the current tab on every workbench page (processes, the modeler, decision tables); 系统管理 on the
    console's pages — not both."""
    import re

    _deploy(client, login("admin"), V2, "第二版")
    browser = app.test_client()
    ui_login(browser, "admin", expect=302)

    def current(path):
        html = browser.get(path).get_data(as_text=True)
        return re.findall(r'<a href="[^"]*" aria-current="page">([^<]+)</a>', html)
    for path in ("/admin/processes", "/admin/processes/small_mediation", "/admin/processes/small_mediation/model",
                 "/admin/decisions"):
        assert current(path) == ["流程管理"], path
    for path in ("/admin/users", "/admin/org", "/admin/calendar"):
        assert current(path)[0] == "系统管理" and "流程管理" not in current(path), path  # then its own sub-tab
