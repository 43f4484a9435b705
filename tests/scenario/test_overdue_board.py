"""The dashboard's overdue board (issue 18 §3) through the API as the center's overseers: open tasks at each
ladder step (提示/催办/督办/挂牌督办) by the unit holding them, within the caller's units and below."""
from __future__ import annotations

from tests.scenario.conftest import COUNTY_CODE, TOWNSHIP_CODE, VILLAGE_CODE, china
from tests.scenario.test_dispute import REGISTER
from tests.support.web import ui_login


def _late_screening(c, user="clerk") -> int:
    """A case whose 研判 (one working day, due Friday 24:00) nobody does: Monday brings 催办 and the 督办单."""
    case = c.open("dispute", user, {"channel": "walk_in"})
    c.complete(case["id"], "register", user, {**REGISTER, "received_date": c.day(0)})
    return case["id"]


def _levels(body) -> dict[int, int]:
    return {item["level"]: item["count"] for item in body["levels"]}


def test_the_board_counts_late_tasks_by_step_and_unit_within_each_overseer_scope(center):
    c = center
    c.set_time(china("2026-03-05", 10))  # a Thursday
    county_case = _late_screening(c)
    township_case = _late_screening(c, "t_clerk")
    board = c.get("/api/v1/dashboard/overdue", "director")
    assert sum(_levels(board).values()) == 0 and board["units"] == []
    c.drain(china("2026-03-09", 0, 0, 1))  # Monday
    level_of = {cid: max(t["warning_level"] for t in c.case(cid)["tasks"] if t["kind"] == "bpmn")
                for cid in (county_case, township_case)}
    assert level_of[county_case] >= 2 and level_of[township_case] >= 2

    board = c.get("/api/v1/dashboard/overdue", "director")  # the county director: the county and below
    assert [item["name"] for item in board["levels"]] == ["提示", "催办", "督办", "挂牌督办"]
    by_unit = {u["code"]: u for u in board["units"]}
    assert set(by_unit) == {COUNTY_CODE, TOWNSHIP_CODE}
    for code, cid in ((COUNTY_CODE, county_case), (TOWNSHIP_CODE, township_case)):
        counts = {item["level"]: item["count"] for item in by_unit[code]["levels"]}
        assert counts[level_of[cid]] == 1 and by_unit[code]["total"] == 1
    assert _levels(board)[level_of[county_case]] >= 1 and sum(_levels(board).values()) == 2

    # the township's director sees the township only; narrowing to a unit below works, above it is refused
    own = c.get("/api/v1/dashboard/overdue", "t_director")
    assert [u["code"] for u in own["units"]] == [TOWNSHIP_CODE]
    narrowed = c.get(f"/api/v1/dashboard/overdue?org_unit={TOWNSHIP_CODE}", "director")
    assert [u["code"] for u in narrowed["units"]] == [TOWNSHIP_CODE]
    assert c.get(f"/api/v1/dashboard/overdue?org_unit={VILLAGE_CODE}", "director")["units"] == []
    c.get(f"/api/v1/dashboard/overdue?org_unit={COUNTY_CODE}", "t_director", status=403)
    bad = c.get("/api/v1/dashboard/overdue?org_unit=nowhere", "director", status=422)
    assert "org_unit" in bad["details"]
    # auditors see all; staff are refused
    assert {u["code"] for u in c.get("/api/v1/dashboard/overdue", "auditor")["units"]} == {COUNTY_CODE, TOWNSHIP_CODE}
    for user in ("clerk", "mediator", "unit_head"):
        c.get("/api/v1/dashboard/overdue", user, status=403)


def test_the_dashboard_page_is_for_overseers(center, app):
    director = app.test_client()
    ui_login(director, "director", expect=302)
    html = director.get("/dashboard").get_data(as_text=True)
    assert "统计看板" in html and 'id="dashboard-config"' in html and "督办看板" in html and "“1把尺子”排名" in html
    assert "得分 = (响应率 × 30 + 按期办结率 × 40 + 满意率 × 30) ÷ 100" in html  # the formula, from config weights
    assert 'href="/dashboard"' in director.get("/cases").get_data(as_text=True)  # in the header
    clerk = app.test_client()
    ui_login(clerk, "clerk", expect=302)
    assert clerk.get("/dashboard").status_code == 403
    assert 'href="/dashboard"' not in clerk.get("/").get_data(as_text=True)
