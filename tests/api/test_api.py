"""The REST contract of issue 2, through the Flask test client on SQLite or PostgreSQL."""
from pathlib import Path
from tests.support.cases import PHONE, intake

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine"

INTAKE = intake(party_phone=PHONE)


def _open(client, headers, data=None):
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": data or {}},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_token_rejects_wrong_password_with_json_error(client, directory):
    response = client.post("/api/v1/auth/token", json={"username": "clerk", "password": "nope"})
    assert response.status_code == 401  # bad credentials: not authenticated (was 403 before issue 15)
    body = response.get_json()
    assert body["error"] == "unauthorized" and "message" in body and "details" in body


def test_requests_without_token_get_401_json(client, directory):
    response = client.get("/api/v1/tasks")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    response = client.get("/api/v1/tasks", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401


def test_openapi_document_lists_the_contract(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/cases", "/api/v1/tasks/{task_id}/complete", "/api/v1/cases/{case_id}/verify"):
        assert path in doc["paths"], path


def test_processes_list_and_deploy_versioning(client, login):
    admin = login("admin")
    xml = (FIXTURES / "small_mediation.bpmn").read_bytes()
    same = client.post("/api/v1/processes", data=xml, headers={**admin, "Content-Type": "application/xml"})
    assert same.status_code == 200 and same.get_json()["version"] == 1
    changed = xml.replace(b"\xe5\xb0\x8f\xe5\x9e\x8b", b"\xe4\xb8\xad\xe5\x9e\x8b")  # 小型 -> 中型 in the name
    created = client.post("/api/v1/processes", data=changed, headers={**admin, "Content-Type": "application/xml"})
    assert created.status_code == 201
    body = created.get_json()
    assert body["process_id"] == "small_mediation" and body["version"] == 2 and len(body["sha256"]) == 64
    items = client.get("/api/v1/processes", headers=admin).get_json()["items"]
    assert [(i["process_id"], i["version"]) for i in items] == [("small_mediation", 2)]


def test_deploy_requires_admin(client, login):
    xml = (FIXTURES / "small_mediation.bpmn").read_bytes()
    response = client.post("/api/v1/processes", data=xml, headers={**login("clerk"), "Content-Type": "application/xml"})
    assert response.status_code == 403


def test_deploy_rejects_bad_bpmn_with_details(client, login):
    bad = (FIXTURES / "small_mediation.bpmn").read_bytes().replace(b"result == 'agreed'", b"${outcome.agreed()}")
    response = client.post("/api/v1/processes", data=bad, headers={**login("admin"), "Content-Type": "application/xml"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_bpmn"
    assert any(d["element_id"] == "f5" and d["line"] and "outside the JUEL subset" in d["message"]
               for d in body["details"]), body


def test_running_case_stays_on_its_version(client, login):
    clerk, admin = login("clerk"), login("admin")
    case = _open(client, clerk)
    xml = (FIXTURES / "small_mediation.bpmn").read_bytes().replace("小型".encode(), "中型".encode())
    assert client.post("/api/v1/processes", data=xml, headers={**admin, "Content-Type": "application/xml"}).status_code == 201
    assert client.get(f"/api/v1/cases/{case['id']}", headers=clerk).get_json()["version"] == 1
    assert _open(client, clerk)["version"] == 2


def test_case_lifecycle_claim_complete_events_verify(client, login):
    clerk, mediator = login("clerk"), login("mediator1")
    case = _open(client, clerk)
    assert case["status"] == "open" and case["code"] and case["process_id"] == "small_mediation"
    [intake] = case["tasks"]
    assert intake["name"] == "intake" and intake["roles"] == ["intake_clerk"]

    task = client.get(f"/api/v1/tasks/{intake['id']}", headers=clerk).get_json()
    fields = {f["id"]: f for f in task["form"]}
    assert fields["channel"]["type"] == "enum" and fields["channel"]["required"] is True
    assert {"id": "walk_in", "name": "来访"} in fields["channel"]["enum"]

    done = client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": INTAKE}, headers=clerk)
    assert done.status_code == 200, done.get_json()
    [mediate] = done.get_json()["tasks"]
    assert mediate["name"] == "mediate" and mediate["due_at"].endswith("+08:00")

    listed = client.get("/api/v1/tasks", headers=mediator).get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == mediate["id"]
    assert listed["items"][0]["case_code"] == case["code"]
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=mediator).status_code == 200
    mine = client.get("/api/v1/tasks?assigned=me", headers=mediator).get_json()
    assert mine["items"][0]["assignee"] == "mediator1"

    final = client.post(f"/api/v1/tasks/{mediate['id']}/complete", json={"data": {"result": "agreed"}},
                        headers=mediator).get_json()
    assert final["status"] == "closed" and final["tasks"] == [] and final["outcome"] == "已化解"

    events = client.get(f"/api/v1/cases/{case['id']}/events", headers=login("auditor")).get_json()["items"]
    types = [e["type"] for e in events]
    assert types[0] == "case_started" and "task_claimed" in types and types[-1] == "case_closed"
    assert all(e["prev_hash"] == p["hash"] for p, e in zip(events, events[1:]))
    verified = client.get(f"/api/v1/cases/{case['id']}/verify", headers=login("auditor")).get_json()
    assert verified["chain_ok"] and verified["replay_ok"] and verified["events"] == len(events)


def test_complete_validates_form_per_field(client, login):
    clerk = login("clerk")
    [intake] = _open(client, clerk)["tasks"]
    response = client.post(f"/api/v1/tasks/{intake['id']}/complete",
                           json={"data": {"channel": "fax", "amount": -5, "surprise": 1}}, headers=clerk)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation"
    details = body["details"]
    assert set(details) >= {"channel", "amount", "party_name", "handling_dept", "surprise"}
    # nothing changed
    assert client.get(f"/api/v1/tasks/{intake['id']}", headers=clerk).status_code == 200


def test_other_role_gets_403_and_second_completion_409(client, login):
    clerk, mediator = login("clerk"), login("mediator1")
    [intake] = _open(client, clerk)["tasks"]
    assert client.post(f"/api/v1/tasks/{intake['id']}/claim", headers=mediator).status_code == 403
    assert client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": INTAKE}, headers=mediator).status_code == 403
    assert client.get("/api/v1/tasks", headers=mediator).get_json()["total"] == 0
    assert client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": INTAKE}, headers=clerk).status_code == 200
    again = client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": INTAKE}, headers=clerk)
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"


def test_claimed_task_is_closed_to_other_candidates(client, login):
    clerk, m1, m2 = login("clerk"), login("mediator1"), login("mediator2")
    [intake] = _open(client, clerk)["tasks"]
    [mediate] = client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": INTAKE}, headers=clerk).get_json()["tasks"]
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=m1).status_code == 200
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=m2).status_code == 409
    assert client.post(f"/api/v1/tasks/{mediate['id']}/complete", json={"data": {"result": "failed"}}, headers=m2).status_code == 403
    assert client.post(f"/api/v1/tasks/{mediate['id']}/unclaim", headers=m1).status_code == 200
    assert client.post(f"/api/v1/tasks/{mediate['id']}/complete", json={"data": {"result": "failed"}}, headers=m2).status_code == 200


def test_dynamic_candidate_group_routes_to_department(client, login):
    clerk = login("clerk")
    [intake] = _open(client, clerk)["tasks"]
    data = dict(INTAKE, handling_dept="dept_hrss")
    [mediate] = client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": data}, headers=clerk).get_json()["tasks"]
    assert mediate["roles"] == ["dept_hrss"]
    assert client.get("/api/v1/tasks", headers=login("labour")).get_json()["total"] == 1
    assert client.get("/api/v1/tasks", headers=login("mediator1")).get_json()["total"] == 0


def test_org_unit_scopes_task_lists(client, login):
    clerk = login("clerk")
    [intake] = _open(client, clerk)["tasks"]
    client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": INTAKE}, headers=clerk)
    # a mediator of a township center does not see the county's mediation task
    assert client.get("/api/v1/tasks", headers=login("township_mediator")).get_json()["total"] == 0


def test_only_start_roles_open_cases(client, login):
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}},
                           headers=login("mediator1"))
    assert response.status_code == 403
    response = client.post("/api/v1/cases", json={"process_id": "nope", "data": {}}, headers=login("clerk"))
    assert response.status_code == 404
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": []}, headers=login("clerk"))
    assert response.status_code == 422 and "data" in response.get_json()["details"]


