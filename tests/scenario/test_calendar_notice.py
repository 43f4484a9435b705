"""When a year's State Council notice is entered, open deadlines in that year are recomputed (issue 17 §3): the
party's 复查 window (a timer with an explicit start), the task due dates and the ladder that follows them, each
recorded as an event on the case, and a replay of the case still verifies.

The "notice" below is made up for the test (2027's real one is not published): it declares 14–15 January 2027
rest days, so a 30-day window that ended on Thursday 14 January under the provisional year ends on Monday 18
(and its timer, 7 在途 days later, moves from the 21st to the 25th).
"""
from datetime import datetime

import pytest

from engine import ladder, runtime
from engine.actors import Actor
from engine.clock import CHINA_TZ
from engine.errors import Forbidden
from engine.models import TaskModel
from engine.services.deadlines import recompute_deadlines
from engine.services.users import SYSTEM
from tests.conftest import make_runtime
from tests.support.web import ui_login
from tests.scenario.conftest import china, end_of
from tests.scenario.test_petition import accepted, replied

MADE_UP_NOTICE = {"holidays": ["2027-01-01", "2027-01-14", "2027-01-15", "2027-02-05", "2027-02-06", "2027-02-07",
                               "2027-02-08"], "workdays": []}


def _notice_entered(session, clock, year_table=MADE_UP_NOTICE) -> runtime.Runtime:
    """What an operator does: enter the notice in config/calendar.toml and restart (a new runtime)."""
    rt = make_runtime(clock)
    overrides = dict(rt.settings.calendar_overrides or {})
    overrides["years"] = {**overrides.get("years", {}), "2027": dict(year_table)}
    rt.settings.calendar_overrides = overrides
    new = runtime.Runtime(rt.settings, clock)
    runtime.bind(session, new)
    return new


def test_entering_the_notice_moves_the_review_window_and_the_tasks_due_in_that_year(center, session, clock):
    c = center
    c.set_time(china("2026-12-15", 10))
    cid = accepted(c)
    served = replied(c, cid, "reject", "dissatisfied")
    assert served == "2026-12-15"
    # 信访条例 第35条: 30 days from service; 2027 is provisional, 14 January a Thursday
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2027-01-14")
    assert c.timers(cid)["复查申请期届满"] == end_of("2027-01-21")  # + 7 days 在途
    before = len(c.events(cid))

    rt = _notice_entered(session, clock)
    with pytest.raises(Forbidden):
        recompute_deadlines(session, 2027, Actor(username="mediator", user_id=3))
    changed = recompute_deadlines(session, 2027, SYSTEM, reason="2027年放假安排通知已录入")
    assert [case.case_id for case in changed] == [cid]
    assert sorted(m.kind for m in changed[0].moved) == ["task", "timer"] and not changed[0].unsure

    assert c.timers(cid)["复查申请期届满"] == end_of("2027-01-25")
    task = c.task(cid, "pt_await_review")
    assert task["due_at"] == end_of("2027-01-18")
    events = c.events(cid)[before:]
    assert [e["type"] for e in events] == ["deadlines_recomputed"]
    moved = events[0]["payload"]["command"]["moved"]
    assert {(m["element"], m["old"][:10], m["new"][:10]) for m in moved} == {
        ("复查申请期届满", "2027-01-21", "2027-01-25"), ("复查申请期（30日）", "2027-01-14", "2027-01-18")}
    assert events[0]["payload"]["command"]["reason"] == "2027年放假安排通知已录入"
    # the ladder follows the new due date: its next step is computed from it
    created = session.get(TaskModel, task["id"]).created_at
    moments = {m.astimezone(CHINA_TZ).isoformat()
               for m in ladder.ladder_moments(created, datetime.fromisoformat(end_of("2027-01-18")), rt).values()}
    steps = [t for t in c.case(cid)["timers"] if t["kind"] == "ladder" and t["name"].endswith("：" + task["title"])]
    assert all(step["due_at"] in moments for step in steps)
    # the case page's history says what moved and why, in Chinese
    ui_login(c.client, "director")
    page = c.client.get(f"/cases/{cid}").get_data(as_text=True)
    assert "期限重新计算" in page and "2027年放假安排通知已录入" in page
    assert "复查申请期届满：2027-01-21 23:59 → 2027-01-25 23:59" in page
    # the recorded command replays: the case still verifies
    verified = c.get(f"/api/v1/cases/{cid}/verify", "auditor")
    assert verified["chain_ok"] and verified["replay_ok"], verified

    # run again: nothing moves, nothing is recorded
    assert recompute_deadlines(session, 2027, SYSTEM) == []
    assert len(c.events(cid)) == before + 1

    # on the 22nd the party's window (with its 在途 days) is still open: under the provisional year it would
    # have closed at the end of the 21st
    c.drain(china("2027-01-22", 9))
    assert "pt_await_review" in c.ready(cid)


def test_a_deadline_before_the_year_is_left_alone(center, session, clock):
    c = center
    c.set_time(china("2026-11-02", 10))
    cid = accepted(c)
    replied(c, cid, "reject", "dissatisfied")
    assert c.timers(cid)["复查申请期届满"] == end_of("2026-12-09")
    _notice_entered(session, clock)
    assert recompute_deadlines(session, 2027, SYSTEM) == []
    assert c.timers(cid)["复查申请期届满"] == end_of("2026-12-09")
