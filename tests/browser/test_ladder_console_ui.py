"""Issue 20 §4 in Chromium: the administrator changes a tier's ladder on /admin/ladder (一般: no 提示, 催办 two days
before the deadline) and a task opened after it follows the new steps — its case page lists them; the lane map
page; the admin log names the change. Screenshots at desktop and phone size."""
from __future__ import annotations

from playwright.sync_api import expect

from engine.services import cases, tasks
from tests.support import PASSWORD


def _mediation_case(session, actor):
    case = cases.start_case(session, "small_mediation", {}, actor("lclerk"), "330106001")
    intake = cases.open_tasks(session, case.id)[0]
    case = tasks.complete_task(session, intake.id, {"channel": "phone", "party_name": "钱七", "party_phone": "13700002222",
                                                    "amount": 8000, "handling_dept": "mediator"}, actor("lclerk"))
    session.commit()
    return case


def test_admin_changes_a_tiers_ladder_and_a_new_tasks_steps_follow(page, live_server, sign_in, shoot, session,
                                                                   directory, actor, clock):
    directory.create_user(session, "lclerk", PASSWORD, ["intake_clerk"], ["330106001"], "北山受理员")
    before = _mediation_case(session, actor)
    sign_in(page, "admin")
    page.goto(f"{live_server}/admin/ladder")
    expect(page.locator("h1")).to_have_text("督办规则")
    ordinary = page.locator("#tier-ordinary")
    expect(ordinary.locator("h2")).to_have_text("一般案件")
    shoot(page, "l-01-ladder")

    # 一般: no 提示; 催办 2 days before the deadline; 督办 3 working days after it
    ordinary.locator("input[name=ordinary-prompt-on]").uncheck()
    ordinary.locator("select[name=ordinary-reminder-direction]").select_option("before")
    ordinary.locator("input[name=ordinary-reminder-amount]").fill("2")
    ordinary.locator("input[name=ordinary-notice-amount]").fill("3")
    ordinary.locator("select[name=ordinary-notice-unit]").select_option("workdays")
    # a mistake first: 挂牌督办 before 督办 is refused, naming the field
    ordinary.locator("input[name=ordinary-listing-amount]").fill("1")
    ordinary.locator("select[name=ordinary-listing-unit]").select_option("days")
    page.fill("input[name=note]", "一般案件取消提示，提前两天催办")
    page.click("#ladder-save")
    expect(page.locator("#ladder-error")).to_contain_text("督办阶梯规则有1处问题")
    expect(page.locator("#tier-ordinary")).to_contain_text("挂牌督办的时间须晚于督办")
    shoot(page, "l-02-ladder-error")
    page.locator("#tier-ordinary input[name=ordinary-listing-amount]").fill("5")
    page.locator("#tier-ordinary select[name=ordinary-listing-unit]").select_option("workdays")
    page.click("#ladder-save")
    expect(page.locator(".flash-ok")).to_contain_text("督办规则已保存")
    expect(page.locator("#ladder-history")).to_contain_text("一般案件取消提示")
    expect(page.locator("#ladder-saved")).to_contain_text("保存")

    # a task opened after the change follows it; the one opened before keeps its steps
    clock.advance(minutes=10)
    after = _mediation_case(session, actor)
    page.goto(f"{live_server}/cases/{after.id}")
    timers = page.locator("body")
    expect(timers).to_contain_text("催办：调解")
    expect(timers).not_to_contain_text("提示：调解")
    shoot(page, "l-03-new-case-steps")
    page.goto(f"{live_server}/cases/{before.id}")
    expect(page.locator("body")).to_contain_text("提示：调解")

    # the admin log names the change in words
    page.goto(f"{live_server}/admin/log")
    entry = page.locator("table.admin-log tbody tr", has_text="修改设置")
    expect(entry).to_contain_text("督办规则")
    expect(entry).to_contain_text("一般：催办到期前2自然日")

    # the lane map page
    page.goto(f"{live_server}/admin/roles")
    expect(page.locator("#lanes h2")).to_have_text("泳道与角色")
    page.locator("#lanes").scroll_into_view_if_needed()
    shoot(page, "l-04-lane-map")
    page.goto(f"{live_server}/admin/settings")
    shoot(page, "l-05-settings")
