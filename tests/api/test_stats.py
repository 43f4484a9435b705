"""The statistics (GET /api/v1/stats, engine/stats.py): 30 cases across two townships driven through the engine
with the test clock, every figure counted by hand and asserted exactly; the roll-up along the org tree; who may
read them."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from engine import stats as stats_defs
from engine.models import CaseEventModel, CaseModel, StatsDailyModel
from engine.services import cases, stats, tasks
from tests.conftest import FIXTURES, START
from tests.support import PASSWORD

COUNTY, T1, VILLAGE, T2 = "330106000", "330106001", "330106001001", "330106002"

# The phases (China time): every case opens at START (Monday 2026-03-02 09:00). 签收 is due within 1 working
# day, 办理 within 5 working days of 签收.
P1 = START + timedelta(hours=1)  # Mon 10:00: 签收 on time ("A")
P2 = START + timedelta(days=2, hours=1)  # Wed 03-04 10:00: 签收 late ("B"); 办理 of an A case on time
P3 = START + timedelta(days=4, hours=1)  # Fri 03-06 10:00: 办理 of a B case (due 03-11) on time
P4 = START + timedelta(days=8, hours=1)  # Tue 03-10 10:00: 办理 of an A case (due 03-09) late; "now"

# (case number, unit, 签收 phase, 办理 (phase, result) or None, the revisit's rating or None)
# category: odd numbers 邻里纠纷 (neighbour), even 劳动争议 (labour); channel: multiples of 3 来电 (phone)
CASES = [
    (1, T1, "A", (P2, "agreed"), "satisfied"), (2, T1, "A", (P2, "agreed"), "basically_satisfied"),
    (3, T1, "A", (P2, "failed"), None), (4, T1, "A", (P4, "agreed"), "dissatisfied"),
    (5, T1, "B", (P3, "agreed"), "satisfied"), (6, T1, "B", (P3, "withdrawn"), None),
    (7, T1, "A", None, None), (8, T1, "A", None, None), (9, T1, "B", None, None), (10, T1, None, None, None),
    (11, VILLAGE, "A", (P2, "agreed"), "satisfied"), (12, VILLAGE, "A", (P2, "agreed"), "no_rating"),
    (13, VILLAGE, "A", (P4, "failed"), None), (14, VILLAGE, "B", (P3, "agreed"), "dissatisfied"),
    (15, VILLAGE, "B", (P4, "agreed"), "satisfied"), (16, VILLAGE, "A", None, None),
    (17, VILLAGE, None, None, None), (18, VILLAGE, "B", None, None),
    (19, T2, "A", (P2, "agreed"), "satisfied"), (20, T2, "A", (P2, "agreed"), "satisfied"),
    (21, T2, "A", (P2, "agreed"), "basically_satisfied"), (22, T2, "A", (P2, "failed"), None),
    (23, T2, "A", (P2, "withdrawn"), None), (24, T2, "A", (P4, "agreed"), "satisfied"),
    (25, T2, "B", (P3, "failed"), None), (26, T2, "B", (P3, "agreed"), "dissatisfied"),
    (27, T2, "A", None, None), (28, T2, "B", None, None), (29, T2, None, None, None),
    (30, T2, "A", (P3, "agreed"), "basically_satisfied"),
]
CLERKS = {T1: "tclerk", VILLAGE: "vclerk", T2: "t2clerk"}


@pytest.fixture
def counted(session, directory, actor, clock):
    """The 30 cases, driven phase by phase; the ladder's timers fired at each phase. Returns {number: case id}."""
    from engine.services import processes, timers, users
    from engine.services.users import SYSTEM

    processes.deploy(session, {"stats_case.bpmn": (FIXTURES / "engine" / "stats_case.bpmn").read_bytes()}, SYSTEM)
    users.add_org_unit(session, T2, "灵隐街道综治中心", "township", COUNTY)
    users.ensure_roles(session, {"director": "中心主任"})
    session.commit()
    users.create_user(session, "tclerk", PASSWORD, ["intake_clerk"], [T1])
    users.create_user(session, "vclerk", PASSWORD, ["intake_clerk"], [VILLAGE])
    users.create_user(session, "t2clerk", PASSWORD, ["intake_clerk"], [T2])
    users.create_user(session, "t1super", PASSWORD, ["supervisor"], [T1])
    users.create_user(session, "t2super", PASSWORD, ["supervisor"], [T2])
    users.create_user(session, "director", PASSWORD, ["director"], [COUNTY])

    ids = {}
    for n, unit, *_ in CASES:
        data = {"title": f"统计案件{n}", "category": "neighbour" if n % 2 else "labour",
                "channel": "phone" if n % 3 == 0 else "walk_in"}
        ids[n] = cases.start_case(session, "stats_case", data, actor(CLERKS[unit]), unit).id

    def complete(n, values=None):
        [task] = [t for t in cases.open_tasks(session, ids[n]) if t.kind == "bpmn"]  # not the ladder's 催办
        tasks.complete_task(session, task.id, values or {}, actor(CLERKS[CASES[n - 1][1]]))

    for moment in (P1, P2, P3, P4):
        clock.set(moment)
        timers.fire_due_timers(session, moment)  # the ladder's steps due by now
        for n, _unit, sign, handle, rating in CASES:
            if sign == "A" and moment == P1 or sign == "B" and moment == P2:
                complete(n)
            if handle and handle[0] == moment:
                complete(n, {"result": handle[1]})
                if handle[1] == "agreed":
                    complete(n, {"satisfaction": rating})
    return ids


