"""The process modeler in Chromium (issue 19 §2–§3): an administrator opens dispute in the modeler, renames a task
through the properties panel, sees the check mark a broken condition on its flow and clear it when fixed, deploys
v2 with a change note, and /admin/processes/dispute shows v2 active with the note."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import serving
from tests.scenario.conftest import center  # noqa: F401 (the scenario center fixture, used by name)
from tests.support import PASSWORD

FLOW = "flow_gw_consent__guide_channels"  # 拒绝调解: mediation_consent == 'refused'


@pytest.fixture
def center_server(committed_db, center, app):  # noqa: F811
    with serving(app) as url:
        yield url


def _sign_in(page, url, username):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{url}/tasks/")


def test_an_admin_edits_checks_and_deploys_dispute_in_the_modeler(page, center_server, center, shoot):  # noqa: F811
    url = center_server
    _sign_in(page, url, "admin")
    page.goto(f"{url}/admin/processes/dispute")
    page.click("a:has-text('在建模器中编辑')")
    modeler = page.locator("#modeler")
    expect(modeler).to_have_attribute("data-state", "ready", timeout=20000)
    expect(page.locator("#lint-summary")).to_have_attribute("data-count", "0", timeout=20000)
    expect(page.locator("#properties")).to_contain_text("说明文档")  # the panel, in Chinese
    expect(page.locator("#save-state")).to_have_text("尚未修改")
    expect(page.locator("#deploy-form button[type=submit]")).to_be_disabled()
    shoot(page, "60-modeler-open")

    # rename 研判 through the properties panel
    page.click('[data-element-id="screen"]')
    name = page.locator("#bio-properties-panel-name")
    expect(name).to_have_value("研判")
    name.fill("研判（分级）")
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved", timeout=15000)
    expect(page.locator("#save-state")).to_contain_text("已保存")
    assert "?draft=" in page.url  # the first change made a draft, and the address names it
    expect(page.locator('.role-chips button[data-role="mediator"]')).to_be_enabled()
    # the diff against v1: only 研判, renamed (the modeler's own rewrite of the file changes nothing else)
    expect(page.locator("#diff-list li")).to_have_count(1, timeout=15000)
    expect(page.locator('#diff-list li[data-element="screen"]')).to_contain_text("修改 研判（分级）：名称")
    expect(page.locator('[data-element-id="screen"].jf-changed')).to_have_count(1)

    # break the condition of 拒绝调解: the check marks the flow and lists the problem; deploying is blocked
    page.click(f'[data-element-id="{FLOW}_label"]')
    condition = page.locator("#bio-properties-panel-conditionExpression")
    expect(condition).to_have_value("mediation_consent == 'refused'")
    condition.fill("mediation_consent == ")
    badge = page.locator(f'.djs-overlays[data-container-id="{FLOW}"] .jf-lint-badge')
    expect(badge).to_be_visible(timeout=15000)
    expect(page.locator(f'#problem-list li[data-element="{FLOW}"]')).to_contain_text("拒绝调解")
    expect(page.locator("#lint-summary")).not_to_have_attribute("data-count", "0")
    expect(page.locator("#deploy-form button[type=submit]")).to_be_disabled()
    expect(page.locator(f'#diff-list li[data-element="{FLOW}"]')).to_contain_text("条件", timeout=15000)
    page.wait_for_timeout(300)
    shoot(page, "61-modeler-problem")

    # a reload opens the same draft, with both changes saved
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved", timeout=15000)
    page.reload()
    expect(modeler).to_have_attribute("data-state", "ready", timeout=20000)
    expect(page.locator(f'.djs-overlays[data-container-id="{FLOW}"] .jf-lint-badge')).to_be_visible(timeout=15000)
    expect(page.locator('[data-element-id="screen"]')).to_contain_text("研判（分级）")

    # fix it: the mark goes and deploying is allowed
    page.click(f'[data-element-id="{FLOW}_label"]')
    page.locator("#bio-properties-panel-conditionExpression").fill("mediation_consent == 'refused'")
    expect(page.locator("#lint-summary")).to_have_attribute("data-count", "0", timeout=15000)
    expect(page.locator(".jf-lint-badge")).to_have_count(0)
    deploy = page.locator("#deploy-form button[type=submit]")
    expect(deploy).to_be_enabled(timeout=15000)
    page.fill("#deploy-note", "研判改名为研判（分级）")
    deploy.click()
    page.wait_for_url(f"{url}/admin/processes/dispute?deployed=2", timeout=20000)
    expect(page.locator("[data-deployed]")).to_contain_text("2")
    active = page.locator("tr.is-active")
    expect(active).to_have_attribute("data-version", "2")
    expect(active).to_contain_text("研判改名为研判（分级）")
    expect(page.locator("#my-drafts")).to_have_count(0)  # the deployed draft is gone
    shoot(page, "66-process-v2-deployed")
    page.goto(f"{url}/admin/processes")
    expect(page.locator('tr[data-process="dispute"] .active-version')).to_contain_text("v2")
    expect(page.locator("body")).to_contain_text("研判改名为研判（分级）")


def test_a_designer_starts_a_new_process_and_cannot_deploy_it(page, center_server, center, shoot):  # noqa: F811
    from engine.services import users
    users.create_user(center.session, "designer", PASSWORD, ["designer"])
    url = center_server
    _sign_in(page, url, "designer")
    page.goto(f"{url}/admin/processes")
    page.click("a:has-text('新建流程')")
    page.fill("#name", "邻里纠纷快速调解")
    page.fill("#process_id", "neighbour_dispute")
    shoot(page, "62-new-process")
    page.click("main form button[type=submit]")
    expect(page.locator("#modeler")).to_have_attribute("data-state", "ready", timeout=20000)
    assert "/admin/processes/neighbour_dispute/model?draft=" in page.url
    expect(page.locator('[data-element-id="register"]')).to_contain_text("受理登记")
    expect(page.locator("#lint-summary")).to_have_attribute("data-count", "0", timeout=15000)
    expect(page.locator("#deploy-form")).to_have_count(0)  # designers draw; administrators deploy
    expect(page.locator(".modeler-deploy")).to_contain_text("管理员")
    shoot(page, "63-modeler-new-process")
    page.click(".langs a:has-text('English')")  # the modeler and its panel in English
    expect(page.locator("#modeler")).to_have_attribute("data-state", "ready", timeout=20000)
    expect(page.locator("#properties")).to_contain_text("General")
    expect(page.locator("#save-state")).to_have_text("Draft opened")
    shoot(page, "65-modeler-english")
    page.goto(f"{url}/admin/processes")
    expect(page.locator("#my-drafts")).to_contain_text("邻里纠纷快速调解")
    shoot(page, "64-processes-with-drafts")


def test_the_diff_names_an_unnamed_flow_by_its_ends(page, center_server, center):  # noqa: F811
    """Issue 19: a changed sequence flow without a name is listed by its ends ("研判 → 有激化风险？"), not its id."""
    url = center_server
    _sign_in(page, url, "admin")
    page.goto(f"{url}/admin/processes/dispute/model")
    expect(page.locator("#modeler")).to_have_attribute("data-state", "ready", timeout=20000)
    box = page.locator('[data-element-id="flow_screen__gw_risk"] .djs-hit').bounding_box()  # a straight flow
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#properties")).to_contain_text("顺序流")
    page.click("#properties [data-group-id='group-documentation'] .bio-properties-panel-group-header")
    page.locator("#bio-properties-panel-documentation").fill("研判后判断有无激化风险")
    item = page.locator('#diff-list li[data-element="flow_screen__gw_risk"]')
    expect(item).to_contain_text("研判 → 有激化风险？：说明文档", timeout=15000)
    expect(item).not_to_contain_text("flow_screen__gw_risk")
