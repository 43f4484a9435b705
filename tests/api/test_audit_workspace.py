"""The auditor's workspace: /audit (cases found as the ledger finds them, the records of every case searched and
exported), the API of the event search, the read log (查阅留痕) at /admin/access-log and its API, and the landing
page an auditor reaches after login."""
from __future__ import annotations

import csv
import io

import pytest

from engine.errors import Forbidden, InvalidData
from engine.services import audit
from tests.support.cases import registered
from tests.support.web import ui_login


def _browser(app, user, expect=302):
    client = app.test_client()
    ui_login(client, user, expect=expect)
    return client


def _spaced(code: str) -> str:
    """A case code as people type it: in groups, with full-width digits."""
    wide = code.translate({ord(d): ord(d) - ord("0") + ord("０") for d in "0123456789"})
    return " ".join(wide[i:i + 6] for i in range(0, len(wide), 6))


def test_an_auditor_lands_on_the_workspace_and_finds_a_case_by_a_spaced_full_width_code(app, session, actor):
    case = registered(session, actor("clerk"))
    other = registered(session, actor("clerk"))
    client = app.test_client()
    response = ui_login(client, "auditor", expect=302)
    assert response.headers["Location"].endswith("/audit")
    html = client.get("/audit", query_string={"q": _spaced(case.code)}).get_data(as_text=True)
    assert f'href="/audit/cases/{case.id}"' in html and other.code not in html
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert '<p class="crumbs"><a href="/audit">审计</a>' in page  # back to the workspace, not to 我的待办
    assert "审计" in html and "1 件" in html
    # staff land on their tasks as before, and may not open the workspace
    clerk = app.test_client()
    assert not ui_login(clerk, "clerk", expect=302).headers["Location"].endswith("/audit")
    assert clerk.get("/audit").status_code == 403


def test_the_event_search_filters_by_kind_actor_case_and_period_and_pages(app, session, actor, login):
    first = registered(session, actor("clerk"))
    second = registered(session, actor("clerk"))
    client = app.test_client()
    headers = login("auditor")
    body = client.get("/api/v1/audit/events", query_string={"kind": "case_started"}, headers=headers).get_json()
    assert {i["case_code"] for i in body["items"]} >= {first.code, second.code}
    assert {i["type"] for i in body["items"]} == {"case_started"} and body["more"] is False
    body = client.get("/api/v1/audit/events", query_string={"case": _spaced(first.code)}, headers=headers).get_json()
    assert {i["case_code"] for i in body["items"]} == {first.code} and body["total"] == first.event_seq
    assert [i["seq"] for i in body["items"]] == list(range(first.event_seq, 0, -1))  # newest first
    body = client.get("/api/v1/audit/events", query_string={"actor": "clerk", "case": first.code, "per_page": 2,
                                                             "page": 2}, headers=headers).get_json()
    assert body["page"] == 2 and len(body["items"]) <= 2 and all(i["actor"] == "clerk" for i in body["items"])
    assert body["total"] == sum(1 for e in audit.search_events(session, actor("auditor"), audit.EventFilter(
        actor="clerk", case=first.code), 1, 200).items)
    today = first.opened_at.date().isoformat()
    none = client.get("/api/v1/audit/events", query_string={"until": "2000-01-01"}, headers=headers).get_json()
    assert none["items"] == [] and none["total"] == 0
    bad = client.get("/api/v1/audit/events", query_string={"since": today, "until": "2000-01-01"}, headers=headers)
    assert bad.status_code == 422 and "until" in bad.get_json()["details"]
    assert client.get("/api/v1/audit/events", headers=login("clerk")).status_code == 403


def test_the_event_search_is_exported_as_csv_with_chinese_headers(app, session, actor, login):
    case = registered(session, actor("clerk"))
    response = _browser(app, "auditor").get("/audit/events.csv", query_string={"case": case.code})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["时间", "案件编号", "记录序号", "记录类型"]
    assert [r[2] for r in rows[1:]] == [str(n) for n in range(1, case.event_seq + 1)]  # oldest first
    assert rows[1][1] == case.code and rows[1][3] == "案件登记" and len(rows[1][7]) == 64
    api = app.test_client().get("/api/v1/audit/events.csv", query_string={"case": case.code},
                                headers=login("auditor"))
    assert api.status_code == 200 and api.get_data(as_text=True).count("\n") == case.event_seq + 1


def test_the_records_tab_lists_events_with_links_to_the_replay(app, session, actor):
    case = registered(session, actor("clerk"))
    html = _browser(app, "auditor").get("/audit", query_string={"tab": "events", "case": case.code,
                                                                 "kind": "task_completed"}).get_data(as_text=True)
    assert f'/audit/cases/{case.id}#record-' in html and "办理完成" in html and "案件登记</td>" not in html
    bad = _browser(app, "auditor").get("/audit", query_string={"tab": "events", "since": "yesterday"})
    assert bad.status_code == 422


@pytest.mark.committed_db  # a read's record is committed in a transaction of its own
def test_reads_are_listed_in_the_access_log_filtered_and_exported(app, session, actor, login):
    case = registered(session, actor("clerk"))
    other = registered(session, actor("clerk"))
    auditor = _browser(app, "auditor")
    assert auditor.get(f"/audit/cases/{case.id}").status_code == 200
    assert _browser(app, "admin").get(f"/cases/{other.id}").status_code == 200
    html = _browser(app, "admin").get("/admin/access-log", query_string={"case": case.code}).get_data(as_text=True)
    assert "查阅留痕" in html and case.code in html and other.code not in html and "核验与回放" in html
    html = _browser(app, "auditor").get("/admin/access-log", query_string={"user": "admin"}).get_data(as_text=True)
    assert other.code in html and 'data-what="audit"' not in html
    body = app.test_client().get("/api/v1/audit/access-log", query_string={"case": _spaced(case.code)},
                                 headers=login("admin")).get_json()
    assert [(i["username"], i["what"], i["basis"]) for i in body["items"]] == [("auditor", "audit", "auditor")]
    export = _browser(app, "admin").get("/admin/access-log/export.csv", query_string={"user": "auditor"})
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["时间", "查阅人", "查阅人账号", "案件编号", "查阅内容", "依据"]
    assert [r[3:] for r in rows[1:]] == [[case.code, "核验与回放", "审计员"]]
    assert _browser(app, "clerk").get("/admin/access-log").status_code == 403
    assert app.test_client().get("/api/v1/audit/access-log", headers=login("clerk")).status_code == 403
    bad = app.test_client().get("/api/v1/audit/access-log", query_string={"what": "everything"},
                                headers=login("admin"))
    assert bad.status_code == 422 and "what" in bad.get_json()["details"]


def test_the_service_refuses_staff_and_an_empty_case_code(session, actor):
    with pytest.raises(Forbidden):
        audit.search_events(session, actor("mediator1"))
    with pytest.raises(Forbidden):
        audit.list_reads(session, actor("clerk"))
    with pytest.raises(InvalidData):
        audit.search_events(session, actor("auditor"), audit.EventFilter(case=" - "))
    with pytest.raises(InvalidData):
        audit.search_events(session, actor("auditor"), per_page=500)
