"""Secrets and sessions (issue 15 §1): sessions that end, tokens that expire and can be revoked, a lock-out per
(username, client address) that says the same for every name, and the headers on every response."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.services import users
from tests.support import PASSWORD
from tests.support.web import csrf, ui_login
from webui.api.schemas import iso


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str, path: str = "/tasks/"):
    """A request from somebody else's browser holding a copy of the cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get(path)


def get_token(client, username: str = "clerk", password: str = PASSWORD, addr: str = "127.0.0.1"):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": addr})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- browser sessions end ------------------------------------------------------------------------------------

def test_a_copied_session_cookie_stops_working_after_logout(app, client, directory):
    assert ui_login(client, "clerk").status_code == 302
    cookie = session_cookie(client)
    assert replay(app, cookie).status_code == 200
    page = client.get("/tasks/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf(page)}).status_code == 302
    assert replay(app, cookie).status_code == 302  # to the login page
    assert replay(app, cookie, "/api/v1/tasks").status_code == 401
    assert ui_login(client, "clerk").status_code == 302  # a new login works again


def test_disabling_a_user_ends_sessions_and_revokes_tokens(app, client, session, directory):
    assert ui_login(client, "clerk").status_code == 302
    token = get_token(app.test_client()).get_json()["token"]
    users.set_active(session, "clerk", False)
    assert client.get("/tasks/").status_code == 302
    response = client.get("/api/v1/tasks", headers=bearer(token))
    assert response.status_code == 401 and "revoked" in response.get_json()["message"]
    assert ui_login(client, "clerk").status_code == 401  # and no new login
    users.set_active(session, "clerk", True)
    assert ui_login(client, "clerk").status_code == 302
    assert client.get("/api/v1/tasks", headers=bearer(token)).status_code == 401  # revoked stays revoked


def test_a_new_password_ends_sessions_and_revokes_tokens(app, client, session, directory):
    assert ui_login(client, "clerk").status_code == 302
    token = get_token(app.test_client()).get_json()["token"]
    users.set_password(session, "clerk", "Another-Strong-Pass-77")
    assert client.get("/tasks/").status_code == 302
    assert client.get("/api/v1/tasks", headers=bearer(token)).status_code == 401
    assert ui_login(client, "clerk").status_code == 401
    assert ui_login(client, "clerk", "Another-Strong-Pass-77").status_code == 302


def test_set_password_applies_the_policy(session, directory):
    from engine.errors import InvalidData

    with pytest.raises(InvalidData, match="at least 10"):
        users.set_password(session, "clerk", "short")


# --- tokens ----------------------------------------------------------------------------------------------------

def test_wrong_credentials_for_a_token_answer_401(client, directory):
    for username, password in (("clerk", "wrong-password"), ("nobody", "wrong-password")):
        response = get_token(client, username, password)
        assert response.status_code == 401
        assert response.get_json()["message"] == "用户名或密码错误 / wrong username or password"


def test_a_token_expires_after_the_configured_days(app, client, clock, directory):
    app.config["JIEFEN_TOKEN_DAYS"] = 2
    body = get_token(client).get_json()
    assert body["expires_at"] == iso(clock.now() + timedelta(days=2))
    assert client.get("/api/v1/tasks", headers=bearer(body["token"])).status_code == 200
    clock.advance(days=2, seconds=1)
    response = client.get("/api/v1/tasks", headers=bearer(body["token"]))
    assert response.status_code == 401
    assert "token expired" in response.get_json()["message"]


def test_the_caller_revokes_its_own_token(client, directory):
    mine = get_token(client).get_json()["token"]
    other = get_token(client).get_json()["token"]
    assert client.delete("/api/v1/auth/token", headers=bearer(mine)).status_code == 204
    response = client.get("/api/v1/tasks", headers=bearer(mine))
    assert response.status_code == 401 and response.get_json()["message"] == "令牌已撤销 / token revoked"
    assert client.get("/api/v1/tasks", headers=bearer(other)).status_code == 200  # only the one used
    assert client.delete("/api/v1/auth/token", headers=bearer(mine)).status_code == 401
    assert client.delete("/api/v1/auth/token").status_code == 401
    unknown = client.get("/api/v1/tasks", headers=bearer("not-a-token"))
    assert unknown.status_code == 401 and unknown.get_json()["message"] == "令牌无效 / unknown token"


def test_tokens_are_listed_and_revoked_by_id(session, directory):
    first = users.new_token(session, "clerk", 30)
    second = users.new_token(session, "clerk", 30)
    assert [t.id for t in users.list_tokens(session, "clerk")] == [second.id, first.id]
    users.revoke_token(session, first.id)
    assert [users.token_status(t) for t in users.list_tokens(session, "clerk")] == ["active", "revoked"]
    # only the hash is stored
    assert all(t.token_hash != first.token and len(t.token_hash) == 64 for t in users.list_tokens(session, "clerk"))


# --- login: one answer for every name, lock-out per address --------------------------------------------------

def test_an_unknown_name_gets_the_same_answers_as_a_real_one(app, client, directory):
    answers = {}
    for name in ("clerk", "ghost"):
        answers[name] = [get_token(client, name, "wrong-password", "10.0.0.9").get_json()["message"]
                         for _ in range(app.config["JIEFEN_LOGIN_MAX_FAILURES"] + 1)]
    assert answers["clerk"] == answers["ghost"]
    assert "此用户名从此地址登录失败次数过多" in answers["ghost"][-1]  # a name that does not exist is locked too


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(app, client, directory):
    for _ in range(app.config["JIEFEN_LOGIN_MAX_FAILURES"]):
        assert ui_login(client, "admin", "wrong-password", addr="203.0.113.5").status_code == 401
    locked = ui_login(client, "admin", addr="203.0.113.5")
    assert locked.status_code == 401 and "登录失败次数过多" in locked.get_data(as_text=True)
    assert get_token(client, "admin", addr="203.0.113.5").status_code == 401
    assert ui_login(app.test_client(), "admin", addr="198.51.100.7").status_code == 302  # the admin, elsewhere
    assert get_token(client, "admin", addr="198.51.100.7").status_code == 200


def test_the_lock_backs_off_and_a_success_forgets_the_failures(session, clock, directory):
    from engine.errors import AuthenticationFailed

    def fail():
        with pytest.raises(AuthenticationFailed) as info:
            users.authenticate(session, "clerk", "wrong-password", "10.1.1.1", max_failures=2, lock_minutes=10)
        return info.value

    fail()
    assert fail().details is None  # the 2nd failure locks, answered with the generic message
    assert fail().details == {"retry_after": 600}  # locked: 10 minutes
    clock.advance(minutes=10, seconds=1)
    fail()  # the 3rd failure: twice as long
    assert fail().details == {"retry_after": 1200}
    clock.advance(minutes=20, seconds=1)
    assert users.authenticate(session, "clerk", PASSWORD, "10.1.1.1", max_failures=2).username == "clerk"
    fail()
    assert fail().details is None  # counting starts again after a success


# --- headers and cookies ---------------------------------------------------------------------------------------

def test_api_responses_are_not_sniffed_or_stored(client, directory):
    token = get_token(client).get_json()["token"]
    for response in (client.get("/api/v1/tasks", headers=bearer(token)), client.get("/api/v1/tasks"),
                     get_token(client, "clerk", "wrong-password")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_case_pages_are_not_stored(client, session, directory, actor):
    from engine.services import cases

    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    ui_login(client, "clerk")
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_session_cookie_is_secure_behind_https(db_engine, database_url, rt, directory):
    from webui import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "JIEFEN_RUNTIME": rt,
                      "SECRET_KEY": "test", "JIEFEN_PUBLIC_BASE_URL": "https://tiaojie.example.cn"})
    response = ui_login(app.test_client(), "clerk")
    assert response.status_code == 302 and "; Secure" in response.headers["Set-Cookie"]
    from webui.extensions import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
