"""Issue 20 §1 in Chromium: the administrator creates a user with a role at the township; that user logs in and
sees the township's tasks; the administrator disables them and their open session ends on the next request.
Then a password reset: the one-time password shown once, the forced change at the next login."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engine.services import cases, tasks
from tests.support import PASSWORD


@pytest.fixture
def township_task(session, directory, actor):
    """An open 调解 task at the 北山 township (a case registered there by the township's clerk)."""
    directory.create_user(session, "tclerk", PASSWORD, ["intake_clerk"], ["330106001"], "北山受理员")
    case = cases.start_case(session, "small_mediation", {}, actor("tclerk"), "330106001")
    intake = cases.open_tasks(session, case.id)[0]
    case = tasks.complete_task(session, intake.id, {"channel": "phone", "party_name": "钱七", "party_phone": "13700002222",
                                                    "amount": 8000, "handling_dept": "mediator"}, actor("tclerk"))
    [mediate] = cases.open_tasks(session, case.id)
    assert mediate.org_unit.code == "330106001"
    session.commit()
    return case, mediate


def test_admin_creates_a_township_mediator_who_works_until_disabled(page, browser, live_server, sign_in, shoot,
                                                                    township_task):
    case, mediate = township_task
    sign_in(page, "admin")
    page.click("nav.mainnav >> text=系统管理")
    expect(page.locator("h1")).to_have_text("用户")
    shoot(page, "e-01-admin-users")
    page.fill("input[name=q]", "mediator")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.users tbody tr")).to_have_count(3)

    page.click("text=新建用户")
    page.fill("input[name=login]", "sun.ba")
    page.fill("input[name=display_name]", "孙八")
    page.fill("input[name=phone]", "13800008888")
    page.fill("input[name=password]", "Harbor-Violet-Comet-58")
    page.select_option("select[name=role]", label="调解员")
    page.select_option("select[name=org_unit]", value="330106001")
    shoot(page, "e-02-admin-user-new")
    page.click("form.user-form button[type=submit]")
    expect(page.locator(".flash-ok")).to_contain_text("已创建用户 sun.ba")
    expect(page.locator("ul.grants")).to_contain_text("调解员 · 北山街道综治中心")

    # the new mediator logs in (another browser) and sees the township's task
    other = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", timezone_id="Asia/Shanghai")
    mediator = other.new_page()
    mediator.goto(f"{live_server}/login")
    mediator.fill("input[name=username]", "sun.ba")
    mediator.fill("input[name=password]", "Harbor-Violet-Comet-58")
    mediator.click("form.stack button[type=submit]")
    mediator.wait_for_url(f"{live_server}/tasks/")
    expect(mediator.locator(f"[data-task-id='{mediate.id}']").first).to_be_visible()
    expect(mediator.locator("body")).to_contain_text(case.code)

    # the administrator sees the last login, then disables the user
    page.reload()
    expect(page.locator("main")).not_to_contain_text("从未登录")
    page.click("#disable-user")
    expect(page.locator(".flash-ok")).to_contain_text("已停用该用户")
    shoot(page, "e-03-admin-user-disabled")

    # the mediator's open session ends on the next request
    mediator.reload()
    mediator.wait_for_url(re.compile(r"/login"))
    expect(mediator.locator("h1")).to_have_text("登录")
    other.close()

    page.click(".console-nav >> text=管理日志")
    expect(page.locator("table.admin-log")).to_contain_text("停用用户")
    expect(page.locator("table.admin-log")).to_contain_text("创建用户")
    page.click("#verify-log")
    expect(page.locator("#chain-check")).to_contain_text("日志链完整")
    shoot(page, "e-04-admin-log")


def test_reset_password_and_the_forced_change(page, browser, live_server, sign_in, shoot, directory):
    sign_in(page, "admin")
    page.goto(f"{live_server}/admin/users/clerk")
    page.click("#reset-password")
    one_time = page.locator("#one-time-password").inner_text().strip()
    assert len(one_time) == 19
    shoot(page, "e-05-admin-user-reset")

    other = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    clerk = other.new_page()
    clerk.goto(f"{live_server}/login")
    clerk.fill("input[name=username]", "clerk")
    clerk.fill("input[name=password]", one_time)
    clerk.click("form.stack button[type=submit]")
    clerk.wait_for_url(re.compile(r"/password"))
    expect(clerk.locator(".flash-warn").last).to_contain_text("您的密码已被管理员重置")
    shoot(clerk, "e-06-forced-password-change")
    clerk.fill("input[name=password]", "Lantern-Orchid-Basalt-72")
    clerk.fill("input[name=password2]", "Lantern-Orchid-Basalt-72")
    clerk.click("form.stack button[type=submit]")
    clerk.wait_for_url(f"{live_server}/tasks/")
    expect(clerk.locator(".flash-ok")).to_contain_text("新密码已设置")
    other.close()


def test_bulk_import_page(page, live_server, sign_in, shoot, tmp_path, directory):
    sign_in(page, "admin")
    page.goto(f"{live_server}/admin/users/import")
    bad = tmp_path / "staff.csv"
    bad.write_text("登录名,姓名,手机,初始密码,角色@单位\nzhou.jiu,周九,123,,调解员@北山街道综治中心\nwu.shi,,,,巫师@330106001\n",
                   encoding="utf-8")
    page.set_input_files("input[name=file]", str(bad))
    page.click("#import-check")
    expect(page.locator("table.import-errors")).to_contain_text("请填写电话号码")
    expect(page.locator(".flash-error")).to_contain_text("有 2 行存在错误")
    shoot(page, "e-07-admin-import-errors")
