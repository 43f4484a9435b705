"""Issue 19 §4 in Chromium: an open v1 case, v2 deployed; the administrator previews the migration on the process
page, runs it, and the case is on v2 with its task's due date and its timers unchanged. Then the comparison of the
two versions (§3: any two versions, the change list and the marked diagram)."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from engine.models import CaseModel, TaskModel, TimerModel
from engine.services import processes
from engine.services.users import SYSTEM
from tests.support.cases import registered
from tests.unit.test_case_migration import V2


def _due_dates(session, case_id):
    session.expire_all()
    return ([(t.id, t.due_at) for t in session.scalars(select(TaskModel).where(TaskModel.case_id == case_id))],
            sorted((t.kind, t.ref, t.due_at) for t in session.scalars(select(TimerModel).where(
                TimerModel.case_id == case_id, TimerModel.fired_at.is_(None)))))


def test_admin_previews_and_migrates_an_open_case_to_v2(page, live_server, sign_in, shoot, session, actor):
    case = registered(session, actor("clerk"))
    before = _due_dates(session, case.id)
    processes.deploy(session, {"small_mediation.bpmn": V2.encode("utf-8")}, SYSTEM, "调解后增加复核")
    session.commit()

    sign_in(page, "admin")
    page.goto(f"{live_server}/admin/processes/small_mediation")
    expect(page.locator("#migrate-cases h2")).to_have_text("迁移在办案件")
    expect(page.locator("#migrate-from")).to_have_value("1")
    expect(page.locator("#migrate-to")).to_have_value("2")
    shoot(page, "h-01-process-page")
    page.click("#migrate-cases button[type=submit]")
    row = page.locator(f"#migration-table tr[data-case='{case.id}']")
    expect(row).to_have_attribute("data-movable", "yes")
    expect(row).to_contain_text(case.code)
    expect(row).to_contain_text("调解 → 调解（含复核）")
    expect(row).to_contain_text("可以迁移")
    expect(row.locator("input[name=case_id]")).to_be_checked()
    shoot(page, "h-02-migration-preview")

    page.fill("#migration-note", "调解后增加复核环节")
    page.click("#migration-run button[type=submit]")
    expect(page.locator("#migration-done")).to_have_attribute("data-migrated", "1")
    expect(page.locator(f"#migration-table tr[data-case='{case.id}']")).to_contain_text("已迁移")
    shoot(page, "h-03-migration-report")

    moved = session.get(CaseModel, case.id)
    session.refresh(moved)
    assert processes.version_number(session, moved.process_version_id) == 2
    assert _due_dates(session, case.id) == before  # the task's due date and every timer's moment unchanged

    page.goto(f"{live_server}/cases/{case.id}")
    expect(page.locator("li.event-case_migrated")).to_contain_text("由第 1 版迁至第 2 版")
    page.wait_for_selector("#diagram[data-state=ready]")  # drawn on v2 (leaving mid-download leaves a file open)

    page.goto(f"{live_server}/admin/processes/small_mediation")
    page.click("#compare-versions button[type=submit]")
    expect(page.locator("h2.diff-head")).to_have_text("第 2 版相对第 1 版的改动")
    expect(page.locator("#diff-list li[data-element='review']")).to_contain_text("新增")
    expect(page.locator("#compare-diagram")).to_have_attribute("data-state", "ready")
    expect(page.locator("#compare-diagram")).not_to_have_attribute("data-marked", "0")
    shoot(page, "h-04-compare-versions")


def test_designer_submits_a_draft_and_the_administrator_sees_it(page, browser, live_server, sign_in, shoot,
                                                                  session, actor, directory):
    from tests.support import PASSWORD

    directory.create_user(session, "designer1", PASSWORD, ["designer"], display_name="设计员甲")
    draft = processes.create_draft(session, actor("designer1"), process_id="small_mediation")
    processes.save_draft(session, draft.id, draft.xml.replace('name="调解"', 'name="联合调解"'), actor("designer1"))
    session.commit()

    sign_in(page, "designer1")
    page.goto(f"{live_server}/admin/processes/small_mediation")
    page.fill(f"#submit-note-{draft.id}", "调解改为联合调解")
    page.click(f"tr[data-draft='{draft.id}'] form.submit-draft button[type=submit]")
    expect(page.locator(f"tr[data-draft='{draft.id}'] td.hand-over")).to_contain_text("已提交审核")
    shoot(page, "h-05-draft-submitted")

    other = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="Asia/Shanghai")
    admin = other.new_page()
    admin.goto(f"{live_server}/login")
    admin.fill("input[name=username]", "admin")
    admin.fill("input[name=password]", PASSWORD)
    admin.click("form.stack button[type=submit]")
    admin.wait_for_url(f"{live_server}/tasks/")
    admin.goto(f"{live_server}/admin/processes")
    row = admin.locator(f"tr[data-submitted-draft='{draft.id}']")
    expect(row).to_contain_text("设计员甲")
    expect(row).to_contain_text("调解改为联合调解")
    shoot(admin, "h-06-submitted-drafts")
    row.locator("form.deploy-draft button[type=submit]").click()
    expect(admin.locator("[data-deployed]")).to_have_attribute("data-deployed", "2")
    other.close()
