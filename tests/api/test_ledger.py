"""The case ledger (台账) through the API: who sees which cases, every filter, the search's tolerance, paging and
totals, and the CSV / XLSX export (Chinese headers, streamed)."""
from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from engine.models import CaseModel
from engine.services import cases, ledger, tasks
from tests.conftest import FIXTURES, START
from tests.support import PASSWORD

COUNTY, TOWNSHIP, VILLAGE = "330106000", "330106001", "330106001001"


@pytest.fixture
def ledger_cases(session, directory, actor, clock):
    """Four cases of ledger_case: A at the county (open), B at the township (closed, 化解), C at the village (open,
    群体性: 12 people), D at the village (closed, 未化解, high_risk), opened a day apart."""
    from engine.services import processes, users
    from engine.services.users import SYSTEM

    processes.deploy(session, {"ledger_case.bpmn": (FIXTURES / "engine" / "ledger_case.bpmn").read_bytes()}, SYSTEM)
    users.ensure_roles(session, {"director": "中心主任"})
    session.commit()
    users.create_user(session, "tclerk", PASSWORD, ["intake_clerk"], [TOWNSHIP])
    users.create_user(session, "vclerk", PASSWORD, ["intake_clerk"], [VILLAGE])
    users.create_user(session, "tsuper", PASSWORD, ["supervisor"], [TOWNSHIP])
    users.create_user(session, "director", PASSWORD, ["director"], [COUNTY])

    def open_case(who, unit, data, result=None):
        case = cases.start_case(session, "ledger_case", data, actor(who), unit)
        if result:
            task = cases.open_tasks(session, case.id)[0]
            tasks.complete_task(session, task.id, {"result": result}, actor(who))
        clock.advance(days=1)
        return session.get(CaseModel, case.id)

    made = {
        "A": open_case("clerk", COUNTY, {"title": "楼上漏水", "category": "neighbour", "channel": "walk_in",
                                         "tier": "simple", "party_name": "张三", "party_phone": "138 0000 1234"}),
        "B": open_case("tclerk", TOWNSHIP, {"title": "拖欠工资", "category": "labour", "channel": "phone",
                                            "tier": "complex", "party_name": "李四", "party_phone": "13900005678"},
                       "agreed"),
        "C": open_case("vclerk", VILLAGE, {"title": "土地边界", "category": "neighbour", "channel": "walk_in",
                                           "party_name": "王五", "party_phone": "13700009999", "people_involved": 12}),
        "D": open_case("vclerk", VILLAGE, {"title": "噪音扰民", "category": "neighbour", "channel": "walk_in",
                                           "party_name": "赵六", "high_risk": True}, "failed"),
    }
    return {key: (case.id, case.code) for key, case in made.items()}


@pytest.fixture
def as_user(login):
    return login


