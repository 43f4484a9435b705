"""Idempotency-Key on every write (webui/idempotency.py): the same key and request answer the first response
without acting again; the same key with another request is refused; browser forms carry a key per rendering."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine.models import CaseModel, CaseEventModel, IdempotencyKeyModel
from tests.support import PASSWORD
from tests.api.test_ui_tasks import START_FORM
from tests.support.cases import INTAKE
from tests.support.web import csrf, ui_login

OPEN = {"process_id": "small_mediation", "data": {"channel": "walk_in"}}


def _count(session, model=CaseModel) -> int:
    session.rollback()  # a fresh snapshot on PostgreSQL
    return session.scalar(select(func.count()).select_from(model))


def test_same_key_and_body_returns_the_first_response_and_opens_one_case(client, session, login):
    clerk = {**login("clerk"), "Idempotency-Key": "open-1"}
    first = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    again = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(session) == 1


def test_without_a_key_each_request_acts(client, session, login):
    clerk = login("clerk")
    assert client.post("/api/v1/cases", json=OPEN, headers=clerk).status_code == 201
    assert client.post("/api/v1/cases", json=OPEN, headers=clerk).status_code == 201
    assert _count(session) == 2


def test_same_key_with_another_body_is_refused_naming_the_key(client, session, login):
    clerk = {**login("clerk"), "Idempotency-Key": "open-2"}
    assert client.post("/api/v1/cases", json=OPEN, headers=clerk).status_code == 201
    other = client.post("/api/v1/cases", json={**OPEN, "data": {"channel": "phone"}}, headers=clerk)
    assert other.status_code == 422
    body = other.get_json()
    assert "open-2" in body["message"] and "Idempotency-Key" in body["details"]
    assert _count(session) == 1


def test_keys_are_per_user(client, session, login, directory):
    directory.create_user(session, "clerk2", PASSWORD, ["intake_clerk"])
    one, two = {**login("clerk"), "Idempotency-Key": "k"}, {**login("clerk2"), "Idempotency-Key": "k"}
    assert client.post("/api/v1/cases", json=OPEN, headers=one).status_code == 201
    assert client.post("/api/v1/cases", json=OPEN, headers=two).status_code == 201
    assert _count(session) == 2


def test_task_completion_is_not_done_twice(client, session, login):
    clerk = login("clerk")
    [task] = client.post("/api/v1/cases", json=OPEN, headers=clerk).get_json()["tasks"]
    keyed = {**clerk, "Idempotency-Key": "complete-1"}
    first = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": INTAKE}, headers=keyed)
    again = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": INTAKE}, headers=keyed)
    assert first.status_code == again.status_code == 200 and again.get_json() == first.get_json()
    # without the key the second completion is refused as already done (409), with it the first answer comes back
    assert client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": INTAKE}, headers=clerk).status_code == 409
    assert _count(session, CaseEventModel) == len(
        client.get(f"/api/v1/cases/{first.get_json()['id']}/events", headers=clerk).get_json()["items"])


def test_a_malformed_key_is_refused(client, session, login):
    clerk = {**login("clerk"), "Idempotency-Key": "x" * 256}
    response = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    assert response.status_code == 422 and "Idempotency-Key" in response.get_json()["details"]
    assert _count(session) == 0


def test_a_key_whose_response_was_not_stored_answers_409_with_its_case(client, session, login, app):
    """The command committed with its key but the response never got stored (a crash in between)."""
    clerk = {**login("clerk"), "Idempotency-Key": "lost-1"}
    case = client.post("/api/v1/cases", json=OPEN, headers=clerk).get_json()
    session.rollback()
    row = session.get(IdempotencyKeyModel, ("clerk", "lost-1"))
    row.status, row.response_body, row.response_headers = None, None, None  # as if the process died there
    session.commit()
    retry = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    assert retry.status_code == 409
    body = retry.get_json()
    assert body["error"] == "already_done" and body["details"]["idempotency_key"] == "lost-1"
    assert body["details"]["cases"] == [{"id": case["id"], "code": case["code"]}]
    assert _count(session) == 1


@pytest.mark.committed_db  # keys are stored in a transaction of their own
def test_keys_expire_after_24_hours_and_are_purged(client, session, login, clock):
    from webui.idempotency import purge_expired

    clerk = {**login("clerk"), "Idempotency-Key": "old"}
    assert client.post("/api/v1/cases", json=OPEN, headers=clerk).status_code == 201
    clock.advance(hours=23)
    assert client.post("/api/v1/cases", json=OPEN, headers=clerk).headers.get("Idempotent-Replayed") == "true"
    clock.advance(hours=2)
    assert purge_expired(session, clock.now()) == 1
    assert _count(session, IdempotencyKeyModel) == 0
    assert client.post("/api/v1/cases", json=OPEN, headers=clerk).status_code == 201  # a new request now
    assert _count(session) == 2


def test_write_requests_purge_expired_keys_now_and_then(client, session, login, clock):
    clerk = login("clerk")
    client.post("/api/v1/cases", json=OPEN, headers={**clerk, "Idempotency-Key": "day-old"})
    clock.advance(hours=24, minutes=1)
    client.post("/api/v1/cases", json=OPEN, headers=clerk)  # the purge runs at most every 10 minutes
    session.rollback()
    assert [r.idempotency_key[:4] for r in session.scalars(select(IdempotencyKeyModel))] == ["srv-"]


def test_an_expired_key_not_yet_purged_acts_anew(client, session, login, clock):
    clerk = {**login("clerk"), "Idempotency-Key": "stale"}
    assert client.post("/api/v1/cases", json=OPEN, headers=clerk).status_code == 201
    clock.advance(hours=25)
    again = client.post("/api/v1/cases", json={**OPEN, "data": {"channel": "phone"}}, headers=clerk)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert _count(session) == 2 and _count(session, IdempotencyKeyModel) == 1


def test_every_write_writes_its_key_in_the_command_transaction(client, session, login):
    # no key sent: the server makes one up and writes it with the command
    clerk = login("clerk")
    client.post("/api/v1/cases", json=OPEN, headers=clerk)
    [row] = session.scalars(select(IdempotencyKeyModel)).all()
    assert row.username == "clerk" and row.idempotency_key.startswith("srv-") and row.status is None
    assert row.case_ids == str(session.scalar(select(CaseModel.id)))


# ---------------------------------------------------------------- browser forms

def _intake_form(client) -> tuple[str, str]:
    html = client.get("/cases/new/small_mediation").get_data(as_text=True)
    return csrf(html), re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)


def test_every_rendering_of_a_form_carries_a_fresh_key(client, directory):
    ui_login(client, "clerk", expect=302)
    assert _intake_form(client)[1] != _intake_form(client)[1]


@pytest.mark.committed_db  # keys are stored in a transaction of their own
def test_a_double_submitted_intake_form_opens_one_case(client, session, directory):
    ui_login(client, "clerk", expect=302)
    token, key = _intake_form(client)
    form = {**START_FORM, "csrf_token": token, "idempotency_key": key}
    first = client.post("/cases/new/small_mediation", data=form)
    second = client.post("/cases/new/small_mediation", data=form)
    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert _count(session) == 1
    # a new rendering of the form registers a new case
    token, key = _intake_form(client)
    assert client.post("/cases/new/small_mediation",
                       data={**START_FORM, "csrf_token": token, "idempotency_key": key}).status_code == 302
    assert _count(session) == 2


def test_task_and_claim_forms_carry_a_key(client, session, directory):
    ui_login(client, "clerk", expect=302)
    token, key = _intake_form(client)
    client.post("/cases/new/small_mediation", data={**START_FORM, "csrf_token": token, "idempotency_key": key})
    ui_login(client, "mediator1", expect=302)
    html = client.get("/tasks/").get_data(as_text=True)
    claim = re.search(r'<form method="post" action="(/tasks/[^"]+/claim)">(.*?)</form>', html, re.S)
    assert 'name="idempotency_key"' in claim.group(2)
    task_html = client.get(claim.group(1)[:-len("/claim")]).get_data(as_text=True)
    assert task_html.count('name="idempotency_key"') == 2  # the claim form and the task form


@pytest.mark.committed_db  # two requests at once, on two connections
def test_two_requests_with_one_key_at_once_open_one_case(app, session, login):
    """A double-click: both requests pass the look-up before either commits; the key row, written at commit,
    lets one commit and the other answers with the first's response."""
    import threading

    from sqlalchemy import event

    from webui.extensions import db

    clerk = {**login("clerk"), "Idempotency-Key": "twice"}
    both_at_commit = threading.Barrier(2)

    def wait_for_the_other(_session):
        try:  # on SQLite the second writer waits for the first's commit: the barrier then times out
            both_at_commit.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass

    event.listen(db.session, "before_commit", wait_for_the_other, insert=True)
    answers = []
    try:
        threads = [threading.Thread(target=lambda: answers.append(
            app.test_client().post("/api/v1/cases", json=OPEN, headers=clerk))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        event.remove(db.session, "before_commit", wait_for_the_other)
    assert sorted(a.status_code for a in answers) == [201, 201]
    assert answers[0].get_json() == answers[1].get_json()
    assert [a.headers.get("Idempotent-Replayed") for a in answers].count("true") == 1
    assert _count(session) == 1
