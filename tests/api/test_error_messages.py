"""Engine messages by id through the web layer: the API answers "中文 / English" as it always has, a page shows
the reader's language only, and marshmallow's form messages follow the same catalog."""
from __future__ import annotations

import re

from flask import session as flask_session

from engine import forms
from engine.errors import InvalidData
from tests.support import PASSWORD
from webui.i18n import api_details, api_text, localize

INTAKE = {"channel": "walk_in", "party_name": "张三", "party_phone": "13800000000", "handling_dept": "mediator"}


def test_api_errors_stay_bilingual(client, login):
    clerk = login("clerk")
    missing = client.get("/api/v1/cases/99999", headers=clerk).get_json()
    assert missing["error"] == "not_found" and missing["message"] == "案件不存在 / case 99999 not found"
    task = client.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000", headers=clerk).get_json()
    assert task["message"] == "任务不存在 / task 00000000-0000-0000-0000-000000000000 not found"
    wrong = client.post("/api/v1/auth/token", json={"username": "clerk", "password": "nope"}).get_json()
    assert wrong["message"] == "用户名或密码错误 / wrong username or password"
    forbidden = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}},
                            headers=login("mediator1")).get_json()
    assert forbidden["message"].startswith("您") and " / you hold no role" in forbidden["message"]


def test_api_form_errors_keep_the_bilingual_field_messages(client, login):
    clerk = login("clerk")
    opened = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=clerk).get_json()
    [intake] = opened["tasks"]
    body = client.post(f"/api/v1/tasks/{intake['id']}/complete", json={"data": {"channel": "walk_in", "surprise": 1}},
                       headers=clerk).get_json()
    assert body["message"] == "表单没有这些项 / unknown field(s): surprise"
    assert body["details"]["party_name"] == ["此项必填 / This field is required."]
    assert body["details"]["surprise"] == ["表单中没有此项。 / Unknown field."]


def _login_page(client, username: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_a_page_shows_an_engine_error_in_the_readers_language_only(client, directory):
    _login_page(client, "clerk")
    page = client.get("/cases/99999")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "案件不存在" in html
    assert "not found" not in html and " / " not in re.search(r'class="error-message">([^<]*)<', html).group(1)
    client.get("/lang/en")
    html = client.get("/cases/99999").get_data(as_text=True)
    assert "case 99999 not found" in html and "案件不存在" not in html


def test_the_login_page_says_why_in_the_readers_language(client, directory):
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"username": "clerk", "password": "nope", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 401 and "用户名或密码错误" in html and "wrong username or password" not in html


def _details(form: list[dict], data: dict, rt) -> dict:
    try:
        forms.validate_form(forms.build_schema(form), data, rt)
    except InvalidData as exc:
        return exc.details
    raise AssertionError("no validation error")


def test_marshmallow_messages_in_chinese_for_a_chinese_reader(app, rt):
    form = [{"id": "n", "type": "long", "required": True, "min": 1.0, "max": 5.0},
            {"id": "kind", "type": "enum", "enum": [("a", "A"), ("b", "B")]},
            {"id": "text", "type": "string", "minlength": 2},
            {"id": "when", "type": "date"}]
    details = _details(form, {"n": 9, "kind": "c", "text": "x", "when": "soon", "extra": True}, rt)
    with app.test_request_context("/"):
        flask_session["lang"] = "zh_CN"
        assert localize(details["n"][0]) == "应在 1 到 5 之间。"
        assert localize(details["text"][0]) == "至少 2 个字。"
        assert localize(details["when"][0]) == "请输入日期（年-月-日）。"
        assert localize(details["extra"][0]) == "表单中没有此项。"
        assert localize(_details(form, {}, rt)["n"][0]) == "此项必填"
    with app.test_request_context("/"):
        flask_session["lang"] = "en"
        assert localize(details["n"][0]) == "Must be between 1 and 5."
        assert localize(details["kind"][0]) == "Must be one of: a, b."
    # the API: both languages, as the engine's bilingual messages always were
    assert api_details(details)["n"] == ["应在 1 到 5 之间。 / Must be between 1 and 5."]
    assert api_text("plain text") == "plain text" and localize(None) == ""
