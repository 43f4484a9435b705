"""The supervision ladder escalates on working days only (issue 17 §2): no 催办 on Saturday, no 督办单 on Sunday,
none in the National Day week; and the local one-day limits (登记, 研判, 分流交办) count one working day.

Through the API as the center's users (tests/scenario/conftest.py), dispute.bpmn's 研判 task as the late task."""
from datetime import date, datetime, timedelta

from tests.scenario.conftest import china, end_of
from tests.scenario.test_dispute import AGREE, register

STEPS = ("提示", "催办", "督办", "挂牌督办")


def ladder(c, cid, task_title="研判") -> dict[str, str]:
    """The ladder steps of one task as the case page lists them: step title -> due_at (+08:00)."""
    out = {}
    for timer in c.case(cid)["timers"]:
        if timer["kind"] == "ladder":
            step, _, title = timer["name"].partition("：")
            if title == task_title:
                out[step] = timer["due_at"]
    return out


def fires_on(moment: str) -> date:
    """The China day of a moment written +08:00, 23:59:59 standing for 24:00 (the start of the next day): the
    day a step due then fires on, or the day of a step recorded as fired then (just after its due moment)."""
    return (datetime.fromisoformat(moment) + timedelta(seconds=1)).date()


def escalations(c, cid) -> list[tuple[str, str]]:
    """(step, the China day it fired on) of every ladder step that fired on the case."""
    return [(e["payload"]["step"], fires_on(e["at"]).isoformat()) for e in c.events(cid)
            if e["type"] == "task_escalated"]


def follow_ups(c, cid) -> list[dict]:
    return [t for t in c.case(cid)["tasks"] if t["kind"] == "supervision"]


def test_a_task_due_on_friday_escalates_on_monday_not_at_the_weekend(center):
    c = center
    c.set_time(china("2026-03-05", 10))  # a Thursday
    cid = register(c)
    assert c.task(cid, "screen")["due_at"] == end_of("2026-03-06")  # one working day: Friday 24:00
    steps = ladder(c, cid)
    assert list(steps) == list(STEPS)
    assert steps["提示"].startswith("2026-03-06T")  # 2/3 of the period, Friday morning: a working day
    # 催办 at the deadline (would fire Saturday 00:00) and 督办单 a day later (Sunday) wait for Monday 00:00;
    # 挂牌督办, 5 working days after the deadline, fell on Fri 03-13 24:00 (Saturday) and waits for Monday too
    assert steps["催办"] == end_of("2026-03-08")
    assert steps["督办"] == "2026-03-09T00:00:00+08:00"
    assert steps["挂牌督办"] == end_of("2026-03-15")
    assert all(fires_on(due).weekday() < 5 for due in steps.values())

    c.drain(china("2026-03-07", 12))  # Saturday
    assert escalations(c, cid) == [("prompt", "2026-03-06")]
    c.drain(china("2026-03-08", 23, 59, 58))  # the end of Sunday
    assert escalations(c, cid) == [("prompt", "2026-03-06")] and follow_ups(c, cid) == []
    assert c.task(cid, "screen")["warning_level"] == 1

    c.drain(china("2026-03-09", 0, 0, 1))  # Monday: 催办, then the 督办单
    assert escalations(c, cid) == [("prompt", "2026-03-06"), ("reminder", "2026-03-09"), ("notice", "2026-03-09")]
    reminder, notice = sorted(follow_ups(c, cid), key=lambda t: t["title"] != "催办：研判")
    assert reminder["title"] == "催办：研判" and reminder["due_at"] == end_of("2026-03-09")  # 1 working day
    assert notice["title"] == "督办单：研判" and notice["due_at"] == end_of("2026-03-11")  # 2 working days
    opened = [e for e in c.events(cid) if e["type"] == "task_opened" and e["task"] == "督办单：研判"]
    assert [fires_on(e["at"]).isoformat() for e in opened] == ["2026-03-09"]
    assert c.task(cid, "screen")["warning_level"] == 3

    c.drain(china("2026-03-15", 23, 59, 58))
    assert [step for step, _ in escalations(c, cid)] == ["prompt", "reminder", "notice"]
    c.drain(china("2026-03-16", 0, 0, 1))
    assert escalations(c, cid)[-1] == ("listing", "2026-03-16")
    assert sorted(t["title"] for t in follow_ups(c, cid)) == ["催办：研判", "挂牌督办：研判", "督办单：研判"]
    assert all(date.fromisoformat(day).weekday() < 5 for _, day in escalations(c, cid))
    c.assert_record(cid)


def test_the_national_day_week_pushes_the_ladder_past_it(center):
    c = center
    c.set_time(china("2026-09-29", 10))  # Tuesday before 国庆 (1–7 Oct 2026; Sat 10 Oct is a make-up working day)
    cid = register(c)
    assert c.task(cid, "screen")["due_at"] == end_of("2026-09-30")
    steps = ladder(c, cid)
    assert steps["催办"] == end_of("2026-10-07")  # fires Thu 8 Oct, the first working day after the holiday
    assert steps["督办"] == "2026-10-08T00:00:00+08:00"
    assert steps["挂牌督办"] == end_of("2026-10-13")  # 8, 9, 10 (make-up Saturday), 12, 13 Oct
    c.drain(china("2026-10-07", 23, 59, 58))
    assert [step for step, _ in escalations(c, cid)] == ["prompt"] and follow_ups(c, cid) == []
    c.drain(china("2026-10-08", 0, 0, 1))
    assert escalations(c, cid)[1:] == [("reminder", "2026-10-08"), ("notice", "2026-10-08")]
    [notice] = [t for t in follow_ups(c, cid) if t["title"].startswith("督办单")]
    assert notice["due_at"] == end_of("2026-10-10")  # 2 working days after 8 Oct: 9 Oct, make-up Sat 10 Oct


def test_a_make_up_saturday_is_a_working_day_for_the_ladder(center):
    c = center
    c.set_time(china("2026-10-08", 10))  # Thursday after 国庆
    cid = register(c)
    assert c.task(cid, "screen")["due_at"] == end_of("2026-10-09")
    steps = ladder(c, cid)
    assert steps["催办"] == end_of("2026-10-09")  # fires on Sat 10 Oct, a 调休 working day: not moved
    assert steps["督办"] == end_of("2026-10-11")  # would fire Sunday 11 Oct: fires Monday 12 Oct


def test_one_day_local_limits_count_working_days(center):
    c = center
    c.set_time(china("2026-03-06", 15))  # a Friday afternoon
    case = c.open("dispute", "clerk", {"channel": "walk_in"})
    assert [t["due_at"] for t in case["tasks"]] == [end_of("2026-03-09")]  # 登记: Monday 24:00, not Saturday
    cid = register(c)
    assert c.task(cid, "screen")["due_at"] == end_of("2026-03-09")  # 研判: the next working day
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "ordinary"})
    assert c.task(cid, "dispatch")["due_at"] == end_of("2026-03-09")  # 分流交办 too
    assert all(fires_on(due).weekday() < 5 for due in ladder(c, cid, "分流交办").values())
