"""Issue 17 §5 through the staff pages, as the center's users: what staff read is Chinese, not variable names."""
from __future__ import annotations

import re

import pytest

from tests.scenario.test_dispute import REGISTER, linked_jc, register, sign
from tests.support.web import ui_login


@pytest.fixture
def page(app):
    """page(user, url) -> the HTML a user logged in through the /login form sees (one browser per user)."""
    browsers: dict = {}

    def _page(user: str, url: str, status: int = 200) -> str:
        if user not in browsers:
            browsers[user] = app.test_client()
            ui_login(browsers[user], user, expect=302)
        response = browsers[user].get(url)
        assert response.status_code == status, (url, user)
        return response.get_data(as_text=True)
    return _page


def _history(html: str) -> str:
    return html[html.index('class="timeline"'):html.index("</ol>", html.index('class="timeline"'))]


def test_history_labels_fields_from_forms_and_declared_labels_and_hides_working_variables(center, page):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "none",
                                           "tier": "ordinary"})
    history = _history(page("clerk", f"/cases/{cid}"))
    # form fields by the label of the task that wrote them, enum values by their option names
    assert "<td>纠纷类型</td><td>—</td><td>邻里</td>" in history
    assert "<td>纠纷等级</td><td>—</td><td>一般</td>" in history  # screen's own label, not a later form's
    assert history.index("<td>纠纷类型</td>") < history.index("<td>申请人（当事人）</td>") < history.index("<td>首问责任人</td>")
    # the process's initial values (a script's defaults at the start) are not shown as if something happened
    assert "<td>结案方式</td>" not in history and "<td>司法确认结果</td>" not in history
    # script-set data the process labels (jiefen.label.* / jiefen.values.*), with its values named, once a step
    # sets it
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "people"})
    c.complete(cid, "mediate", "mediator", {"mediation_result": "withdrawn", "mediation_record": "申请人书面撤回"})
    history = _history(page("clerk", f"/cases/{cid}"))
    assert "<td>结案方式</td><td>未化解</td><td>当事人撤回</td>" in history
    # working variables nobody labelled are not shown; no raw id anywhere in the history
    for raw in ("closure_type", "jc_result", "escalate_now", "revisit_round", "unresolved", "neighbourhood"):
        assert raw not in history, raw
    # times as YYYY-MM-DD HH:MM China time
    assert re.search(r"<time>2026-03-02 09:00</time>", history)
    # the API keeps the raw changes for auditors
    started = next(e for e in c.events(cid) if e["type"] == "case_started")
    assert started["payload"]["changes"]["escalate_now"] == [None, False]


def test_deadline_bases_cite_the_statute_without_tags_or_property_names(center, page):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "none",
                                           "tier": "ordinary"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "escalate", "handling_dept": "mediator",
                                             "mediation_type": "people", "dispatch_note": "超出本级处置能力"})
    accept = c.task(cid, "accept_escalation")
    assert accept["due_basis"].startswith("上报：") and "jiefen." not in accept["due_basis"]
    opened = [e["payload"]["basis"] for e in c.events(cid) if e["type"] == "task_opened"]
    assert opened and not any(re.search(r"\[[LPD]|jiefen\.|domain\.md", basis) for basis in opened)
    html = page("director", f"/cases/{cid}")
    html = html[html.index("<main"):]
    assert "人民调解法 第17条" in html  # the statute stays
    for raw in ("[P]", "[L/P]", "[L]", "jiefen.move_case", "domain.md"):
        assert raw not in html, raw


def test_intake_offers_only_the_processes_the_user_may_open(center, page):
    chooser = page("clerk", "/cases/new")
    assert "矛盾纠纷多元化解" in chooser and "信访事项办理与回访" in chooser and "调解协议司法确认" not in chooser
    # a process the user may not open is refused before its form is filled in, not on submit
    refused = page("screener", "/cases/new/judicial_confirmation", status=403)
    assert "调解协议书编号" not in refused
    assert "调解协议书编号" not in page("clerk", "/cases/new/judicial_confirmation", status=403)
    assert "您的角色不负责受理登记" in page("screener", "/cases/new")
    assert "调解协议书编号" in page("mediator", "/cases/new/judicial_confirmation")
    assert "首问责任人" in page("clerk", "/cases/new/dispute")


def test_case_page_links_only_the_tasks_the_viewer_can_act_on_or_oversee(center, page):
    c = center
    cid = register(c)
    screen = c.task(cid, "screen")
    link = f'href="/tasks/{screen["id"]}"'
    assert link in page("screener", f"/cases/{cid}")
    html = page("clerk", f"/cases/{cid}")
    listed = html[html.index(f'data-task-id="{screen["id"]}"'):]
    assert link not in html and listed.index("研判") < listed.index("</li>")
    # the director cannot act on it, but oversees it: the task page's 督办操作 (reassign, release, 催办)
    html = page("director", f"/cases/{cid}")
    assert link in html and f'href="/tasks/{screen["id"]}#oversee"' in html


