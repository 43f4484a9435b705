"""台账 in Chromium: the director opens the ledger from the header, filters it, and exports it as XLSX."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.api.test_ledger import ledger_cases  # noqa: F401 (the fixture)


def test_director_filters_and_exports_the_ledger(page, live_server, ledger_cases, sign_in, shoot, clock):  # noqa: F811
    page.goto(live_server)
    sign_in(page, "director")
    page.click("nav.mainnav >> text=台账")
    expect(page.locator("h1")).to_have_text("台账")
    expect(page.locator("table.ledger tbody tr")).to_have_count(4)
    shoot(page, "ledger-director")
    page.select_option("select[name=outcome]", label="化解")  # the outcome class, by its Chinese name
    page.click("form.ledger-filters button[type=submit]")
    expect(page.locator("table.ledger tbody tr")).to_have_count(1)
    expect(page.locator("table.ledger tbody tr")).to_have_attribute("data-case-code", ledger_cases["B"][1])
    expect(page.locator("table.ledger tbody tr td").last).to_contain_text("已办结 · 化解")
    shoot(page, "ledger-outcome")
    page.select_option("select[name=outcome]", "")
    page.select_option("select[name=status]", "closed")
    page.check("input[name=high_risk]")
    page.click("form.ledger-filters button[type=submit]")
    expect(page.locator("table.ledger tbody tr")).to_have_count(1)
    expect(page.locator("table.ledger tbody tr")).to_have_attribute("data-case-code", ledger_cases["D"][1])
    with page.expect_download() as info:
        page.click("#ledger-export")
    assert info.value.suggested_filename.endswith(".xlsx")
    workbook = load_workbook(io.BytesIO(info.value.path().read_bytes()), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][0] == "案件编号" and [r[0] for r in rows[1:]] == [ledger_cases["D"][1]]
    page.click(f"table.ledger a.code >> text={ledger_cases['D'][1]}")  # on to the case page
    expect(page.locator("h1.case-title")).to_contain_text(ledger_cases["D"][1])