def test_auditor_reads_everything_and_acts_on_nothing(client, login):
    clerk, auditor = login("clerk"), login("auditor")
    case = _open(client, clerk)
    assert client.get(f"/api/v1/cases/{case['id']}", headers=auditor).status_code == 200
    [intake] = case["tasks"]
    assert client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": INTAKE}, headers=auditor).status_code == 403
    assert client.post("/api/v1/cases", json={"process_id": "small_mediation"}, headers=auditor).status_code == 403


def test_filters_overdue_and_text(client, login, clock):
    clerk = login("clerk")
    codes = [_open(client, clerk)["code"] for _ in range(3)]
    assert client.get("/api/v1/tasks?overdue=true", headers=clerk).get_json()["total"] == 0
    clock.advance(days=2)
    assert client.get("/api/v1/tasks?overdue=true", headers=clerk).get_json()["total"] == 3
    found = client.get(f"/api/v1/tasks?q={codes[1]}", headers=clerk).get_json()
    assert found["total"] == 1 and found["items"][0]["case_code"] == codes[1]
    bad = client.get("/api/v1/tasks?sort=sideways", headers=clerk)
    assert bad.status_code == 422 and "sort" in bad.get_json()["details"]


def test_unknown_case_and_task_are_404_json(client, login):
    clerk = login("clerk")
    assert client.get("/api/v1/cases/99999", headers=clerk).status_code == 404
    response = client.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000", headers=clerk)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_task_list_scopes(client, login):
    clerk = login("clerk")
    _open(client, clerk)
    assert client.get("/api/v1/tasks", headers=login("auditor")).get_json()["total"] == 0  # acts on nothing
    assert client.get("/api/v1/tasks?scope=all", headers=login("auditor")).get_json()["total"] == 1
    assert client.get("/api/v1/tasks?scope=all", headers=clerk).status_code == 403
    assert client.get("/api/v1/tasks?scope=supervised", headers=login("super")).get_json()["total"] == 1
    assert client.get("/api/v1/tasks?scope=supervised", headers=clerk).get_json()["total"] == 0


def test_session_calls_to_the_api_need_the_csrf_header(client, directory):
    with client.session_transaction() as sess:
        sess["username"] = "clerk"
        sess["session_version"] = 0  # a login stores the user's session version (issue 15)
    assert client.get("/api/v1/tasks").status_code == 200
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation"})
    assert response.status_code == 401 and "X-CSRFToken" in response.get_json()["message"]
