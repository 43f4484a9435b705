"""Issue 20 §3 in Chromium: the administrator opens 2027 (provisional), enters a (made-up) State Council notice,
previews how many deadlines it moves, confirms, and the pending 2027 deadline has moved, recorded on the case."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.clock import CHINA_TZ
from engine.models import CaseEventModel, TaskModel
from engine.services import cases, tasks
from tests.support import PASSWORD


@pytest.fixture
def due_14_january(session, directory, actor, clock):
    """A 调解 task opened on Thursday 7 January 2027, due in 5 working days: Thursday 14 January while 2027 is
    provisional."""
    clock.set(datetime(2027, 1, 7, 10, 0, tzinfo=CHINA_TZ))
    directory.create_user(session, "tclerk", PASSWORD, ["intake_clerk"], ["330106001"], "北山受理员")
    case = cases.start_case(session, "small_mediation", {}, actor("tclerk"), "330106001")
    intake = cases.open_tasks(session, case.id)[0]
    case = tasks.complete_task(session, intake.id, {"channel": "phone", "party_name": "钱七", "party_phone": "13700002222",
                                                    "amount": 8000, "handling_dept": "mediator"}, actor("tclerk"))
    [mediate] = cases.open_tasks(session, case.id)
    assert mediate.due_at.astimezone(CHINA_TZ).date().isoformat() == "2027-01-14"
    session.commit()
    return case, mediate


def test_admin_enters_2027s_notice_previews_the_count_and_confirms(page, live_server, sign_in, shoot, session,
                                                                   due_14_january):
    case, mediate = due_14_january
    sign_in(page, "admin")
    page.goto(f"{live_server}/admin/calendar")
    expect(page.locator("h1")).to_have_text("节假日日历年度")
    row = page.locator("table.calendar-years tr", has_text="2027")
    expect(row).to_contain_text("暂定")
    shoot(page, "f-01-calendar-years")
    row.locator("a").click()
    expect(page.locator("h1")).to_contain_text("2027年日历")
    expect(page.locator("#days-holidays")).to_contain_text("推算的法定节假日")

    page.fill("#notice-holidays", "2027-01-01\n2027-01-14, 2027-01-15\n2027-02-05，2027-02-06\n2027-02-07\n2027-02-08")
    page.fill("#notice-workdays", "2027-02-20")
    page.click("#calendar-check")
    preview = page.locator("#calendar-preview")
    expect(preview).to_contain_text(re.compile(r"保存后将调整 1 件案件中的 \d+ 个期限"))
    shoot(page, "f-02-calendar-preview")
    assert session.scalar(select(TaskModel.due_at).where(TaskModel.id == mediate.id)).astimezone(
        CHINA_TZ).date().isoformat() == "2027-01-14"  # a preview saves nothing

    page.click("#calendar-save")
    expect(page.locator(".flash-ok")).to_contain_text("2027年日历已保存")
    expect(page.locator("h1")).to_contain_text("已确认")
    expect(page.locator("#days-holidays")).to_contain_text("录入的放假通知")
    shoot(page, "f-03-calendar-saved")
    session.expire_all()
    assert session.scalar(select(TaskModel.due_at).where(TaskModel.id == mediate.id)).astimezone(
        CHINA_TZ).date().isoformat() == "2027-01-18"
    types = session.scalars(select(CaseEventModel.type).where(CaseEventModel.case_id == case.id)
                            .order_by(CaseEventModel.id)).all()
    assert types[-1] == "deadlines_recomputed"

    # the admin log names the act and the days, old -> new
    page.goto(f"{live_server}/admin/log")
    entry = page.locator("table.admin-log tbody tr", has_text="录入节假日安排")
    expect(entry).to_contain_text("2027-01-14")
    expect(entry).to_contain_text("调休上班日")
    shoot(page, "f-05-admin-log")
    page.goto(f"{live_server}/admin/calendar/2027")

    # a bad date: the error names it, nothing saved
    page.fill("#notice-workdays", "2026-02-20")
    page.click("#calendar-check")
    expect(page.locator("#calendar-error")).to_contain_text("2026-02-20")
    shoot(page, "f-04-calendar-error")
