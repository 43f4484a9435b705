"""The 催办 task in Chromium (issue 17 §2): the unit head opens it from their list, reads what is late, since when
and who holds it, records 已督促 with a note, and the case page's history says so in Chinese."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import serving
from tests.scenario.conftest import center, china  # noqa: F401 (the scenario center fixture, used by name)
from tests.scenario.test_ladder_supervision import _late_screen
from tests.support import PASSWORD


@pytest.fixture
def center_server(committed_db, center, app):  # noqa: F811
    with serving(app) as url:
        yield url


def test_the_unit_head_records_a_reminder(page, center_server, center, session, shoot):  # noqa: F811
    c = center
    case, _ = _late_screen(c, session)
    c.drain(china("2026-03-04", 0, 0, 1))  # 催办
    c.set_time(china("2026-03-04", 9))
    c.session.commit()
    page.goto(f"{center_server}/login")
    page.fill("input[name=username]", "unit_head")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.click("a:has-text('催办：研判')")
    expect(page.locator("h2#sheet-title")).to_have_text("催办事项")
    body = page.locator("body")
    for text in ("研判", "2026-03-03 24:00", "李研判（西湖区综治中心", "催办（第2级", "督促情况说明"):
        expect(body).to_contain_text(text)
    expect(body).not_to_contain_text("sv_")
    shoot(page, "50-task-reminder")
    if page.locator("button:has-text('认领')").count():
        page.click("button:has-text('认领')")
    page.check("input[name=urge_action][value=urged]")
    page.fill("[name=urge_note]", "已电话督促李研判今日完成研判")
    page.click("main form button[type=submit]:has-text('提交办理')")
    page.goto(f"{center_server}/cases/{case['id']}")
    expect(body).to_contain_text("催办：已督促承办人")
    expect(body).to_contain_text("已电话督促李研判今日完成研判")
    shoot(page, "51-case-reminder-recorded")