def codes(client, headers, **params):
    response = client.get("/api/v1/cases", headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return {item["code"] for item in response.get_json()["items"]}


def keys(ledger_cases, *names):
    return {ledger_cases[n][1] for n in names}


@pytest.mark.parametrize("user, seen", [("clerk", "A"), ("tclerk", "B"), ("vclerk", "CD"), ("tsuper", "BCD"),
                                        ("director", "ABCD"), ("auditor", "ABCD"), ("admin", "ABCD"), ("labour", ""),
                                        ("mediator1", "")])
def test_each_user_sees_exactly_the_cases_they_may_read(client, ledger_cases, as_user, user, seen):
    headers = as_user(user)
    assert codes(client, headers) == keys(ledger_cases, *seen)
    for key, (case_id, _code) in ledger_cases.items():  # the same rule as the case page (engine/access.py)
        status = client.get(f"/api/v1/cases/{case_id}", headers=headers).status_code
        assert status == (200 if key in seen else 403), (user, key, status)


def test_filters(client, ledger_cases, as_user, clock):
    h = as_user("director")
    assert codes(client, h, process_id="ledger_case") == keys(ledger_cases, *"ABCD")
    assert codes(client, h, process_id="small_mediation") == set()
    assert codes(client, h, status="open") == keys(ledger_cases, "A", "C")
    assert codes(client, h, status="closed") == keys(ledger_cases, "B", "D")
    assert codes(client, h, outcome="化解") == keys(ledger_cases, "B")
    assert codes(client, h, outcome="未化解") == keys(ledger_cases, "D")
    assert codes(client, h, outcome="resolved") == keys(ledger_cases, "B")  # the class, not the outcome's text
    assert codes(client, h, outcome="withdrawn") == set()
    bad = client.get("/api/v1/cases", headers=h, query_string={"outcome": "达成协议"})
    assert bad.status_code == 422 and "outcome" in str(bad.get_json())
    assert codes(client, h, category="labour") == keys(ledger_cases, "B")
    assert codes(client, h, channel="walk_in") == keys(ledger_cases, "A", "C", "D")
    assert codes(client, h, tier="complex") == keys(ledger_cases, "B")
    assert codes(client, h, org_unit=TOWNSHIP) == keys(ledger_cases, "B")
    assert codes(client, h, org_unit=TOWNSHIP, include_sub=1) == keys(ledger_cases, "B", "C", "D")
    assert codes(client, h, org_unit=COUNTY, include_sub=1) == keys(ledger_cases, *"ABCD")
    day = START.date()
    assert codes(client, h, opened_from=str(day + timedelta(days=2))) == keys(ledger_cases, "C", "D")
    assert codes(client, h, opened_to=str(day + timedelta(days=1))) == keys(ledger_cases, "A", "B")
    assert codes(client, h, opened_from=str(day + timedelta(days=1)),
                 opened_to=str(day + timedelta(days=1))) == keys(ledger_cases, "B")
    assert codes(client, h, closed_from=str(day + timedelta(days=3))) == keys(ledger_cases, "D")
    assert codes(client, h, closed_to=str(day + timedelta(days=2))) == keys(ledger_cases, "B")
    assert codes(client, h, high_risk=1) == keys(ledger_cases, "C", "D")
    assert codes(client, h, overdue=1) == set()
    clock.advance(days=14)  # past the 5 working days of 办理
    assert codes(client, h, overdue=1) == keys(ledger_cases, "A", "C")
    assert codes(client, h, overdue=1, org_unit=TOWNSHIP, include_sub=1) == keys(ledger_cases, "C")
    # a supervisor's filters stay within what they may read
    assert codes(client, as_user("tsuper"), org_unit=COUNTY) == set()


def test_rows_say_step_due_lateness_and_level(client, ledger_cases, as_user, clock):
    clock.advance(days=14)
    h = as_user("director")
    items = client.get("/api/v1/cases", headers=h, query_string={"sort": "due"}).get_json()["items"]
    # 群体性 / 高风险 first in every order (C, then D: closed, no due date), then the earliest due
    assert [i["code"] for i in items][:3] == [ledger_cases[k][1] for k in "CDA"]
    a = items[2]
    assert a["title"] == "楼上漏水" and a["steps"] == ["办理"] and a["org_unit"]["code"] == COUNTY
    assert a["days_left"] < 0 and a["due_at"] and a["status"] == "open" and a["category"] == "neighbour"
    b = next(i for i in items if i["code"] == ledger_cases["B"][1])
    assert b["steps"] == [] and b["due_at"] is None and b["days_left"] is None and b["outcome"] == "化解"
    assert b["outcome_class"] == "resolved" and b["outcome_class_name"] == "化解"


@pytest.mark.parametrize("typed", ["{code}", "{spaced}", "{wide}", "{lower}"])
def test_q_finds_a_code_however_typed(client, ledger_cases, as_user, typed):
    code = ledger_cases["C"][1]
    spaced = " ".join(code[i:i + 4] for i in range(0, len(code), 4))
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in code)
    q = typed.format(code=code, spaced=spaced, wide=wide, lower=code.lower())
    assert codes(client, as_user("director"), q=q) == {code}


