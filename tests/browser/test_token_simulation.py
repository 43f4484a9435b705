"""The modeler's 模拟运行 in Chromium (issue 19 §2): a designer toggles the token simulation on a new process's
draft, starts a token on the start event, watches it move along the flows to the end (the log in Chinese), and
leaves the simulation to edit again; nothing is saved by simulating."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import serving
from tests.browser.test_modeler import _sign_in
from tests.scenario.conftest import center  # noqa: F401 (the scenario center fixture, used by name)
from tests.support import PASSWORD


@pytest.fixture
def center_server(committed_db, center, app):  # noqa: F811
    with serving(app) as url:
        yield url


def _token_position(page):
    return page.evaluate("""() => { const t = document.querySelector('#canvas .bts-token');
                                    return t ? t.getAttribute('transform') : null; }""")


def test_a_designer_walks_a_token_through_a_draft(page, center_server, center, shoot):  # noqa: F811
    from engine.services import users
    users.create_user(center.session, "designer", PASSWORD, ["designer"])
    url = center_server
    _sign_in(page, url, "designer")
    page.goto(f"{url}/admin/processes/new")
    page.fill("#name", "邻里纠纷快速调解")
    page.fill("#process_id", "neighbour_dispute")
    page.click("main form button[type=submit]")
    modeler = page.locator("#modeler")
    expect(modeler).to_have_attribute("data-state", "ready", timeout=20000)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")

    toggle = page.locator("#simulate")
    expect(toggle).to_have_text("模拟运行")
    expect(toggle).to_be_enabled()
    expect(page.locator(".bts-toggle-mode")).to_be_hidden()  # the package's English toggle gives way to ours
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(modeler).to_have_attribute("data-simulating", "true")
    expect(page.locator("#simulation-note")).to_be_visible()
    expect(page.locator(".djs-palette")).to_be_hidden()  # no editing while simulating
    # the simulation's own controls speak Chinese
    expect(page.locator(".bts-palette [title='重置模拟']")).to_have_count(1)
    expect(page.locator(".bts-palette [title='显示/隐藏模拟日志']")).to_have_count(1)

    # start a token on 来件 and see it move along the flows
    page.click('.djs-overlays[data-container-id="start"] .bts-context-pad[title="触发事件（放出令牌）"]')
    expect(page.locator("#canvas .bts-token")).to_have_count(1, timeout=5000)
    first = _token_position(page)
    page.wait_for_timeout(400)
    second = _token_position(page)
    assert first and second and first != second, (first, second)  # the token moved
    shoot(page, "67-modeler-simulation")
    page.click(".bts-palette [title='显示/隐藏模拟日志']")
    log = page.locator(".bts-log")
    expect(log).to_contain_text("模拟日志")
    expect(log).to_contain_text("流程开始")
    expect(log).to_contain_text("受理登记")
    expect(log).to_contain_text("流程结束", timeout=20000)  # it went on through 调解处理 to 结案

    # leave the simulation: editing again, and simulating saved nothing
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".djs-palette")).to_be_visible()
    expect(page.locator("#simulation-note")).to_be_hidden()
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")


def test_the_simulation_speaks_english_on_the_english_page(page, center_server, center):  # noqa: F811
    url = center_server
    _sign_in(page, url, "admin")
    page.click(".langs a:has-text('English')")
    page.goto(f"{url}/admin/processes/dispute/model")
    expect(page.locator("#modeler")).to_have_attribute("data-state", "ready", timeout=20000)
    page.click("#simulate")
    expect(page.locator(".bts-palette [title='Reset Simulation']")).to_have_count(1)
    expect(page.locator("#simulation-note")).to_contain_text("Simulation")
