"""统计看板 in Chromium: the director opens the dashboard from the header, the charts are drawn from the
statistics API, a bar leads to the filtered ledger, a tile leads to the ledger of what it counts."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.api.test_ledger import TOWNSHIP, ledger_cases  # noqa: F401 (the fixture)


def _bar_point(page, chart_id: str, series: int, index: int) -> tuple[float, float]:
    """Where on the page the middle of a bar is (ECharts converts data to pixels)."""
    x, y = page.evaluate("""([id, series, index]) => {
        const c = echarts.getInstanceByDom(document.getElementById(id));
        const bar = c.getModel().getSeriesByIndex(series).getData().getItemLayout(index);  // {x, y, width, height}
        return [bar.x + bar.width / 2, bar.y + bar.height / 2];
    }""", [chart_id, series, index])
    box = page.locator(f"#{chart_id}").bounding_box()
    return box["x"] + x, box["y"] + y


def test_director_reads_the_dashboard_and_clicks_through_to_the_ledger(page, live_server, ledger_cases, sign_in,  # noqa: F811
                                                                      shoot):
    page.goto(live_server)
    sign_in(page, "director")
    page.click("nav.mainnav >> text=统计看板")
    expect(page.locator("h1")).to_have_text("统计看板")
    received = page.locator('#kpis a[data-figure="received"] .kpi-value')
    expect(received).to_have_text("4")  # the four cases of the fixture, the county and below
    expect(page.locator('#kpis a[data-figure="resolved"] .kpi-value')).to_have_text("1")
    for chart in ("chart-trend", "chart-units", "chart-categories", "chart-overdue"):
        expect(page.locator(f"#{chart} canvas")).to_have_count(1)
    expect(page.locator("#ranking tbody tr").first).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-loading", "0")  # every figure drawn
    shoot(page, "dashboard-director")
    labels = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-units')).getOption().xAxis[0].data")
    township = next(i for i, name in enumerate(labels) if "北山街道" in name)
    x, y = _bar_point(page, "chart-units", 0, township)
    page.mouse.click(x, y)
    page.wait_for_url(f"**/cases?*org_unit={TOWNSHIP}*")
    assert "include_sub=1" in page.url and "opened_from=" in page.url
    expect(page.locator("h1")).to_have_text("台账")
    expect(page.locator("table.ledger tbody tr")).to_have_count(3)  # the township's case and its village's two
    page.go_back()
    page.click('#kpis a[data-figure="resolved"]')
    page.wait_for_url("**/cases?*outcome=resolved*")
    expect(page.locator("table.ledger tbody tr")).to_have_count(1)
