"""Issue 18 §4 in Chromium: the director releases a claim, reassigns and urges a task; the holder sees the 催办;
a party looks their case up on a phone and rates its handling."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from engine.services import cases, tasks
from tests.browser.conftest import PHONE
from tests.support import PASSWORD


@pytest.fixture
def claimed_case(session, directory, actor):
    """A county case whose 调解 task mediator1 claimed; a director and a third mediator with display names."""
    directory.ensure_roles(session, {"director": "中心主任"})
    session.commit()
    directory.create_user(session, "director1", PASSWORD, ["director"], None, "李主任")
    directory.create_user(session, "mediator3", PASSWORD, ["mediator"], None, "赵调解")
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    intake = cases.open_tasks(session, case.id)[0]
    case = tasks.complete_task(session, intake.id, {"channel": "phone", "party_name": "赵六", "party_phone": "13700001111",
                                                    "amount": 12000, "handling_dept": "mediator"}, actor("clerk"))
    [mediate] = cases.open_tasks(session, case.id)
    tasks.claim_task(session, mediate.id, actor("mediator1"))
    session.commit()
    return case, mediate.id


def test_director_releases_reassigns_and_urges_a_task(page, live_server, sign_in, logout, shoot, claimed_case):
    case, task_id = claimed_case
    sign_in(page, "director1")
    page.click("[data-tab=supervised]")
    row = page.locator(f"tr[data-task-id='{task_id}']")
    expect(row).to_contain_text("mediator1")
    row.locator("a.task-link").click()
    oversee = page.locator("#oversee")
    expect(oversee).to_contain_text("督办操作")
    # the picker lists the eligible people by name, never the present holder
    options = oversee.locator("select[name=username] option")
    expect(options).to_have_text(["mediator2", "赵调解"])

    oversee.locator("button", has_text="退回认领").click()
    expect(page.locator(".flash-ok")).to_contain_text("已退回认领")
    expect(page.locator(".task-head")).to_contain_text("未认领")

    page.select_option("#oversee select[name=username]", label="赵调解")
    page.click("#oversee .reassign-form button[type=submit]")
    expect(page.locator(".flash-ok")).to_have_text("任务已改派给 赵调解。")
    expect(page.locator(".task-head")).to_contain_text("赵调解")

    page.fill("#oversee textarea[name=note]", "当事人多次来电询问进展，请于本周五前办结并反馈。")
    page.click("#oversee .urge-form button[type=submit]")
    expect(page.locator(".flash-ok")).to_contain_text("催办已发送")
    expect(page.locator("#urge-note")).to_contain_text("李主任")
    expect(page.locator("#urge-note")).to_contain_text("请于本周五前办结")
    shoot(page, "c-10-director-task-oversee")

    # the case's history tells each step in Chinese
    page.goto(f"{live_server}/cases/{case.id}")
    timeline = page.locator(".timeline")
    expect(timeline.locator(".event-task_released")).to_contain_text("督办人员退回认领")
    expect(timeline.locator(".event-task_released")).to_contain_text("原认领人 mediator1")
    expect(timeline.locator(".event-task_reassigned")).to_contain_text("任务改派")
    expect(timeline.locator(".event-task_reassigned")).to_contain_text("赵调解")
    expect(timeline.locator(".event-task_urged")).to_contain_text("人工催办")
    expect(timeline.locator(".event-task_urged")).to_contain_text("请于本周五前办结")
    expect(page.locator(".open-tasks .urge-mark")).to_have_text("已催办")
    expect(page.locator(".open-tasks a.oversee-link")).to_have_count(1)
    shoot(page, "c-11-director-case-history")
    logout(page)

    # the new holder sees the 催办 in their list and on the task
    sign_in(page, "mediator3")
    row = page.locator(f"tr[data-task-id='{task_id}']")
    expect(row.locator(".urge-mark")).to_have_text("已催办")
    shoot(page, "c-12-holder-task-list-urged")
    row.locator("a.task-link").click()
    expect(page.locator("#urge-note")).to_contain_text("当事人多次来电询问进展")
    expect(page.locator("#oversee")).to_have_count(0)  # a mediator has no supervision actions
    shoot(page, "c-13-holder-task-urged")


def test_a_mediator_sees_no_supervision_actions(page, live_server, sign_in, claimed_case):
    _case, task_id = claimed_case
    sign_in(page, "mediator1")
    page.goto(f"{live_server}/tasks/{task_id}")
    expect(page.locator("h1")).to_contain_text("调解")
    expect(page.locator("#oversee")).to_have_count(0)


@pytest.fixture
def closed_case(session, directory, actor):
    directory.set_org_unit_phone(session, "330106000", "0571-8701 2345")
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    intake = cases.open_tasks(session, case.id)[0]
    tasks.complete_task(session, intake.id, {"channel": "phone", "party_name": "赵六", "party_phone": "13700001111",
                                             "amount": 12000, "handling_dept": "mediator"}, actor("clerk"))
    [mediate] = cases.open_tasks(session, case.id)
    case = tasks.complete_task(session, mediate.id, {"result": "agreed"}, actor("mediator1"))
    session.commit()
    return case


def test_party_rates_the_handling_on_a_phone(page, live_server, shoot, closed_case):
    page.set_viewport_size(PHONE)
    spaced = " ".join(closed_case.code[i:i + 4] for i in range(0, len(closed_case.code), 4))
    page.goto(f"{live_server}/lookup")
    # the X button: a number pad cannot type a code's check character X
    page.click("button[data-append-x]")
    expect(page.locator("#lookup-code")).to_have_value("X")
    expect(page.locator("#lookup-code")).to_have_attribute("inputmode", "text")
    page.fill("#lookup-code", spaced)
    page.fill("input[name=phone]", "+86 137 0000 1111")
    page.click("form.stack button[type=submit]")
    result = page.locator(".lookup-result")
    expect(result.locator(".stage-current")).to_have_text("办结")
    expect(result).to_contain_text("您的案件已办结")
    expect(result.locator(".handling-unit")).to_have_text("西湖区综治中心")
    expect(result.locator(".unit-phone a")).to_have_attribute("href", "tel:057187012345")
    for personal in ("赵六", "13700001111", "12000"):
        expect(page.locator("body")).not_to_contain_text(personal)
    shoot(page, "c-20-lookup-closed-rating-form")
    page.set_viewport_size(PHONE)

    page.click("label.rating-choice:has-text('基本满意')")
    page.fill("textarea[name=comment]", "调解员很耐心，但等待时间稍长。")
    page.click(".rating-form button[type=submit]")
    expect(page.locator(".rating-done")).to_contain_text("感谢您的评价")
    expect(page.locator(".rating-done")).to_contain_text("基本满意")
    expect(page.locator(".rating-form")).to_have_count(0)
    shoot(page, "c-21-lookup-rated")


def test_lookup_of_an_open_case_shows_the_stage(page, live_server, shoot, session, directory, actor):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    intake = cases.open_tasks(session, case.id)[0]
    tasks.complete_task(session, intake.id, {"channel": "phone", "party_name": "钱七", "party_phone": "13700002222",
                                             "amount": 500, "handling_dept": "mediator"}, actor("clerk"))
    session.commit()
    page.goto(f"{live_server}/lookup?code={case.code}")
    page.fill("input[name=phone]", "１３７００００２２２２")
    page.click("form.stack button[type=submit]")
    result = page.locator(".lookup-result")
    expect(result.locator(".stage-done")).to_have_text(["登记受理", "研判分流"])
    expect(result.locator(".stage-current")).to_have_text("调解办理")
    expect(result.locator(".next-step")).to_have_text("调解")
    expect(page.locator(".rating-form")).to_have_count(0)  # rated only after closure
    shoot(page, "c-22-lookup-open")
