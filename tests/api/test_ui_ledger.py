"""台账 in the staff UI: the page with its filters and rows, the header link, the 导出 download."""
from __future__ import annotations

import io

from tests.api.test_ledger import COUNTY, TOWNSHIP, ledger_cases  # noqa: F401 (the fixture)
from tests.support.web import ui_login


def test_director_sees_every_case_below_and_filters(client, ledger_cases):  # noqa: F811
    ui_login(client, "director", expect=302)
    html = client.get("/cases").get_data(as_text=True)
    assert 'href="/cases"' in html and "台账" in html  # the header link
    for _case_id, code in ledger_cases.values():
        assert f'data-case-code="{code}"' in html
    case_id, code = ledger_cases["B"]
    assert f'href="/cases/{case_id}"' in html  # a row leads to the case page
    assert "拖欠工资" in html and "北山街道综治中心" in html and "已办结" in html and "共 4 件" in html
    filtered = client.get("/cases", query_string={"org_unit": TOWNSHIP, "status": "closed"}).get_data(as_text=True)
    assert f'data-case-code="{code}"' in filtered and ledger_cases["D"][1] not in filtered
    assert 'id="ledger-export"' in filtered and "org_unit=330106001" in filtered and "status=closed" in filtered
    assert client.get(f"/cases/{case_id}").status_code == 200


def test_the_export_button_downloads_the_filtered_workbook(client, ledger_cases):  # noqa: F811
    from openpyxl import load_workbook

    ui_login(client, "director", expect=302)
    response = client.get("/cases/export", query_string={"format": "xlsx", "org_unit": COUNTY, "include_sub": "1",
                                                          "status": "open"})
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(response.get_data()), read_only=True).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("案件编号", "标题")
    assert {r[0] for r in rows[1:]} == {ledger_cases["A"][1], ledger_cases["C"][1]}


def test_staff_reach_their_unit_cases_without_the_header_link(client, ledger_cases):  # noqa: F811
    ui_login(client, "clerk", expect=302)
    html = client.get("/cases").get_data(as_text=True)
    assert 'href="/cases"' not in html.split("</nav>")[0]  # no 台账 link for staff
    assert ledger_cases["A"][1] in html and ledger_cases["B"][1] not in html


def test_a_bad_date_is_named(client, ledger_cases):  # noqa: F811
    ui_login(client, "director", expect=302)
    response = client.get("/cases", query_string={"opened_from": "yesterday"})
    assert response.status_code == 422 and "YYYY-MM-DD" in response.get_data(as_text=True)
