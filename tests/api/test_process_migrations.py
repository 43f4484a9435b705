"""Issue 19 §4 through the API: POST /api/v1/processes/{id}/migrations — the dry run, refusals with reasons, the
real run keeping due dates and timer moments, the new version's path after it, verify, who may."""
from __future__ import annotations

from tests.support.cases import INTAKE
from tests.support.web import csrf, ui_login
from tests.unit.test_case_migration import V2, V_RENAMED

URL = "/api/v1/processes/small_mediation/migrations"


def _deploy(client, headers, xml: str):
    response = client.post("/api/v1/processes?filename=small_mediation.bpmn&note=v", data=xml.encode("utf-8"),
                           headers={**headers, "Content-Type": "application/xml"})
    assert response.status_code == 201, response.get_json()


def _registered(client, clerk) -> dict:
    case = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=clerk).get_json()
    task_id = case["tasks"][0]["id"]
    done = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": INTAKE}, headers=clerk)
    assert done.status_code == 200, done.get_json()
    return client.get(f"/api/v1/cases/{case['id']}", headers=clerk).get_json()


def test_dry_run_then_migration_keeps_due_dates_and_timers(client, login):
    admin, clerk = login("admin"), login("clerk")
    case = _registered(client, clerk)
    _deploy(client, admin, V2)
    preview = client.post(URL, json={"from_version": 1, "to_version": 2}, headers=admin)
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert body["dry_run"] and body["migrated"] == 0
    [planned] = body["cases"]
    assert (planned["code"], planned["movable"], planned["reasons"]) == (case["code"], True, [])
    assert {(s["kind"], s["from_name"], s["to_name"]) for s in planned["steps"]} >= {
        ("task", "调解", "调解（含复核）"), ("timer", "调解期满", "调解期满")}
    assert client.get(f"/api/v1/cases/{case['id']}", headers=clerk).get_json()["version"] == 1

    run = client.post(URL, json={"from_version": 1, "to_version": 2, "dry_run": False, "note": "加复核"}, headers=admin)
    assert run.status_code == 200, run.get_json()
    assert run.get_json()["migrated"] == 1 and run.get_json()["cases"][0]["migrated"]
    after = client.get(f"/api/v1/cases/{case['id']}", headers=clerk).get_json()
    assert after["version"] == 2
    assert [(t["id"], t["due_at"]) for t in after["tasks"]] == [(t["id"], t["due_at"]) for t in case["tasks"]]
    assert after["tasks"][0]["title"] == "调解（含复核）"
    # every pending timer keeps its moment (v2's 60 legal days do not re-arm the 30); the ladder's steps follow the
    # task's unchanged due date (their names follow its new title)
    assert [(t["kind"], t["due_at"]) for t in after["timers"]] == [(t["kind"], t["due_at"]) for t in case["timers"]]
    assert [t for t in after["timers"] if t["kind"] == "bpmn"] == [t for t in case["timers"] if t["kind"] == "bpmn"]
    verify = client.get(f"/api/v1/cases/{case['id']}/verify", headers=admin).get_json()
    assert verify["chain_ok"] and verify["replay_ok"], verify
    # the new version's path: the mediation is followed by v2's review
    mediator = login("mediator1")
    done = client.post(f"/api/v1/tasks/{after['tasks'][0]['id']}/complete", json={"data": {"result": "agreed"}},
                       headers=mediator)
    assert done.status_code == 200, done.get_json()
    assert [t["title"] for t in done.get_json()["tasks"]] == ["复核"]
    history = client.get(f"/api/v1/cases/{case['id']}/events", headers=admin).get_json()["items"]
    migrated = [e for e in history if e["type"] == "case_migrated"]
    assert len(migrated) == 1 and migrated[0]["actor"] == "admin"
    audit = client.get("/api/v1/processes/audit?process_id=small_mediation", headers=login("auditor")).get_json()
    assert audit["items"][0]["action"] == "migrated" and case["code"] in audit["items"][0]["note"]


