"""Issue 20 §2 in Chromium: the administrator adds a village under a township, moves it to another township after
reading what the move changes, and sees it there in the tree; gives a department a 轮驻 rota and finds it away on
its off day in the week's roster; the screener's 交办 form says that department is away today; a role renamed
shows under its new name."""
from __future__ import annotations

from playwright.sync_api import expect

from engine.services import cases, processes
from engine.services.users import SYSTEM
from tests.api.test_admin_org import DISPATCH
from tests.support import PASSWORD


def test_admin_adds_a_village_moves_it_and_sees_it_in_the_tree(page, live_server, sign_in, shoot, session,
                                                               directory):
    directory.add_org_unit(session, "330106002", "西溪街道综治中心", "township", "330106000")
    sign_in(page, "admin")
    page.click("nav.mainnav >> text=系统管理")
    page.click(".console-nav >> text=组织机构")
    expect(page.locator("h1")).to_have_text("组织机构")

    form = page.locator("#org-add")
    form.locator("select[name=parent]").select_option("330106001")
    form.locator("select[name=kind]").select_option(label="村（社区）调委会")
    form.locator("input[name=name]").fill("玉泉社区调解室")
    form.locator("input[name=code]").fill("330106001")  # a township's length: refused, naming the field
    form.locator("button[type=submit]").click()
    expect(page.locator("#org-add .field-error")).to_contain_text("12 位数字")
    form.locator("input[name=code]").fill("330106001003")
    form.locator("input[name=phone]").fill("0571-8702 1103")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-ok")).to_contain_text("已新增机构 玉泉社区调解室")
    expect(page.locator("h1")).to_contain_text("玉泉社区调解室")
    expect(page.locator("main")).to_contain_text("村（社区）调委会")

    page.locator("#org-move select[name=parent]").select_option("330106002")
    page.locator("#org-move button[type=submit]").click()
    preview = page.locator("#move-preview")
    expect(preview).to_contain_text("上报改为报送 西溪街道综治中心，不再报送 北山街道综治中心")
    expect(preview).to_contain_text("在办案件 0 件")
    shoot(page, "i-02-org-move-preview")
    page.click("#confirm-move")
    expect(page.locator(".flash-ok")).to_contain_text("已调整到 西溪街道综治中心 之下")

    page.click(".console-nav >> text=组织机构")
    tree = page.locator("ul.org-tree")
    # in the tree, the village now follows 西溪街道 (its new township), one level deeper
    codes = [li.get_attribute("data-code") for li in tree.locator("li").all()]
    assert codes.index("330106002") < codes.index("330106001003")
    assert codes.index("330106001001") < codes.index("330106002")
    expect(tree.locator("li[data-code='330106001003']")).to_have_class("depth-2")
    shoot(page, "i-01-org-tree")

    page.click(".console-nav >> text=管理日志")
    expect(page.locator("table.admin-log")).to_contain_text("调整机构隶属")
    expect(page.locator("table.admin-log")).to_contain_text("新增机构")


def test_a_rota_department_is_away_on_its_off_day_in_the_roster_and_in_the_dispatch_form(
        page, browser, live_server, sign_in, shoot, session, directory, actor):
    directory.add_org_unit(session, "330106-union", "区总工会", "department", "330106000", presence="resident")
    sign_in(page, "admin")
    page.goto(f"{live_server}/admin/org/330106-union")
    page.locator("#org-presence select[name=presence]").select_option("rota")
    page.locator("#org-presence input[name=rota_days][value='2']").check()
    page.locator("#org-presence input[name=rota_days][value='4']").check()
    page.locator("#org-presence button[type=submit]").click()
    expect(page.locator(".flash-ok")).to_have_text("已保存。")
    expect(page.locator("main .presence")).to_have_text("轮驻：周二、周四")
    expect(page.locator("main .presence-today")).to_have_text("今日不在岗")  # the test clock: a Monday

    page.goto(f"{live_server}/admin/org")
    page.click("#roster-link")
    row = page.locator("table.roster tr[data-code='330106-union']")
    expect(row.locator("td[data-day='2026-03-02']")).to_have_text("不在岗")
    expect(row.locator("td[data-day='2026-03-03']")).to_have_text("在岗")
    expect(row.locator("td[data-day='2026-03-07']")).to_have_text("休息日")
    shoot(page, "i-03-org-roster")
    page.click("#next-week")
    expect(page.locator("h1")).to_contain_text("2026-03-09")

    # the screener's 交办 form at the county: the department is offered, marked away today
    processes.deploy(session, {"p.bpmn": DISPATCH.encode()}, SYSTEM)
    case = cases.start_case(session, "p", {}, actor("clerk"), "330106000")
    [task] = cases.open_tasks(session, case.id)
    session.commit()
    other = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    clerk = other.new_page()
    clerk.goto(f"{live_server}/login")
    clerk.fill("input[name=username]", "clerk")
    clerk.fill("input[name=password]", PASSWORD)
    clerk.click("form.stack button[type=submit]")
    clerk.wait_for_url(f"{live_server}/tasks/")
    clerk.goto(f"{live_server}/tasks/{task.id}")
    expect(clerk.locator("[data-field=unit]")).to_contain_text("区总工会 — 今日不在岗（轮驻：周二、周四）")
    shoot(clerk, "i-05-dispatch-away")
    other.close()


def test_a_renamed_role_shows_its_new_name(page, live_server, sign_in, shoot):
    sign_in(page, "admin")
    page.goto(f"{live_server}/admin/roles")
    row = page.locator("tr[data-role='mediator']")
    row.locator("input[name=name_zh]").fill("专职调解员")
    row.locator("button[type=submit]").click()
    expect(page.locator(".flash-ok")).to_have_text("已保存。")
    expect(page.locator("tr[data-role='mediator'] td").first).to_have_text("专职调解员")
    expect(page.locator(".lane-roles")).to_contain_text("专职调解员")  # the lane 调解员 → the renamed role
    shoot(page, "i-04-roles")
    page.goto(f"{live_server}/admin/users?role=mediator")
    expect(page.locator("table.users")).to_contain_text("专职调解员")