def figures(received, closed, on_time, resolved, responded, responded_on_time, rated, satisfied, overdue, days,
            supervision):
    def rate(a, b):
        return round(a / b, 4) if b else None
    return {"received": received, "closed": closed, "closed_rate": rate(closed, received),
            "closed_on_time_rate": rate(on_time, closed), "resolved": resolved, "resolved_rate": rate(resolved, closed),
            "responded_on_time_rate": rate(responded_on_time, responded), "overdue_open": overdue,
            "satisfaction_rate": rate(satisfied, rated), "avg_handling_days": days, "supervision": supervision}


# Handling days: every case opened at START; P2 closes 2 d 1 h later, P3 4 d 1 h, P4 8 d 1 h.
# T1 (1–10): closed 1, 2, 3 at P2, 5, 6 at P3, 4 at P4 = 22.25 days over 6; on time 1, 2, 3; resolved 1, 2, 4, 5;
#   签收 A 1, 2, 3, 4, 7, 8 on time, B 5, 6, 9 late; ratings 满意 1, 5, 基本满意 2, 不满意 4; overdue at P4: 7, 8 (办理
#   due 03-09), 10 (签收 never done).
# Village (11–18): closed 11, 12 at P2, 14 at P3, 13, 15 at P4 = 24.2083 days over 5; on time 11, 12; resolved 11,
#   12, 14, 15; 签收 on time 11, 12, 13, 16, late 14, 15, 18; ratings 满意 11, 15, 不满意 14 (12: 未评价, no rating);
#   overdue 16, 17.
# T2 (19–30): closed 19–23 at P2, 25, 26, 30 at P3, 24 at P4 = 30.375 days over 9; on time 19–23, 30; resolved
#   19, 20, 21, 24, 26, 30; 签收 on time 19–24, 27, 30, late 25, 26, 28; ratings 满意 19, 20, 24, 基本满意 21, 30,
#   不满意 26; overdue 27, 29.
OWN_T1 = {"received": 10, "closed": 6, "on_time": 3, "resolved": 4, "responded": 9, "responded_on_time": 6, "rated": 4, "satisfied": 3,
              "overdue": 3, "days": 3.71}
VILLAGE_FIGURES = {"received": 8, "closed": 5, "on_time": 2, "resolved": 4, "responded": 7, "responded_on_time": 4, "rated": 3,
                       "satisfied": 2, "overdue": 2, "days": 4.84}
T2_FIGURES = {"received": 12, "closed": 9, "on_time": 6, "resolved": 6, "responded": 11, "responded_on_time": 8, "rated": 6,
                  "satisfied": 5, "overdue": 2, "days": 3.38}
T1_ROLLED = {"received": 18, "closed": 11, "on_time": 5, "resolved": 8, "responded": 16, "responded_on_time": 10, "rated": 7,
                 "satisfied": 5, "overdue": 5, "days": 4.22}  # (22.25 + 24.2083) / 11
COUNTY_TOTAL = {"received": 30, "closed": 20, "on_time": 11, "resolved": 14, "responded": 27, "responded_on_time": 18, "rated": 13,
                    "satisfied": 10, "overdue": 7, "days": 3.84}  # 76.8333 / 20


