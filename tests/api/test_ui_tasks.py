"""Staff UI through the Flask test client: intake, task lists, the task form, 403 for other roles, 409."""
from __future__ import annotations

import re

import pytest

from engine import task_list
from engine.services import cases, tasks
from tests.support import PASSWORD
from tests.support.web import csrf, ui_login

START_FORM = {"channel": "walk_in", "party_name": "张三", "party_phone": "138 0000 0000", "amount": "5000",
              "handling_dept": "mediator", "accepted_on": "2026-03-02"}


def post(client, url: str, data: dict | None = None, page: str | None = None):
    token = csrf(client.get(page or "/tasks/").get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


def register(client) -> str:
    response = post(client, "/cases/new/small_mediation", START_FORM, page="/cases/new/small_mediation")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


@pytest.fixture
def mediation_task(session, directory, actor):
    """A registered case waiting at 调解 for the mediators."""
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    intake = cases.open_tasks(session, case.id)[0]
    tasks.complete_task(session, intake.id, {"channel": "walk_in", "party_name": "李四", "party_phone": "13900000000",
                                             "handling_dept": "mediator"}, actor("clerk"))
    return cases.open_tasks(session, case.id)[0]


def test_intake_registers_case_and_completes_first_task(client, session, directory):
    ui_login(client, "clerk", expect=302)
    form = client.get("/cases/new/small_mediation").get_data(as_text=True)
    assert "来源渠道" in form and "受理登记" in form
    location = register(client)
    receipt = client.get(location).get_data(as_text=True)
    code = re.search(r'id="case-code">(\d+[\dX])<', receipt).group(1)
    assert code.startswith("3301061") and "<svg" in receipt and f"/lookup?code={code}" in receipt
    case = cases.get_case_by_code(session, code)
    assert [t.spec_name for t in cases.open_tasks(session, case.id)] == ["mediate"]
    assert case.party_phone == "138 0000 0000"


def test_intake_with_errors_keeps_values_and_opens_nothing(client, session, directory):
    ui_login(client, "clerk", expect=302)
    bad = dict(START_FORM, party_name="", amount="12.5")
    response = post(client, "/cases/new/small_mediation", bad, page="/cases/new/small_mediation")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "此项必填" in html and "请输入整数" in html
    assert 'value="138 0000 0000"' in html
    assert session.scalar(__import__("sqlalchemy").text("SELECT count(*) FROM cases")) == 0


def test_task_list_shows_tasks_of_my_role_only(client, mediation_task):
    ui_login(client, "mediator1", expect=302)
    html = client.get("/tasks/").get_data(as_text=True)
    assert mediation_task.id in html and mediation_task.case.code in html
    client.post("/logout", data={"csrf_token": csrf(html)})
    ui_login(client, "labour", expect=302)
    assert mediation_task.id not in client.get("/tasks/").get_data(as_text=True)


def test_other_role_gets_403_on_the_task_page(client, mediation_task):
    ui_login(client, "labour", expect=302)
    response = client.get(f"/tasks/{mediation_task.id}")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "拒绝访问" in html and "该任务不属于您的角色" in html and "Traceback" not in html
    response = post(client, f"/tasks/{mediation_task.id}/complete", {"result": "agreed"})
    assert response.status_code == 403


def test_claim_then_complete_with_an_error_then_correctly(client, session, mediation_task):
    ui_login(client, "mediator1", expect=302)
    response = post(client, f"/tasks/{mediation_task.id}/claim", page=f"/tasks/{mediation_task.id}")
    assert response.status_code == 302
    page = client.get(f"/tasks/{mediation_task.id}").get_data(as_text=True)
    assert "mediator1" in page and "5个工作日内调解" in page
    response = post(client, f"/tasks/{mediation_task.id}/complete", {"lock_version": "999"},
                    page=f"/tasks/{mediation_task.id}")
    assert response.status_code == 409  # a stale page
    lock = re.search(r'name="lock_version" value="(\d+)"', page).group(1)
    response = post(client, f"/tasks/{mediation_task.id}/complete", {"lock_version": lock},
                    page=f"/tasks/{mediation_task.id}")
    assert response.status_code == 422
    assert "此项必填" in response.get_data(as_text=True)
    response = post(client, f"/tasks/{mediation_task.id}/complete", {"lock_version": lock, "result": "agreed"},
                    page=f"/tasks/{mediation_task.id}")
    assert response.status_code == 302
    case_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已办结" in case_page and "达成协议" in case_page
    done = client.get("/tasks/?tab=done").get_data(as_text=True)
    assert mediation_task.case.code in done


def test_completing_a_task_somebody_else_completed_explains_409(client, session, mediation_task, actor):
    ui_login(client, "mediator1", expect=302)
    page = client.get(f"/tasks/{mediation_task.id}").get_data(as_text=True)
    tasks.complete_task(session, mediation_task.id, {"result": "failed"}, actor("mediator2"))
    response = client.post(f"/tasks/{mediation_task.id}/complete", data={"csrf_token": csrf(page), "result": "agreed"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "该任务已由 mediator2 于 2026-03-02 09:00 办理完毕" in html


def test_case_page_shows_history_diagram_data_and_timers(client, mediation_task):
    ui_login(client, "mediator1", expect=302)
    html = client.get(f"/cases/{mediation_task.case_id}").get_data(as_text=True)
    assert 'data-open=\'["mediate"]\'' in html
    assert '"intake"' in html and '"start"' in html  # completed elements
    for text in ("受理登记", "案件登记", "当事人", "李四", "调解期满", "任务开始"):
        assert text in html, text
    xml = client.get(f"/cases/{mediation_task.case_id}/diagram.bpmn")
    assert xml.status_code == 200 and b"small_mediation" in xml.data


def test_pages_need_login(client, directory):
    response = client.get("/tasks/")
    assert response.status_code == 302 and "/login?next=/tasks/" in response.headers["Location"]


def test_unknown_task_and_case_render_404_pages(client, directory):
    ui_login(client, "mediator1", expect=302)
    for url in ("/tasks/nope", "/cases/999999", "/no/such/page"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "未找到" in response.get_data(as_text=True)


def test_unexpected_error_renders_500_page(app, directory):
    def explode():
        raise RuntimeError("secret internals")

    app.add_url_rule("/explode", "explode", explode)
    response = app.test_client().get("/explode")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "服务器错误" in html and "secret internals" not in html and "Traceback" not in html


def test_supervisor_sees_area_tab(client, mediation_task):
    ui_login(client, "super", expect=302)
    html = client.get("/tasks/?tab=supervised").get_data(as_text=True)
    assert 'data-tab="supervised"' in html and mediation_task.id in html


def test_long_lists_say_more_than_the_count_cap(client, session, directory, actor, monkeypatch):
    # The page says "2+" and offers the next page; the API flags the total as a lower bound.
    for _ in range(3):
        cases.start_case(session, "small_mediation", {}, actor("clerk"))
    monkeypatch.setattr(task_list, "COUNT_CAP", 2)
    monkeypatch.setattr("webui.tasks.views.PER_PAGE", 1)
    ui_login(client, "clerk", expect=302)
    html = client.get("/tasks/").get_data(as_text=True)
    assert '<span class="count">2+</span>' in html and "共 2+ 条" in html and "page=2" in html
    token = client.post("/api/v1/auth/token", json={"username": "clerk", "password": PASSWORD}).get_json()["token"]
    body = client.get("/api/v1/tasks?per_page=1", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert (body["total"], body["total_capped"], len(body["items"])) == (2, True, 1)


def test_pages_name_people_by_their_display_name(client, session, directory, actor):
    """Issue 17 §5: the history, the case summary and the task lists say 王窗口, not the login name."""
    from sqlalchemy import update

    from engine.models import UserModel

    session.execute(update(UserModel).where(UserModel.username == "clerk").values(display_name="王窗口"))
    session.commit()
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    [intake] = cases.open_tasks(session, case.id)
    tasks.claim_task(session, intake.id, actor("clerk"))
    ui_login(client, "clerk", expect=302)
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    history = html[html.index('class="timeline"'):]
    assert "· 王窗口" in history and "· clerk" not in history
    assert "认领人：王窗口" in html or "王窗口</" in html
    listed = client.get("/tasks/?tab=claimed").get_data(as_text=True)
    assert "王窗口" in listed
