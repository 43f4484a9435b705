"""Issue 18 §4: a supervisor or director over a task's unit reassigns it (改派), releases a claim and sends a
催办 by hand — through the API, with every refusal."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.models import CaseEventModel
from tests.support.cases import PHONE, intake

INTAKE = intake(party_phone=PHONE)


@pytest.fixture
def mediate(client, login, directory, session):
    """An open 调解 task of a county case (role mediator at the county: mediator1, mediator2 hold it)."""
    clerk = login("clerk")
    case = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=clerk).get_json()
    [intake_task] = case["tasks"]
    done = client.post(f"/api/v1/tasks/{intake_task['id']}/complete", json={"data": INTAKE}, headers=clerk)
    [task] = done.get_json()["tasks"]
    return task


@pytest.fixture
def township_super(directory, session, login):
    """A supervisor of the 北山 township: the county's tasks are outside their unit."""
    directory.create_user(session, "tsuper", "Jiefen-Test-Pass-2026", ["supervisor"], ["330106001"], "北山督办")
    return login("tsuper")


def _events(session, task_id: str, type_: str) -> list[CaseEventModel]:
    session.expire_all()
    return list(session.scalars(select(CaseEventModel).where(CaseEventModel.task_id == task_id,
                                                             CaseEventModel.type == type_)))


def test_supervisor_lists_eligible_people_by_name(client, login, mediate, directory, session):
    directory.create_user(session, "mediator3", "Jiefen-Test-Pass-2026", ["mediator"], None, "赵调解")
    response = client.get(f"/api/v1/tasks/{mediate['id']}/assignees", headers=login("super"))
    assert response.status_code == 200
    people = {p["username"]: p["display_name"] for p in response.get_json()["items"]}
    # the role at the task's unit only: not the township's mediator, not the clerk, not the supervisor
    assert set(people) == {"mediator1", "mediator2", "mediator3"} and people["mediator3"] == "赵调解"


def test_reassign_gives_the_task_to_another_holder_of_its_role(client, login, mediate, session):
    m1, m2, boss = login("mediator1"), login("mediator2"), login("super")
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=m1).status_code == 200
    response = client.post(f"/api/v1/tasks/{mediate['id']}/reassign", json={"username": "mediator2"}, headers=boss)
    assert response.status_code == 200 and response.get_json()["assignee"] == "mediator2"
    # the picker leaves out the present holder
    assert "mediator2" not in [p["username"] for p in client.get(
        f"/api/v1/tasks/{mediate['id']}/assignees", headers=boss).get_json()["items"]]
    # the former holder may no longer complete it; the new one may, and sees it as theirs
    assert client.post(f"/api/v1/tasks/{mediate['id']}/complete", json={"data": {"result": "failed"}},
                       headers=m1).status_code == 403
    mine = client.get("/api/v1/tasks?assigned=me", headers=m2).get_json()
    assert [t["id"] for t in mine["items"]] == [mediate["id"]]
    [event] = _events(session, mediate["id"], "task_reassigned")
    assert event.actor == "super" and event.payload == {"was": "mediator1", "to": "mediator2"}
    assert client.post(f"/api/v1/tasks/{mediate['id']}/complete", json={"data": {"result": "failed"}},
                       headers=m2).status_code == 200


def test_reassign_an_unclaimed_task(client, login, mediate, session):
    response = client.post(f"/api/v1/tasks/{mediate['id']}/reassign", json={"username": "mediator1"},
                           headers=login("super"))
    assert response.status_code == 200 and response.get_json()["assignee"] == "mediator1"
    [event] = _events(session, mediate["id"], "task_reassigned")
    assert event.payload == {"was": None, "to": "mediator1"}


@pytest.mark.parametrize("username", ["township_mediator", "clerk", "nobody", "super"])
def test_reassign_to_an_ineligible_user_is_422_naming_the_field(client, login, mediate, username):
    response = client.post(f"/api/v1/tasks/{mediate['id']}/reassign", json={"username": username},
                           headers=login("super"))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert "username" in body["details"]
    assert "不具有该任务的角色" in body["message"] or "does not hold" in body["message"]


def test_reassign_without_a_username_is_422(client, login, mediate):
    boss = login("super")
    assert client.post(f"/api/v1/tasks/{mediate['id']}/reassign", json={}, headers=boss).status_code == 422
    response = client.post(f"/api/v1/tasks/{mediate['id']}/reassign", json={"username": " "}, headers=boss)
    assert response.status_code == 422 and "username" in response.get_json()["details"]