def test_registration_refuses_a_future_received_date_and_a_number_that_is_no_phone(center):
    c = center
    case = c.open("dispute", "clerk", {"channel": "walk_in"})
    task = c.task(case["id"], "register")
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", "clerk").status_code == 200
    data = {**REGISTER, "received_date": c.day(1), "party_phone": "1380000"}
    response = c.post(f"/api/v1/tasks/{task['id']}/complete", "clerk", {"data": data})
    assert response.status_code == 422
    details = response.get_json()["details"]
    assert set(details) == {"received_date", "party_phone"}
    assert "不能晚于今天" in details["received_date"][0] and "固定电话" in details["party_phone"][0]
    data.update(received_date=c.day(0), party_phone="0571-87654321")
    assert c.post(f"/api/v1/tasks/{task['id']}/complete", "clerk", {"data": data}).status_code == 200


def test_task_list_category_filter_matches_the_chinese_label(center, page):
    c = center
    family = register(c, category="marriage_family")
    neighbours = register(c, category="neighbourhood")
    html = page("screener", "/tasks/?category=婚姻")
    assert f'data-case-id="{family}"' in html or f"/cases/{family}" in html
    assert f"/cases/{neighbours}\"" not in html
    assert f"/cases/{neighbours}\"" in page("screener", "/tasks/?category=邻里")
    ambiguous = page("screener", "/tasks/?category=地")  # 土地/山林 and 征地拆迁
    assert "有多个纠纷类型包含“地”" in ambiguous and "征地拆迁</a>" in ambiguous
    assert f"/cases/{family}\"" not in ambiguous


def test_a_field_that_does_not_apply_is_hidden_and_not_taken(center, page):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "none",
                                           "tier": "ordinary"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "people"})
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement", "mediation_sessions": 1})
    sign(c, cid, confirm=True)
    cid = linked_jc(c, cid)  # 司法确认, the linked case the dispute opened
    c.complete(cid, "jc_register_agreement", "mediator", {
        "agreement_no": "西调字〔2026〕第15号", "agreement_date": c.day(0), "mediation_org": "西湖区人民调解委员会",
        "jc_court_name": "西湖区人民法院", "jc_venue_basis": "mediation_org_location"})
    task = c.task(cid, "jc_joint_application")
    html = page("mediator", f"/tasks/{task['id']}")
    wrapper = re.search(r'<div class="field"[^>]*data-field="jc_applicants"[^>]*>', html).group(0)
    assert 'data-show-field="jc_application"' in wrapper and 'data-show-value="joint"' in wrapper
    assert " hidden" in wrapper  # nothing chosen yet: 申请人 does not apply
    assert "js/form_conditions.js" in html
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "refused", "jc_application_date": c.day(0),
                                                         "jc_applicants": "张三、李四"})
    assert "jc_applicants" not in c.case(cid)["data"]


def test_the_api_describes_the_form_rules(center):
    c = center
    case = c.open("dispute", "clerk", {"channel": "walk_in"})
    form = {f["id"]: f for f in c.get(f"/api/v1/tasks/{c.task(case['id'], 'register')['id']}", "clerk")["form"]}
    assert form["received_date"]["max_date"] == "today" and "max" not in form["received_date"]
    assert form["party_phone"]["phone"] is True and "phone" not in form["summary"]


def test_history_names_who_released_a_task_by_display_name(center, page):
    from sqlalchemy import update

    from engine.models import UserModel

    c = center
    c.session.execute(update(UserModel).where(UserModel.username == "screener").values(display_name="李研判"))
    c.session.commit()
    cid = register(c)
    screen = c.task(cid, "screen")
    assert c.post(f"/api/v1/tasks/{screen['id']}/claim", "screener").status_code == 200
    assert c.post(f"/api/v1/tasks/{screen['id']}/unclaim", "screener").status_code == 200
    history = _history(page("director", f"/cases/{cid}"))
    assert "原认领人 李研判" in history and "screener" not in history


def test_the_case_summary_shows_what_was_entered_not_the_processs_initial_values(center, page):
    """The dispute's start script sets 各方当事人同意延长=否 and 鉴定期间=0 before anyone is asked; the screener's
    summary shows what the clerk entered, the category once, and none of those defaults."""
    c = center
    cid = register(c)
    task = c.task(cid, "screen")
    html = page("screener", f"/tasks/{task['id']}")
    summary = html[html.index('class="summary data"'):]
    summary = summary[:summary.index("</dl>")]
    assert "纠纷简要情况" in summary and "首问责任人" in summary  # entered at registration
    for default in ("各方当事人同意延长", "双方同意继续调解", "鉴定期间", "协办部门", "纠纷类型"):
        assert default not in summary, default  # initial values / an empty multi-select / the category again
    # once the mediator enters them, they are shown
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "none",
                                           "tier": "ordinary"})
    html = page("screener", f"/cases/{cid}")
    summary = html[html.index('class="summary data"'):]
    assert "纠纷等级" in summary[:summary.index("</dl>")]
