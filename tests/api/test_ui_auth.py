"""Staff UI login: CSRF on every form, lock-out after repeated failures, switcher, language, headers."""
from __future__ import annotations

from tests.support import PASSWORD
from tests.support.web import csrf, ui_login
from webui.ui import CONTENT_SECURITY_POLICY


def test_login_form_without_csrf_token_is_rejected(client, directory):
    response = client.post("/login", data={"username": "clerk", "password": PASSWORD})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "表单已过期或并非来自本系统" in html
    assert client.get("/tasks/").status_code == 302  # still not logged in


def test_ui_post_with_a_wrong_csrf_token_is_rejected(client, directory):
    assert ui_login(client, "clerk").status_code == 302
    response = client.post("/logout", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/tasks/").status_code == 200  # still logged in


def test_api_is_exempt_from_csrf_for_bearer_tokens(client, directory):
    response = client.post("/api/v1/auth/token", json={"username": "clerk", "password": PASSWORD})
    assert response.status_code == 200
    token = response.get_json()["token"]
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201


def test_browser_session_can_read_the_api(client, directory):
    ui_login(client, "clerk")
    response = client.get("/api/v1/tasks")
    assert response.status_code == 200 and response.is_json


def test_login_success_sets_hardened_session_cookie(client, directory):
    response = ui_login(client, "clerk")
    assert response.status_code == 302 and response.headers["Location"] == "/tasks/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/tasks/")
    assert page.status_code == 200 and "我的待办" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["X-Frame-Options"] == "DENY"


def test_wrong_password_shows_the_form_again(client, directory):
    response = ui_login(client, "clerk", "wrong-password")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "用户名或密码错误" in html and 'value="clerk"' in html and "wrong-password" not in html


def test_lock_out_after_repeated_failures(client, directory, app):
    for _ in range(app.config["JIEFEN_LOGIN_MAX_FAILURES"]):
        assert ui_login(client, "clerk", "wrong-password").status_code == 401
    response = ui_login(client, "clerk", PASSWORD)  # the right password no longer helps from this address
    assert response.status_code == 401
    assert "此用户名从此地址登录失败次数过多" in response.get_data(as_text=True)


def test_open_redirects_are_refused(client, directory):
    token = csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "clerk", "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/"})
    assert response.headers["Location"] == "/tasks/"


def test_logout(client, directory):
    ui_login(client, "clerk")
    page = client.get("/tasks/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf(page)}).status_code == 302
    assert client.get("/tasks/").status_code == 302


def test_language_switch_to_english_and_back(client, directory):
    ui_login(client, "clerk")
    assert '<html lang="zh-CN">' in client.get("/tasks/").get_data(as_text=True)
    response = client.get("/lang/en?next=/tasks/")
    assert response.status_code == 302 and response.headers["Location"] == "/tasks/"
    html = client.get("/tasks/").get_data(as_text=True)
    assert '<html lang="en">' in html and "My tasks" in html and "我的待办" not in html
    client.get("/lang/zh_CN")
    assert "我的待办" in client.get("/tasks/").get_data(as_text=True)


def test_language_survives_login(client, directory):
    client.get("/lang/en")
    ui_login(client, "clerk")
    assert "My tasks" in client.get("/tasks/").get_data(as_text=True)


def test_engine_messages_follow_the_language(client, directory):
    client.get("/lang/en")
    html = ui_login(client, "clerk", "nope-nope").get_data(as_text=True)
    assert "wrong username or password" in html and "用户名或密码错误" not in html


def test_role_switcher_narrows_the_task_list(client, session, directory):
    from engine.services import users

    users.create_user(session, "multi", PASSWORD, ["intake_clerk", "mediator"])
    ui_login(client, "multi")
    page = client.get("/tasks/").get_data(as_text=True)
    assert "全部角色" in page and "mediator@330106000" in page
    response = client.post("/switch", data={"csrf_token": csrf(page), "grant": "mediator@330106000",
                                            "next": "/tasks/"})
    assert response.status_code == 302
    assert 'value="mediator@330106000" selected' in client.get("/tasks/").get_data(as_text=True)
    response = client.post("/switch", data={"csrf_token": csrf(page), "grant": "admin@330106000"})
    assert response.status_code == 400  # not one of this user's grants
