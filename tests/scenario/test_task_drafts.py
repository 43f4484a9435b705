"""保存草稿 (issue 17 §5): a task form saved without completing it — its holder sees it again, it is not in the
case data, the claim keeps others from overwriting it, and it is gone when the task completes."""
from __future__ import annotations

from sqlalchemy import select

from engine.models import TaskDraftModel
from tests.scenario.test_dispute import to_mediation
from tests.scenario.test_staff_pages import page  # noqa: F401  (the `page` fixture)
from tests.support.web import csrf, ui_login

RECORD = {"mediation_result": "agreement", "mediation_sessions": 2}

def test_a_draft_is_kept_for_its_holder_apart_from_the_case_data(center, page, app):  # noqa: F811
    c = center
    cid = to_mediation(c)
    task = c.task(cid, "mediate")
    url = f"/api/v1/tasks/{task['id']}/draft"
    # not claimed yet: claim first, so that nobody else overwrites it
    first = c.client.put(url, json={"data": RECORD}, headers=c.login("mediator"))
    assert first.status_code == 409 and "认领" in first.get_json()["message"]
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", "mediator").status_code == 200
    saved = c.client.put(url, json={"data": {"mediation_sessions": "2"}}, headers=c.login("mediator"))
    assert saved.status_code == 200 and saved.get_json()["data"] == {"mediation_sessions": "2"}
    # another mediator may not overwrite it; a field of another form is refused
    assert c.client.put(url, json={"data": RECORD}, headers=c.login("director")).status_code == 403
    bad = c.client.put(url, json={"data": {"closure_type": "resolved"}}, headers=c.login("mediator"))
    assert bad.status_code == 422 and "closure_type" in bad.get_json()["details"]
    assert "mediation_sessions" not in c.case(cid)["data"]  # not in the case data
    # the page shows the holder the draft again, and a 保存草稿 button saves what was entered
    html = page("mediator", f"/tasks/{task['id']}")
    assert "保存草稿" in html and "草稿保存于" in html
    assert 'name="mediation_sessions" type="text" inputmode="numeric" value="2"' in html
    browser = app.test_client()

    ui_login(browser, "mediator", expect=302)
    token = csrf(browser.get(f"/tasks/{task['id']}").get_data(as_text=True))
    answer = browser.post(f"/tasks/{task['id']}/draft", data={"csrf_token": token, "mediation_sessions": "3",
                                                              "mediation_result": "agreement"})
    assert answer.status_code == 302
    c.session.expire_all()
    draft = c.session.scalar(select(TaskDraftModel).where(TaskDraftModel.task_id == task["id"]))
    assert draft.data == {"mediation_sessions": "3", "mediation_result": "agreement"}
    # completing the task takes the submitted data, and the draft goes with the task
    c.complete(cid, "mediate", "mediator", RECORD)
    c.session.expire_all()
    assert c.session.scalar(select(TaskDraftModel).where(TaskDraftModel.task_id == task["id"])) is None
    assert c.case(cid)["data"]["mediation_sessions"] == 2