def ladder_counts(session, unit_codes: list[str]) -> dict:
    """提示/催办/督办/挂牌督办 as the history records them (task_escalated rows), for the cases of these units: the
    independent count the supervision figures must equal."""
    from engine.models import OrgUnitModel
    units = select(OrgUnitModel.id).where(OrgUnitModel.code.in_(unit_codes))
    rows = session.execute(select(CaseEventModel.payload).join(CaseModel, CaseModel.id == CaseEventModel.case_id)
                           .where(CaseEventModel.type == "task_escalated", CaseModel.org_unit_id.in_(units))).all()
    out = {"prompt": 0, "reminder": 0, "notice": 0, "listing": 0}
    for (payload,) in rows:
        out[payload["step"]] += 1
    return out


def get(client, headers, **params):
    response = client.get("/api/v1/stats", headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_every_figure_of_the_hand_counted_cases(client, session, counted, login, clock):
    body = get(client, login("director"), **MARCH)
    assert body["from"] == "2026-03-01" and body["to"] == "2026-03-31" and body["group_by"] == "org_unit"
    assert body["org_unit"] == {"code": COUNTY, "name": "西湖区综治中心", "units": 4}
    assert body["total"] == figures(**COUNTY_TOTAL, supervision=ladder_counts(session, [COUNTY, T1, VILLAGE, T2]))
    groups = {g["key"]: g for g in body["groups"]}
    assert list(groups) == [COUNTY, T1, T2]  # the county itself, then each township with what lies below it
    own = groups[COUNTY]
    assert own["label"] == "西湖区综治中心（本级）" and own["received"] == 0 and own["closed_rate"] is None
    assert not own["includes_units_below"] and own["units"] == 1
    t1 = groups[T1]
    assert t1["includes_units_below"] is True and t1["units"] == 2 and t1["label"] == "北山街道综治中心"
    assert {k: v for k, v in t1.items() if k not in ("key", "label", "includes_units_below", "units")} == figures(
        **T1_ROLLED, supervision=ladder_counts(session, [T1, VILLAGE]))
    t2 = groups[T2]
    assert {k: v for k, v in t2.items() if k not in ("key", "label", "includes_units_below", "units")} == figures(
        **T2_FIGURES, supervision=ladder_counts(session, [T2]))
    # the supervision counts are the ladder's: the lateness above did escalate
    assert sum(body["total"]["supervision"].values()) > 0
    assert body["total"]["supervision"]["prompt"] >= body["total"]["supervision"]["reminder"] > 0

    # a township's own figures, and its village's
    body = get(client, login("director"), org_unit=T1, **MARCH)
    assert body["org_unit"]["units"] == 2
    groups = {g["key"]: g for g in body["groups"]}
    strip = ("key", "label", "includes_units_below", "units")
    assert {k: v for k, v in groups[T1].items() if k not in strip} == figures(
        **OWN_T1, supervision=ladder_counts(session, [T1]))
    assert {k: v for k, v in groups[VILLAGE].items() if k not in strip} == figures(
        **VILLAGE_FIGURES, supervision=ladder_counts(session, [VILLAGE]))


def test_groupings(client, counted, login):
    h = login("director")
    by = {g["key"]: g for g in get(client, h, group_by="category", **MARCH)["groups"]}
    assert by["neighbour"]["label"] == "邻里纠纷" and by["labour"]["label"] == "劳动争议"
    # odd numbers: closed 1 3 5 11 13 15 19 21 23 25, resolved 1 5 11 15 19 21; overdue 7 17 27 29 (even: 8 10 16)
    assert (by["neighbour"]["received"], by["neighbour"]["closed"], by["neighbour"]["resolved"],
            by["neighbour"]["overdue_open"]) == (15, 10, 6, 4)
    assert (by["labour"]["received"], by["labour"]["closed"], by["labour"]["resolved"],
            by["labour"]["overdue_open"]) == (15, 10, 8, 3)
    by = {g["key"]: g for g in get(client, h, group_by="channel", **MARCH)["groups"]}
    assert by["phone"]["label"] == "来电" and by["phone"]["received"] == 10 and by["walk_in"]["received"] == 20
    # phone: 3 6 9 12 15 18 21 24 27 30 — closed 3 6 12 15 21 24 30, resolved 12 15 21 24 30
    assert (by["phone"]["closed"], by["phone"]["resolved"]) == (7, 5)
    by = {g["key"]: g for g in get(client, h, group_by="process", **MARCH)["groups"]}
    assert by["stats_case"]["label"] == "统计测试案件" and by["stats_case"]["received"] == 30
    months = get(client, h, group_by="month", **MARCH)["groups"]
    assert [(m["key"], m["label"], m["received"], m["closed"]) for m in months] == [("2026-03", "2026年3月", 30, 20)]
    assert months[0]["overdue_open"] is None  # a month's end is not one moment of the open tasks


def test_by_dept_counts_the_tasks_each_unit_held(client, counted, login):
    """签收, 办理 and 回访 are held by the case's own unit here. T1 (cases 1–10): opened 10 签收 + 9 办理 (signed: 1–9)
    + 4 回访 (agreed: 1 2 4 5) = 23; completed 9 + 6 + 4 = 19, late: 签收 of 5 6 9 and 办理 of 4 → 15 on time;
    days held: 签收 6 × 1 h + 3 × 49 h, 办理 3 × 48 h (1–3) + 192 h (4) + 2 × 48 h (5, 6), 回访 0 = 585 h over 19.
    Village (11–18): opened 8 + 7 + 4 = 19; completed 7 + 5 + 4 = 16, late: 签收 of 14 15 18 and 办理 of 13 → 12 on
    time; 签收 4 × 1 h + 3 × 49 h, 办理 2 × 48 h + 192 h (13) + 48 h (14) + 144 h (15) = 631 h over 16."""
    body = get(client, login("director"), group_by="dept", org_unit=T1, **MARCH)
    groups = {g["key"]: g for g in body["groups"]}
    assert list(groups) == [T1, VILLAGE] and groups[VILLAGE]["label"] == "曙光社区调解室"
    t1, village = groups[T1], groups[VILLAGE]
    assert (t1["received"], t1["closed"], t1["closed_rate"], t1["closed_on_time_rate"], t1["avg_handling_days"]) == \
        (23, 19, 0.8261, 0.7895, 1.28)
    assert (village["received"], village["closed"], village["closed_rate"], village["closed_on_time_rate"],
            village["avg_handling_days"]) == (19, 16, 0.8421, 0.75, 1.64)
    for case_figure in ("resolved", "resolved_rate", "responded_on_time_rate", "satisfaction_rate", "supervision"):
        assert t1[case_figure] is None and body["total"][case_figure] is None
    assert body["total"]["received"] == 42 and body["total"]["closed"] == 35
    assert (t1["overdue_open"], village["overdue_open"]) == (3, 2)  # 签收 of 10, 办理 of 7 8 / 签收 of 17, 办理 of 16
    # the county holds the ladder's 催办 and 督办单 of the three 签收 never done (10, 17, 29; the 催办 due one working
    # day after its step, the 督办单 two): six, overdue too, though it opened no process task
    county = {g["key"]: g for g in get(client, login("director"), group_by="dept", **MARCH)["groups"]}[COUNTY]
    assert (county["received"], county["closed"], county["overdue_open"]) == (0, 0, 6)


def test_the_period_bounds_each_fact_by_its_own_day(client, counted, login):
    h = login("director")
    # 2026-03-02 … 03-04: every receipt; the closings at P2 (1 2 3 11 12 19–23) only
    body = get(client, h, **{"from": "2026-03-02", "to": "2026-03-04"})["total"]
    assert (body["received"], body["closed"], body["resolved"]) == (30, 10, 7)
    assert body["overdue_open"] is None  # the period ended before today (P4, 03-10): not known from open tasks
    # 03-05 … 03-31: no receipt, the later closings
    body = get(client, h, **{"from": "2026-03-05", "to": "2026-03-31"})["total"]
    assert (body["received"], body["closed"], body["closed_rate"], body["resolved"]) == (0, 10, None, 7)
    assert get(client, h, **{"from": "2026-04-01", "to": "2026-04-30"})["total"]["closed"] == 0


def test_who_may_read_them(client, counted, login):
    assert client.get("/api/v1/stats", headers=login("tclerk"), query_string=MARCH).status_code == 403
    assert client.get("/api/v1/stats", headers=login("admin"), query_string=MARCH).status_code == 403
    t2 = get(client, login("t2super"), **MARCH)  # their own township by default
    assert t2["org_unit"]["code"] == T2 and t2["total"]["received"] == 12
    for unit in (COUNTY, T1, VILLAGE):
        response = client.get("/api/v1/stats", headers=login("t2super"), query_string={**MARCH, "org_unit": unit})
        assert response.status_code == 403, unit
    assert get(client, login("t1super"), org_unit=VILLAGE, **MARCH)["total"]["received"] == 8
    assert get(client, login("auditor"), **MARCH)["total"]["received"] == 30
    assert client.get("/api/v1/stats", query_string=MARCH).status_code == 401


def test_bad_requests_are_named(client, counted, login):
    h = login("director")
    for params, field in (({"group_by": "colour"}, "group_by"), ({"from": "2026-13-01"}, "from"),
                          ({"from": "2026-03-31", "to": "2026-03-01"}, "to"),
                          ({"from": "2020-01-01", "to": "2026-03-01"}, "to"), ({"org_unit": "999"}, "org_unit")):
        response = client.get("/api/v1/stats", headers=h, query_string=params)
        assert response.status_code == 422 and field in str(response.get_json()), (params, response.get_json())


def test_rebuild_recounts_what_the_commands_counted(session, counted):
    """The counters the commands kept equal a recount from the history (engine/stats.rebuild)."""
    def table():
        return sorted(tuple(r) for r in session.execute(select(StatsDailyModel.__table__)).all())

    kept = table()
    marks = dict(session.execute(select(CaseModel.id, func.coalesce(CaseModel.late_at, CaseModel.responded_at))).all())
    session.execute(delete(StatsDailyModel.__table__))
    assert table() == []
    stats_defs.rebuild(session)
    assert table() == kept
    assert dict(session.execute(select(CaseModel.id, func.coalesce(CaseModel.late_at,
                                                                   CaseModel.responded_at))).all()) == marks


def test_a_rating_counts_from_either_field_and_a_correction_replaces_it():
    """The revisit's `satisfaction` and the party's own `party_rating` (ids or names) both count; a rating changed
    later counts once, as its new value; 未评价 is no rating."""
    at = datetime(2026, 3, 2, 1, 0, tzinfo=START.tzinfo)
    state = stats_defs.CaseState(opened_at=at)
    rows = [{"type": "task_completed", "at": at, "payload": {"command": {}, "changes": {
                "satisfaction": [None, "no_rating"]}}, "task_id": "t1"},
            {"type": "party_rated", "at": at + timedelta(days=1), "payload": {"changes": {
                "party_rating": [None, "基本满意"]}}, "task_id": None},
            {"type": "party_rated", "at": at + timedelta(days=1, hours=1), "payload": {"changes": {
                "party_rating": ["基本满意", "不满意"]}}, "task_id": None}]
    counts = stats_defs.count(rows, state, lambda row: None)
    day1, day2 = date(2026, 3, 2), date(2026, 3, 3)
    # (day, None): filed under the case's unit; the completed task's unit is unknown here (no TaskFacts) too
    assert counts[(day1, None)] == {"responded": 1, "responded_on_time": 1, "tasks_completed": 1,
                                    "tasks_completed_on_time": 1}
    assert counts[(day2, None)] == {"rated": 1, "rated_basically": 0, "rated_dissatisfied": 1}
    assert stats_defs.figures_of({**dict.fromkeys(stats_defs.COUNTERS, 0),
                                  **counts[(day2, None)]})["satisfaction_rate"] == 0.0


def test_each_figure_is_defined_once_and_documented():
    from pathlib import Path
    doc = (Path(__file__).parents[2] / "docs" / "statistics.md").read_text(encoding="utf-8")
    keys = [f.key for f in stats_defs.FIGURES]
    assert len(keys) == len(set(keys))
    blank = stats_defs.figures_of(dict.fromkeys(stats_defs.COUNTERS, 0))
    assert set(blank) == set(keys)  # the API's figures are exactly the defined ones
    for figure in stats_defs.FIGURES:
        assert f"`{figure.key}`" in doc and figure.name in doc, figure.key
    assert stats.GROUPS == ("org_unit", "category", "channel", "process", "dept", "month")