def test_q_trailing_x_is_the_check_character():
    assert ledger.normalise_query("11010 51990 0101 123x") == "110105199001011 23X".replace(" ", "")
    assert ledger.normalise_query("１２３４") == "1234"


def test_q_finds_party_phone_tail_and_title(client, ledger_cases, as_user):
    h = as_user("director")
    assert codes(client, h, q="1234") == keys(ledger_cases, "A")  # stored as "138 0000 1234"
    assert codes(client, h, q="１２３４") == keys(ledger_cases, "A")
    assert codes(client, h, q="5678") == keys(ledger_cases, "B")
    assert codes(client, h, q="王五") == keys(ledger_cases, "C")
    assert codes(client, h, q="拖欠") == keys(ledger_cases, "B")
    assert codes(client, h, q=ledger_cases["D"][1][:8]) >= keys(ledger_cases, "D")  # part of a code
    assert codes(client, h, q="100%") == set()  # LIKE wildcards are text
    assert codes(client, as_user("clerk"), q="王五") == set()  # search stays within what one may read


def test_paging_and_totals(client, ledger_cases, as_user, monkeypatch):
    h = as_user("director")
    body = client.get("/api/v1/cases", headers=h, query_string={"per_page": 1, "sort": "opened"}).get_json()
    # C and D (高风险) first, then A and B, each part in opening order
    assert body["total"] == 4 and not body["total_capped"] and body["items"][0]["code"] == ledger_cases["C"][1]
    body = client.get("/api/v1/cases", headers=h, query_string={"per_page": 3, "page": 2, "sort": "opened"}).get_json()
    assert body["total"] == 4 and [i["code"] for i in body["items"]] == [ledger_cases["B"][1]]
    monkeypatch.setattr(ledger, "COUNT_CAP", 2)
    body = client.get("/api/v1/cases", headers=h, query_string={"per_page": 1}).get_json()
    assert body["total"] == 2 and body["total_capped"] is True