def test_reassign_to_the_present_holder_is_409(client, login, mediate):
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=login("mediator1")).status_code == 200
    response = client.post(f"/api/v1/tasks/{mediate['id']}/reassign", json={"username": "mediator1"},
                           headers=login("super"))
    assert response.status_code == 409


@pytest.mark.parametrize("who", ["mediator1", "head", "clerk", "admin", "auditor", "tsuper"])
def test_only_supervisors_over_the_unit_may_use_their_hands(client, login, mediate, township_super, who):
    """403 for the task's own holders, a unit head, administrators, auditors and a supervisor of another unit."""
    headers = township_super if who == "tsuper" else login(who)
    task = mediate["id"]
    assert client.post(f"/api/v1/tasks/{task}/claim", headers=login("mediator2")).status_code == 200
    for method, path, body in (("get", "assignees", None), ("post", "reassign", {"username": "mediator1"}),
                               ("post", "release", None), ("post", "urge", {"note": "请尽快办理"})):
        call = getattr(client, method)
        response = call(f"/api/v1/tasks/{task}/{path}", json=body, headers=headers) if body is not None \
            else call(f"/api/v1/tasks/{task}/{path}", headers=headers)
        assert response.status_code == 403, (who, path, response.get_json())
    assert client.get(f"/api/v1/tasks/{task}", headers=login("mediator2")).get_json()["assignee"] == "mediator2"


def test_unknown_and_done_tasks(client, login, mediate):
    boss = login("super")
    assert client.post("/api/v1/tasks/no-such-task/release", headers=boss).status_code == 404
    assert client.post(f"/api/v1/tasks/{mediate['id']}/complete", json={"data": {"result": "failed"}},
                       headers=login("mediator1")).status_code == 200
    assert client.post(f"/api/v1/tasks/{mediate['id']}/urge", json={"note": "快"}, headers=boss).status_code == 409


def test_release_puts_a_claim_back_into_the_pool(client, login, mediate, session):
    m1, m2, boss = login("mediator1"), login("mediator2"), login("super")
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=m1).status_code == 200
    response = client.post(f"/api/v1/tasks/{mediate['id']}/release", headers=boss)
    assert response.status_code == 200 and response.get_json()["assignee"] is None
    [event] = _events(session, mediate["id"], "task_released")
    assert event.actor == "super" and event.payload == {"was": "mediator1"}
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=m2).status_code == 200
    # nothing claimed: nothing to release
    assert client.post(f"/api/v1/tasks/{mediate['id']}/release", headers=boss).status_code == 200
    again = client.post(f"/api/v1/tasks/{mediate['id']}/release", headers=boss)
    assert again.status_code == 409


def test_supervisor_unclaiming_someone_else_is_recorded_as_a_release(client, login, mediate, session):
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=login("mediator1")).status_code == 200
    assert client.post(f"/api/v1/tasks/{mediate['id']}/unclaim", headers=login("super")).status_code == 200
    assert [e.payload for e in _events(session, mediate["id"], "task_released")] == [{"was": "mediator1"}]
    assert _events(session, mediate["id"], "task_unclaimed") == []


def test_urge_shows_on_the_task_and_in_the_holders_list(client, login, mediate, session):
    m1, boss = login("mediator1"), login("super")
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=m1).status_code == 200
    response = client.post(f"/api/v1/tasks/{mediate['id']}/urge", json={"note": "  当事人多次来电，请本周内办结。 "},
                           headers=boss)
    assert response.status_code == 200
    urge = response.get_json()["urge"]
    assert urge["by"] == "super" and urge["note"] == "当事人多次来电，请本周内办结。" and urge["at"]
    [listed] = client.get("/api/v1/tasks?assigned=me", headers=m1).get_json()["items"]
    assert listed["urge"]["note"] == "当事人多次来电，请本周内办结。"
    assert client.get(f"/api/v1/tasks/{mediate['id']}", headers=m1).get_json()["urge"]["by"] == "super"
    [event] = _events(session, mediate["id"], "task_urged")
    assert event.payload == {"note": "当事人多次来电，请本周内办结。", "to": "mediator1"}


@pytest.mark.parametrize("note", ["", "   ", "催" * 501])
def test_urge_needs_a_message_of_reasonable_length(client, login, mediate, note):
    response = client.post(f"/api/v1/tasks/{mediate['id']}/urge", json={"note": note}, headers=login("super"))
    assert response.status_code == 422 and "note" in response.get_json()["details"]
    assert client.get(f"/api/v1/tasks/{mediate['id']}", headers=login("mediator1")).get_json()["urge"] is None