def test_refusals_with_reasons_and_a_mapping(client, login):
    admin, clerk = login("admin"), login("clerk")
    case = _registered(client, clerk)
    _deploy(client, admin, V_RENAMED)
    refused = client.post(URL, json={"from_version": 1, "to_version": 2, "dry_run": False}, headers=admin).get_json()
    [entry] = refused["cases"]
    assert not entry["movable"] and not entry["migrated"] and "调解" in entry["reasons"][0]
    assert client.get(f"/api/v1/cases/{case['id']}", headers=clerk).get_json()["version"] == 1
    for body, field in (({"from_version": 1, "to_version": 2, "task_mapping": {"mediate": "nope"}}, "task_mapping"),
                        ({"from_version": 1, "to_version": 2, "task_mapping": {"mediate": "count"}}, "task_mapping"),
                        ({"from_version": 2, "to_version": 2}, "to_version"),
                        ({"from_version": 1}, "to_version"),
                        ({"from_version": 1, "to_version": 2 ** 40}, "to_version"),
                        ({"from_version": 1, "to_version": 2, "note": "x" * 2001}, "note"),
                        ({"from_version": 1, "to_version": 2, "case_ids": [987654]}, "case_ids")):
        response = client.post(URL, json=body, headers=admin)
        assert response.status_code == 422 and field in response.get_json()["details"], (body, response.get_json())
    missing = client.post(URL, json={"from_version": 1, "to_version": 9}, headers=admin)
    assert missing.status_code == 404 and "to_version" in missing.get_json()["details"]
    mapped = client.post(URL, json={"from_version": 1, "to_version": 2, "dry_run": False,
                                    "task_mapping": {"mediate": "mediation"}}, headers=admin).get_json()
    assert mapped["migrated"] == 1
    verify = client.get(f"/api/v1/cases/{case['id']}/verify", headers=admin).get_json()
    assert verify["chain_ok"] and verify["replay_ok"], verify


def test_only_administrators_migrate(client, login):
    _registered(client, login("clerk"))
    _deploy(client, login("admin"), V2)
    for who in ("clerk", "auditor", "super", "mediator1"):
        response = client.post(URL, json={"from_version": 1, "to_version": 2}, headers=login(who))
        assert response.status_code == 403, who


def test_the_process_page_previews_and_migrates_in_chinese(app, client, login):
    case = _registered(client, login("clerk"))
    _deploy(client, login("admin"), V2)
    browser = app.test_client()
    ui_login(browser, "admin", expect=302)
    page = browser.get("/admin/processes/small_mediation").get_data(as_text=True)
    assert "迁移在办案件" in page and "比较版本" in page
    preview = browser.get("/admin/processes/small_mediation/migrate?from_version=1&to_version=2")
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert case["code"] in html and "可以迁移" in html and "调解 → 调解（含复核）" in html and "mediate" not in html
    assert f'name="case_id" value="{case["id"]}" aria-label' in html and "checked" in html
    run = browser.post("/admin/processes/small_mediation/migrate", data={
        "from_version": "1", "to_version": "2", "case_id": str(case["id"]), "note": "加复核", "csrf_token": csrf(html)})
    assert run.status_code == 200
    done = run.get_data(as_text=True)
    assert 'data-migrated="1"' in done and "已迁移" in done
    assert client.get(f"/api/v1/cases/{case['id']}", headers=login("clerk")).get_json()["version"] == 2
    # the case's history names the move in Chinese
    history = browser.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "案件迁移到新版流程" in history and "由第 1 版迁至第 2 版" in history


def test_the_migrate_page_offers_a_mapping_and_shows_reasons(app, client, login):
    case = _registered(client, login("clerk"))
    _deploy(client, login("admin"), V_RENAMED)
    browser = app.test_client()
    ui_login(browser, "admin", expect=302)
    html = browser.get("/admin/processes/small_mediation/migrate?from_version=1&to_version=2").get_data(as_text=True)
    assert "不能迁移" in html and "没有对应环节" in html and 'name="map-mediate"' in html
    assert f'value="{case["id"]}" aria-label' in html and "disabled" in html
    mapped = browser.get("/admin/processes/small_mediation/migrate?from_version=1&to_version=2&map-mediate=mediation")
    assert "可以迁移" in mapped.get_data(as_text=True)


def test_compare_any_two_versions(app, client, login):
    _deploy(client, login("admin"), V2)
    for who in ("admin", "auditor"):
        browser = app.test_client()
        ui_login(browser, who, expect=302)
        html = browser.get("/admin/processes/small_mediation/compare?a=1&b=2").get_data(as_text=True)
        assert "第 2 版相对第 1 版的改动" in html and "复核" in html and "新增" in html and "compare-config" in html
        # an unnamed flow is named by its ends (an unnamed end by its kind), never by its id
        assert "复核 → 网关" in html and "> f4b<" not in html
    api = client.get("/api/v1/processes/small_mediation/diff?from_version=2&to_version=1", headers=login("auditor"))
    assert api.status_code == 200
    assert {(c["element_id"], c["change"]) for c in api.get_json()["items"]} >= {("review", "removed")}
    assert client.get("/api/v1/processes/small_mediation/diff?from_version=1&to_version=7",
                      headers=login("admin")).status_code == 404
    assert client.get("/api/v1/processes/small_mediation/diff?from_version=1&to_version=2",
                      headers=login("clerk")).status_code == 403


def test_non_administrators_cannot_open_the_migrate_page(app, client, login):
    _registered(client, login("clerk"))
    _deploy(client, login("admin"), V2)
    for who in ("auditor", "clerk"):
        browser = app.test_client()
        ui_login(browser, who, expect=302)
        assert browser.get("/admin/processes/small_mediation/migrate?from_version=1&to_version=2").status_code == 403
