"""Issue 20 §4 (停用): an administrator disables an org unit after seeing its open tasks; nothing new is routed to
it (a command whose task would go there is a 422 naming the unit, and changes nothing); enabled again, routing
reaches it as before. Both acts are in the admin log."""
from __future__ import annotations

from engine.services import cases
from engine.services.users import SYSTEM
from tests.support.cases import INTAKE


def _case_at_township(app) -> int:
    from webui.extensions import db
    with app.app_context():
        # nobody holds intake_clerk at the township: its registration goes to the county's clerks; the mediation
        # after it goes to the township's mediator
        return cases.start_case(db.session, "small_mediation", {}, SYSTEM, org_unit="330106001").id


def _intake_task(client, case_id, headers) -> str:
    body = client.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()
    return body["tasks"][0]["id"]


def test_a_disabled_unit_gets_nothing_new_until_enabled(app, client, login):
    admin, clerk, auditor = login("admin"), login("clerk"), login("auditor")
    first = _case_at_township(app)
    done = client.post(f"/api/v1/tasks/{_intake_task(client, first, clerk)}/complete", json={"data": INTAKE},
                       headers=clerk)
    assert done.status_code == 200, done.get_json()
    held = client.get("/api/v1/admin/org-units/330106001/open-tasks", headers=auditor).get_json()["items"]
    assert len(held) == 1 and held[0]["title"]  # what stays there: shown before disabling

    assert client.patch("/api/v1/admin/org-units/330106001", json={"active": False},
                        headers=auditor).status_code == 403
    off = client.patch("/api/v1/admin/org-units/330106001", json={"active": False}, headers=admin)
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert client.patch("/api/v1/admin/org-units/330106000", json={"active": False}, headers=admin).status_code == 409
    assert client.patch("/api/v1/admin/org-units/330106001", json={"active": False, "name": "x"},
                        headers=admin).status_code == 422

    second = _case_at_township(app)
    task = _intake_task(client, second, clerk)
    refused = client.post(f"/api/v1/tasks/{task}/complete", json={"data": INTAKE}, headers=clerk)
    assert refused.status_code == 422
    body = refused.get_json()
    assert "330106001" in body["message"] and "停用" in body["message"]
    assert _intake_task(client, second, clerk) == task  # nothing changed: the registration is still open
    # the task already there stays
    assert len(client.get("/api/v1/admin/org-units/330106001/open-tasks", headers=auditor).get_json()["items"]) == 1

    on = client.patch("/api/v1/admin/org-units/330106001", json={"active": True}, headers=admin)
    assert on.status_code == 200 and on.get_json()["active"] is True
    assert client.post(f"/api/v1/tasks/{task}/complete", json={"data": INTAKE}, headers=clerk).status_code == 200
    actions = [e["action"] for e in client.get("/api/v1/admin/log?target=330106001", headers=auditor).get_json()["items"]]
    assert actions[:2] == ["org_unit_enabled", "org_unit_disabled"]
