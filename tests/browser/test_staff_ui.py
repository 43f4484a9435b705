"""The staff UI in Chromium: intake → 我的待办 → claim → task form → case page, other roles, public lookup."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engine.services import cases, tasks


@pytest.fixture
def waiting_case(session, directory, actor):
    """A case registered through the services, waiting at 调解 for the mediators."""
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    intake = cases.open_tasks(session, case.id)[0]
    case = tasks.complete_task(session, intake.id, {"channel": "phone", "party_name": "赵六", "party_phone": "13700001111",
                                                    "amount": 12000, "handling_dept": "mediator"}, actor("clerk"))
    session.commit()
    return case


def test_register_claim_complete_and_follow_a_case(page, live_server, sign_in, logout, shoot):
    # the intake clerk registers a dispute on one screen and gets the case code and a receipt
    page.goto(live_server)
    expect(page).to_have_url(f"{live_server}/login")
    shoot(page, "01-login")
    sign_in(page, "clerk")
    expect(page.locator("h1")).to_have_text("我的待办")
    shoot(page, "02-tasks-clerk-empty")
    page.click("nav.mainnav >> text=受理登记")
    expect(page.locator("h1")).to_contain_text("受理登记")
    page.check("input[name=channel][value=walk_in]")
    page.fill("#f-party_name", "张三")
    page.fill("#f-party_phone", "138 0013 8000")
    page.fill("#f-amount", "5000")
    page.check("input[name=handling_dept][value=mediator]")
    page.fill("#f-accepted_on", "2026-03-02")
    shoot(page, "03-intake-form")
    page.click("form.task-form button[type=submit]")
    code = page.locator("#case-code").inner_text().strip()
    assert re.fullmatch(r"3301061\d{11}[\dX]", code), code
    expect(page.locator(".flash-ok")).to_contain_text(code)
    expect(page.locator("figure.qr svg")).to_be_visible()
    expect(page.locator(".receipt-help .url")).to_contain_text(f"/lookup?code={code}")
    shoot(page, "04-receipt")
    logout(page)

    # the mediator finds it in 我的待办, claims it
    sign_in(page, "mediator1")
    row = page.locator(f"tr[data-case-code='{code}']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("调解")
    expect(row).to_contain_text("未认领")
    expect(page.locator("[data-tab=todo] .count")).to_have_text("1")
    shoot(page, "05-tasks-mediator")
    row.locator("button", has_text="认领").click()
    expect(page.locator(".flash-ok")).to_have_text("已认领该任务。")
    row = page.locator(f"tr[data-case-code='{code}']")
    expect(row).to_contain_text("mediator1")
    expect(page.locator("[data-tab=claimed] .count")).to_have_text("1")
    row.locator("a.task-link").click()

    # the task page: form, deadline with its basis, case summary
    expect(page.locator("h1")).to_contain_text("调解")
    expect(page.locator(".deadline")).to_contain_text("5个工作日内调解")
    expect(page.locator(".deadline")).to_contain_text("2026-03-09 23:59")
    expect(page.locator("aside")).to_contain_text("张三")
    shoot(page, "06-task-form")

    # the case page meanwhile: the diagram with the open task highlighted, the history
    page.click("aside a.code")
    expect(page.locator("h1.case-title")).to_contain_text(code)
    page.wait_for_selector("#diagram[data-state=ready]")
    expect(page.locator("g.djs-element.jf-open[data-element-id=mediate]")).to_have_count(1)
    expect(page.locator("g.djs-element.jf-completed[data-element-id=intake]")).to_have_count(1)
    expect(page.locator(".timeline .event-case_started")).to_contain_text("案件登记")
    expect(page.locator(".timeline .event-task_completed")).to_contain_text("clerk")
    expect(page.locator(".timeline .event-task_claimed")).to_contain_text("mediator1")
    expect(page.locator(".timeline .event-case_started table.changes")).to_contain_text("调解室")
    shoot(page, "07-case-open")
    page.go_back()

    # submitting without the required choice: the server's per-field error, nothing lost
    page.click("form.task-form button[type=submit]")
    expect(page.locator("[data-field=result] .field-error")).to_have_text("此项必填")
    expect(page.locator(".flash-error")).to_contain_text("请更正标出的项目")
    shoot(page, "08-task-form-error")
    page.check("input[name=result][value=agreed]")
    page.click("form.task-form button[type=submit]")

    # done: the case page shows the closed case, the history, and the diagram with everything completed
    expect(page.locator(".flash-ok")).to_contain_text("已办理完成")
    expect(page.locator("h1.case-title .status")).to_have_text("已办结")
    page.wait_for_selector("#diagram[data-state=ready]")
    expect(page.locator("g.djs-element.jf-completed[data-element-id=mediate]")).to_have_count(1)
    expect(page.locator(".timeline .event-case_closed")).to_contain_text("已化解")
    shoot(page, "09-case-closed")
    page.click("nav.mainnav >> text=我的待办")
    page.click("[data-tab=done]")
    expect(page.locator("table.list")).to_contain_text(code)
    shoot(page, "10-tasks-done")


def test_other_roles_never_see_or_open_the_task(page, live_server, sign_in, shoot, waiting_case, session):
    task = cases.open_tasks(session, waiting_case.id)[0]
    session.commit()
    sign_in(page, "labour")
    expect(page.locator(f"tr[data-case-code='{waiting_case.code}']")).to_have_count(0)
    expect(page.locator(".empty")).to_be_visible()
    shoot(page, "11-tasks-other-role")
    response = page.goto(f"{live_server}/tasks/{task.id}")
    assert response.status == 403
    expect(page.locator(".error-card h1")).to_have_text("拒绝访问")
    expect(page.locator(".error-card")).to_contain_text("该任务不属于您的角色")
    shoot(page, "12-error-403")
    response = page.goto(f"{live_server}/cases/424242")
    assert response.status == 404
    expect(page.locator(".error-card h1")).to_have_text("未找到")
    shoot(page, "13-error-404")


def test_completing_a_task_somebody_else_completed_explains_it(page, live_server, sign_in, shoot, waiting_case,
                                                               session, actor):
    task = cases.open_tasks(session, waiting_case.id)[0]
    session.commit()
    sign_in(page, "mediator1")
    page.goto(f"{live_server}/tasks/{task.id}")
    page.check("input[name=result][value=failed]")
    tasks.complete_task(session, task.id, {"result": "agreed"}, actor("mediator2"))
    session.commit()
    page.click("form.task-form button[type=submit]")
    expect(page.locator(".error-card h1")).to_have_text("操作冲突")
    expect(page.locator(".error-card")).to_contain_text("该任务已由 mediator2 于 2026-03-02 09:00 办理完毕")
    shoot(page, "14-error-409")


def test_public_lookup_by_code_and_phone(page, live_server, shoot, waiting_case):
    page.goto(f"{live_server}/lookup?code={waiting_case.code}")
    expect(page.locator("input[name=code]")).to_have_value(waiting_case.code)
    page.fill("input[name=phone]", "137 0000 1111")
    page.click("form.stack button[type=submit]")
    expect(page.locator(".lookup-result")).to_contain_text("办理中")
    expect(page.locator(".lookup-result .next-step")).to_have_text("调解")
    expect(page.locator("body")).not_to_contain_text("赵六")
    shoot(page, "15-lookup-result")
    page.fill("input[name=phone]", "13700009999")
    page.click("form.stack button[type=submit]")
    expect(page.locator(".flash-error")).to_have_text("案件编号与联系电话不匹配，未找到案件。")
    expect(page.locator(".lookup-result")).to_have_count(0)
    shoot(page, "16-lookup-mismatch")


def test_english_ui(page, live_server, sign_in, shoot, waiting_case, session):
    task = cases.open_tasks(session, waiting_case.id)[0]
    session.commit()
    sign_in(page, "mediator1")
    page.click("span.langs >> text=English")
    expect(page.locator("h1")).to_have_text("My tasks")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shoot(page, "17-tasks-english")
    page.goto(f"{live_server}/tasks/{task.id}")
    expect(page.locator("button", has_text="Complete task")).to_be_visible()
    shoot(page, "18-task-english")
    page.goto(f"{live_server}/cases/{waiting_case.id}")
    page.wait_for_selector("#diagram[data-state=ready]")
    expect(page.locator(".timeline")).to_contain_text("Case registered")
    shoot(page, "19-case-english")


def test_warning_badges_and_overdue_tab(page, live_server, sign_in, shoot, session, directory, actor, clock):
    from sqlalchemy import update

    from engine.models import TaskCandidateModel, TaskModel

    for level in (1, 2, 3, 4):
        case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
        intake = cases.open_tasks(session, case.id)[0]
        tasks.complete_task(session, intake.id, {"channel": "walk_in", "party_name": f"当事人{level}",
                                                 "handling_dept": "mediator"}, actor("clerk"))
        task_id = cases.open_tasks(session, case.id)[0].id
        session.get(TaskModel, task_id).warning_level = level  # as an escalation does: the task and its list key
        session.execute(update(TaskCandidateModel).where(TaskCandidateModel.task_id == task_id).values(warning_level=level))
        session.commit()
    clock.advance(days=10)
    sign_in(page, "mediator1")
    expect(page.locator("[data-tab=overdue] .count")).to_have_text("4")
    page.select_option("select[name=sort]", "warning")
    page.click("form.filters button[type=submit]")
    badges = page.locator("td.warning-cell .badge")
    expect(badges).to_have_text(["挂牌督办", "督办", "催办", "提示"])
    expect(page.locator("td.warning-cell .badge.badge-red")).to_have_count(1)
    expect(page.locator("td.warning-cell .badge.badge-yellow")).to_have_count(1)
    expect(page.locator("td.warning-cell .badge.badge-blue")).to_have_count(1)
    expect(page.locator(".badge-overdue")).to_have_count(4)
    shoot(page, "20-tasks-warnings")
    page.click("[data-tab=overdue]")
    expect(page.locator("table.list tbody tr")).to_have_count(4)


def test_intake_shows_the_same_partys_other_cases(page, live_server, sign_in, shoot, waiting_case):
    """重复件: the clerk types the party's phone (here with +86 and spaces) and sees the case already open for it,
    with a link, before registering; another phone clears it. Nothing is blocked; judged the same matter, the new
    case is registered as its repeat and the earlier case's page links to it."""
    sign_in(page, "clerk")
    page.click("nav.mainnav >> text=受理登记")
    page.fill("#f-party_name", "赵六")
    page.fill("#f-party_phone", "+86 137 0000 1111")
    box = page.locator("#same-party")
    expect(box).to_have_attribute("data-state", "found", timeout=10000)
    expect(box).to_contain_text("该电话已有 1 件其他案件")
    expect(box.locator(f"li[data-case-code='{waiting_case.code}'] a")).to_have_attribute(
        "href", f"/cases/{waiting_case.id}")
    expect(box).to_contain_text("办理中")
    shoot(page, "21-intake-same-party")
    page.fill("#f-party_phone", "13911112222")
    expect(box).to_have_attribute("data-state", "empty", timeout=10000)
    expect(box).to_be_hidden()
    # the same matter: registered as a repeat of the open case, linked on both pages
    page.fill("#f-party_phone", "13700001111")
    expect(box).to_have_attribute("data-state", "found", timeout=10000)
    box.locator(f"input[name=repeat_of][value='{waiting_case.id}']").check()
    page.check("input[name=channel][value=walk_in]")
    page.check("input[name=handling_dept][value=mediator]")
    page.click("form.task-form button[type=submit]")
    code = page.locator("#case-code").inner_text().strip()
    page.goto(f"{live_server}/cases/{waiting_case.id}")
    expect(page.locator("ul.links")).to_contain_text(f"{code} (重复件)")
