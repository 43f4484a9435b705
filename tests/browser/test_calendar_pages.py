"""A party's window in a provisional year, in Chromium (issue 17 §3): the supervisor reads on the case page that
it waits for confirmation, opens the 确认期间届满 task, confirms it, and the case page says so."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import serving
from tests.scenario.conftest import center, china  # noqa: F401 (the scenario center fixture, used by name)
from tests.scenario.test_calendar_notice import _window_in_2027
from tests.support import PASSWORD


@pytest.fixture
def center_server(committed_db, center, app):  # noqa: F811
    """The app on a free port over the scenario center (committed: the server thread reads what the test wrote)."""
    with serving(app) as url:
        yield url


def test_the_supervisor_confirms_a_held_party_window(page, center_server, center, shoot):  # noqa: F811
    c = center
    cid = _window_in_2027(c)
    c.drain(china("2027-01-22", 9))
    c.session.commit()
    page.goto(f"{center_server}/login")
    page.fill("input[name=username]", "supervisor")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.goto(f"{center_server}/cases/{cid}")
    expect(page.locator("body")).to_contain_text("期间届满待确认")
    expect(page.locator("body")).to_contain_text("2027年国务院放假安排尚未公布")
    shoot(page, "40-case-expiry-held")
    page.click("a:has-text('确认期间届满：复查申请期届满')")
    expect(page.locator("body")).to_contain_text("推算的届满时间")
    expect(page.locator("body")).to_contain_text("2027-01-21 24:00")
    shoot(page, "41-task-expiry-confirmation")
    if page.locator("button:has-text('认领')").count():
        page.click("button:has-text('认领')")
    page.check("input[name=ex_confirm][value=true]")
    page.fill("[name=ex_note]", "已核对：2027年放假安排尚未公布，按推算日期届满")
    page.click("main form button[type=submit]:has-text('提交办理')")
    page.goto(f"{center_server}/cases/{cid}")
    expect(page.locator("body")).to_contain_text("期间届满已确认")
    shoot(page, "42-case-expiry-confirmed")
