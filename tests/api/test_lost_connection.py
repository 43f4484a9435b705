"""A write whose database connection drops during COMMIT answers 503 with the Idempotency-Key to retry with
(never a 500), and the retry with that key neither opens a second case nor loses the first (PostgreSQL: the
server process behind the request's connection is ended at commit time)."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select

from engine.models import CaseModel

# the app's own connection is the one lost, and the retry must find what the server committed
pytestmark = pytest.mark.committed_db

OPEN = {"process_id": "small_mediation", "data": {"channel": "walk_in"}}


@pytest.fixture
def at_commit(app, db_engine):
    """at_commit(committed: bool): the next COMMIT of the app loses its server connection — after the server
    committed the transaction (the answer is lost: a ghost commit) or before (the transaction is lost)."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("a server connection to lose: PostgreSQL")
    from webui.extensions import db

    with app.app_context():
        engine = db.engine
    armed = []

    def on_commit(conn):
        if not armed:
            return
        committed = armed.pop()
        driver = conn.connection.driver_connection
        pid = driver.info.backend_pid
        if committed:
            driver.execute("COMMIT")  # the server commits ...
            driver.execute("BEGIN")  # ... and the client's COMMIT then goes to a dead connection
        with engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid}, 5000)")

    event.listen(engine, "commit", on_commit)
    yield armed.append
    event.remove(engine, "commit", on_commit)


def _cases(session) -> list[int]:
    session.rollback()
    return list(session.scalars(select(CaseModel.id)))


@pytest.mark.parametrize("send_key", [False, True])
def test_a_ghost_commit_answers_503_and_the_retry_neither_duplicates_nor_loses_the_case(client, session, login,
                                                                                         at_commit, send_key):
    clerk = {**login("clerk"), **({"Idempotency-Key": "mine-1"} if send_key else {})}
    at_commit(True)
    lost = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    assert lost.status_code == 503, lost.get_data(as_text=True)
    body = lost.get_json()
    assert body["error"] == "database_unavailable" and lost.headers["Retry-After"]
    key = body["details"]["idempotency_key"]
    assert key == "mine-1" if send_key else key.startswith("srv-")
    [case_id] = _cases(session)  # it did commit
    retry = client.post("/api/v1/cases", json=OPEN, headers={**clerk, "Idempotency-Key": key})
    assert retry.status_code == 409 and retry.get_json()["error"] == "already_done"
    assert [c["id"] for c in retry.get_json()["details"]["cases"]] == [case_id]
    assert _cases(session) == [case_id]


def test_a_commit_lost_before_the_server_committed_answers_503_and_the_retry_opens_the_case(client, session, login,
                                                                                           at_commit):
    clerk = login("clerk")
    at_commit(False)
    lost = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    assert lost.status_code == 503
    key = lost.get_json()["details"]["idempotency_key"]
    assert _cases(session) == []
    retry = client.post("/api/v1/cases", json=OPEN, headers={**clerk, "Idempotency-Key": key})
    assert retry.status_code == 201
    assert _cases(session) == [retry.get_json()["id"]]
    again = client.post("/api/v1/cases", json=OPEN, headers={**clerk, "Idempotency-Key": key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert len(_cases(session)) == 1


def test_a_connection_lost_after_the_commit_while_answering_is_503_not_500(client, session, login, app, db_engine):
    if db_engine.dialect.name != "postgresql":
        pytest.skip("a server connection to lose: PostgreSQL")
    from webui.extensions import db

    with app.app_context():
        engine = db.engine

    clerk = login("clerk")
    committed = []

    def after_commit(s):
        if s is db.session.registry():
            committed.append(True)

    def lose_while_answering(conn, _cursor, _statement, _params, _context, _many):
        # the first statement after the commit (the response's reads) finds the server gone
        if committed == [True]:
            committed.append(False)
            pid = conn.connection.driver_connection.info.backend_pid
            with engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({pid}, 5000)")

    event.listen(db.session, "after_commit", after_commit)
    event.listen(engine, "before_cursor_execute", lose_while_answering)
    try:
        lost = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    finally:
        event.remove(db.session, "after_commit", after_commit)
        event.remove(engine, "before_cursor_execute", lose_while_answering)
    assert lost.status_code == 503
    [case_id] = _cases(session)
    retry = client.post("/api/v1/cases", json=OPEN,
                        headers={**clerk, "Idempotency-Key": lost.get_json()["details"]["idempotency_key"]})
    assert retry.status_code == 409 and retry.get_json()["details"]["case_ids"] == [case_id]


def test_the_intake_form_lost_at_commit_offers_a_safe_resend(client, session, at_commit, directory):
    import re

    from tests.api.test_ui_tasks import START_FORM
    from tests.support.web import csrf, ui_login

    ui_login(client, "clerk", expect=302)
    html = client.get("/cases/new/small_mediation").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    at_commit(True)
    lost = client.post("/cases/new/small_mediation", data={**START_FORM, "csrf_token": csrf(html),
                                                           "idempotency_key": key})
    page = lost.get_data(as_text=True)
    assert lost.status_code == 503 and f'name="idempotency_key" value="{key}"' in page
    resend = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                             page[page.index('class="retry-form"'):]))
    assert resend["party_name"] == START_FORM["party_name"]
    again = client.post("/cases/new/small_mediation", data=resend)
    [case_id] = _cases(session)
    code = session.get(CaseModel, case_id).code
    assert again.status_code == 409 and code in again.get_data(as_text=True)


def test_a_response_that_cannot_be_stored_is_still_sent_and_the_retry_is_honest(client, session, login, app,
                                                                                 db_engine):
    if db_engine.dialect.name != "postgresql":
        pytest.skip("a server connection to lose: PostgreSQL")
    from webui.extensions import db

    @app.after_request  # runs before the one that stores the response (registered earlier)
    def lose_connection(response):
        if request_has_key() and db.session.registry().in_transaction():
            pid = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with db.engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({pid}, 5000)")
        return response

    def request_has_key():
        from flask import request
        return "Idempotency-Key" in request.headers

    clerk = {**login("clerk"), "Idempotency-Key": "unstored"}
    opened = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    assert opened.status_code == 201
    retry = client.post("/api/v1/cases", json=OPEN, headers=clerk)
    assert retry.status_code == 409 and retry.get_json()["details"]["case_ids"] == [opened.get_json()["id"]]
    assert _cases(session) == [opened.get_json()["id"]]