@pytest.mark.parametrize("walk", [(3, 50), (1, 1)])  # the walk as configured; one row at first, re-read 4x
def test_overdue_by_due_walk_pages_like_the_sorted_query(session, ledger_cases, actor, clock, monkeypatch, walk):
    """The overdue-by-due page walks the tasks' due index (case_list.overdue_page); its pages are those of the
    generic sorted query, cases tied on their due moment ordered by id, across page boundaries."""
    from engine import case_list

    monkeypatch.setattr(case_list, "_WALK_FACTOR", walk[0])
    monkeypatch.setattr(case_list, "_WALK_MIN", walk[1])
    for n in range(9):  # three cases at each moment: their due dates tie
        cases.start_case(session, "ledger_case", {"title": f"案件{n}", "category": "neighbour"},
                         actor("vclerk"), VILLAGE)
        if n % 3 == 2:
            clock.advance(hours=5)
    clock.advance(days=30)
    now = clock.now()
    director = actor("director")
    for filters in (ledger.LedgerFilters(overdue=True, sort="due"),
                    ledger.LedgerFilters(overdue=True, sort="due", org_unit=TOWNSHIP, include_sub=True,
                                         status="open"),
                    ledger.LedgerFilters(overdue=True, sort="due", category="neighbour", org_unit=VILLAGE)):
        assert case_list.walks_due_index(filters)
        # the ledger's order: 群体性 / 高风险 first (C), then the rest, each part by the sorted query
        expected = [case_id for priority in (1, 0)
                    for case_id in session.scalars(case_list.build(session, director, filters, now, priority=priority))]
        assert len(expected) >= 9
        rest = list(session.scalars(case_list.build(session, director, filters, now, priority=0)))
        for per_page in (1, 2, 4, 50):
            paged = []
            for page in range(1, len(expected) // per_page + 2):
                got = ledger.list_cases(session, director, filters, page=page, per_page=per_page, now=now)
                assert got.total == len(expected)
                paged += [row.case.id for row in got.rows]
                # the walk alone pages the unflagged part as the sorted query does
                assert case_list.overdue_page(session, director, filters, now, (page - 1) * per_page, per_page,
                                              priority=0) == rest[(page - 1) * per_page:page * per_page]
            assert paged == expected, (filters, per_page)
    # counted up to the cap like the other lists: more overdue cases than the cap say so
    monkeypatch.setattr(ledger, "COUNT_CAP", 5)
    capped = ledger.list_cases(session, director, ledger.LedgerFilters(overdue=True, sort="due"), per_page=2, now=now)
    assert (capped.total, capped.more) == (5, True)
    assert case_list.overdue_count(session, director, ledger.LedgerFilters(overdue=True, sort="due"), now, 50) == \
        len(list(session.scalars(case_list.build(session, director, ledger.LedgerFilters(overdue=True, sort="due"),
                                                 now))))
    # what a township supervisor may read bounds the walk as it bounds the list
    only_b_c_d = ledger.list_cases(session, actor("tsuper"), ledger.LedgerFilters(overdue=True, sort="due"), now=now)
    assert {row.case.org_unit.code for row in only_b_c_d.rows} == {VILLAGE}


def test_bad_filters_are_named(client, ledger_cases, as_user):
    h = as_user("director")
    for params, field in (({"status": "done"}, "status"), ({"sort": "name"}, "sort"),
                          ({"opened_from": "2026-13-01"}, "opened_from"), ({"per_page": 500}, "per_page"),
                          ({"color": "red"}, "color")):
        response = client.get("/api/v1/cases", headers=h, query_string=params)
        assert response.status_code == 422 and field in str(response.get_json()), (params, response.get_json())
    response = client.get("/api/v1/cases", headers=h, query_string={"org_unit": "999"})
    assert response.status_code == 422 and "999" in response.get_json()["message"]
    assert client.get("/api/v1/cases").status_code == 401


def _csv(response) -> list[list[str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_export_has_chinese_headers_and_the_filtered_rows(client, ledger_cases, as_user):
    response = client.get("/api/v1/cases/export", headers=as_user("director"),
                          query_string={"format": "csv", "status": "closed", "sort": "opened"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv(response)
    assert rows[0][:3] == ["案件编号", "标题", "当事人"] and "承办单位" in rows[0] and "预警等级" in rows[0]
    assert [r[0] for r in rows[1:]] == [ledger_cases["D"][1], ledger_cases["B"][1]]  # 高风险 D first
    b = dict(zip(rows[0], rows[2]))
    assert b["标题"] == "拖欠工资" and b["纠纷类别"] == "劳动争议" and b["状态"] == "已办结" and b["办理结果"] == "化解" and b["结果类别"] == "化解"
    assert b["承办单位"] == "北山街道综治中心"
    clerk = _csv(client.get("/api/v1/cases/export", headers=as_user("clerk"), query_string={"format": "csv"}))
    assert [r[0] for r in clerk[1:]] == [ledger_cases["A"][1]]


def test_xlsx_export_opens_with_openpyxl(client, ledger_cases, as_user):
    from openpyxl import load_workbook

    response = client.get("/api/v1/cases/export", headers=as_user("director"), query_string={"format": "xlsx",
                                                                                               "high_risk": 1})
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "案件编号" and {r[0] for r in rows[1:]} == keys(ledger_cases, "C", "D")


def test_export_refuses_bad_filters_before_any_byte(client, ledger_cases, as_user):
    response = client.get("/api/v1/cases/export", headers=as_user("director"), query_string={"format": "pdf"})
    assert response.status_code == 422 and "format" in str(response.get_json())


def test_a_large_export_streams_in_bounded_memory(session, ledger_cases, actor):
    """5,000 cases exported: rows are read in chunks as the CSV is written, never all at once."""
    from webui.ledger import export

    a = session.get(CaseModel, ledger_cases["A"][0])
    columns = {c.key: getattr(a, c.key) for c in CaseModel.__table__.c if c.key not in ("id", "code")}
    columns["workflow_json"] = session.scalar(select(CaseModel.workflow_json).where(CaseModel.id == a.id))
    session.execute(insert(CaseModel.__table__), [dict(columns, code=f"LEDGER{i:08d}", data=dict(
        a.data, summary="某小区业主与物业因停车位收费发生争议，涉及多户，要求调解。" * 3)) for i in range(5000)])
    session.commit()
    director = actor("director")
    labels = {"category": {}, "channel": {}, "tier": {}}

    def export_all(limit=None):
        tracemalloc.start()
        lines = 0
        for chunk in export.csv_chunks(ledger.export_rows(session, director, ledger.LedgerFilters()), START, labels):
            lines += chunk.count("\n")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return lines, peak

    lines, peak = export_all()
    assert lines == 1 + 5004
    # everything at once (the rows of every case in memory) takes several times this
    tracemalloc.start()
    held = list(ledger.export_rows(session, director, ledger.LedgerFilters()))
    whole = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(held) == 5004
    assert peak < whole / 3, (peak, whole)


def test_newest_first_pages_read_the_flagged_cases_only_up_to_the_page(session, ledger_cases, actor, clock):
    """Flagged (群体性 / 高风险) cases first, then the rest, newest first in each part — across page boundaries
    where the flagged part ends mid-page; the flagged part is read up to the page's end, not whole."""
    from engine import case_list

    for n in range(5):
        cases.start_case(session, "ledger_case", {"title": f"新案件{n}", "category": "neighbour"},
                         actor("vclerk"), VILLAGE)
        clock.advance(hours=1)
    now = clock.now()
    director = actor("director")
    filters = ledger.LedgerFilters()
    assert not case_list.walks_due_index(filters)
    expected = [case_id for priority in (1, 0)
                for case_id in session.scalars(case_list.build(session, director, filters, now, priority=priority))]
    flagged = list(session.scalars(case_list.build(session, director, filters, now, priority=1)))
    assert flagged and len(expected) > len(flagged) + 2
    for per_page in (1, 2, 3, 50):
        paged = []
        for page in range(1, len(expected) // per_page + 2):
            got = ledger.list_cases(session, director, filters, page=page, per_page=per_page, now=now)
            assert got.total == len(expected)
            paged += [row.case.id for row in got.rows]
        assert paged == expected, per_page


def test_the_flagged_part_and_the_high_risk_filter_read_the_flagged_cases_index(session, ledger_cases, actor, clock):
    """Among many plain cases the few 群体性 / 高风险 ones are read from the partial index ix_cases_flagged: the
    newest-first page's flagged part and high_risk=1 walked every case (its data, for the JSON test) before."""
    from sqlalchemy import text

    from engine import case_list

    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's plan (it takes a partial index only for its predicate as written)")
    a = session.get(CaseModel, ledger_cases["A"][0])
    assert a.priority == 0
    columns = {c.key: getattr(a, c.key) for c in CaseModel.__table__.c if c.key not in ("id", "code")}
    session.execute(insert(CaseModel.__table__), [dict(columns, code=f"PLAIN{i:08d}") for i in range(3000)])
    session.commit()
    session.execute(text("ANALYZE"))
    director, now = actor("director"), clock.now()
    for filters, priority in ((ledger.LedgerFilters(), 1), (ledger.LedgerFilters(high_risk=True), None),
                              (ledger.LedgerFilters(high_risk=True, sort="opened"), None)):
        stmt = case_list.build(session, director, filters, now, priority=priority).limit(50)
        sql = str(stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r[-1]) for r in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
        assert "ix_cases_flagged" in plan, (filters, plan)
    # and the pages still hold exactly the flagged cases, C and D, whatever the order
    for sort in ("-opened", "opened", "code"):
        page = ledger.list_cases(session, director, ledger.LedgerFilters(high_risk=True, sort=sort), now=now)
        assert {row.case.id for row in page.rows} == {ledger_cases["C"][0], ledger_cases["D"][0]} and page.total == 2
