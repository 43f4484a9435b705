"""When a year's State Council notice is entered, open deadlines in that year are recomputed (issue 17 §3): the
party's 复查 window (a timer with an explicit start), the task due dates and the ladder that follows them, each
recorded as an event on the case, and a replay of the case still verifies.

The "notice" below is made up for the test (2027's real one is not published): it declares 14–15 January 2027
rest days, so a 30-day window that ended on Thursday 14 January under the provisional year ends on Monday 18
(and its timer, 7 在途 days later, moves from the 21st to the 25th).
"""
import os
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from engine import ladder, runtime
from engine.actors import Actor
from engine.calendar import DEFAULT_CALENDAR_PATH
from engine.clock import CHINA_TZ
from engine.errors import Forbidden
from engine.models import CalendarYearModel, TaskModel
from engine.services.deadlines import recompute_changed_years, recompute_deadlines
from engine.services.users import SYSTEM
from engine.timer_firing import wall_now
from tests.conftest import make_runtime
from tests.scenario.conftest import china, end_of
from tests.scenario.test_petition import accepted, replied
from tests.support.web import ui_login
from webui.calendar_file import CalendarFile

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


# ------------------------------------------------------------- party windows in a provisional year (§3)


def _window_in_2027(c):
    """A petition whose 复查 window (served 15 December 2026) ends on 14 January 2027, its timer (+7 在途 days)
    on the 21st: 2027 has no notice yet (provisional)."""
    c.set_time(china("2026-12-15", 10))
    cid = accepted(c)
    replied(c, cid, "reject", "dissatisfied")
    assert c.timers(cid)["复查申请期届满"] == end_of("2027-01-21")
    return cid


def _confirmations(c, cid):
    return [t for t in c.case(cid)["tasks"] if t["kind"] == "expiry"]


def test_a_partys_window_in_a_provisional_year_closes_only_when_a_supervisor_confirms(center):
    c = center
    cid = _window_in_2027(c)
    c.drain(china("2027-01-22", 9))
    # held: the party's window is still open, nothing closed, a supervisor is asked
    assert "pt_await_review" in c.ready(cid) and c.case(cid)["status"] == "open"
    assert "复查申请期届满" not in c.timers(cid)
    [task] = _confirmations(c, cid)
    assert task["title"] == "确认期间届满：复查申请期届满" and task["roles"] == ["supervisor"]
    assert c.listed(cid, "expiry_confirmation", "supervisor") and not c.listed(cid, "expiry_confirmation", "petition")
    form = {f["id"]: f for f in c.get(f"/api/v1/tasks/{task['id']}", "supervisor")["form"]}
    assert form["ex_due"]["default"] == "2027-01-21 24:00" and "2027年国务院放假安排尚未公布" in form["ex_why"]["default"]
    assert all(not f["label"].isascii() for f in form.values())
    held = [e for e in c.events(cid) if e["type"] == "expiry_held"]
    assert len(held) == 1 and held[0]["payload"]["command"]["years"] == [2027]
    # more timers firing later do not take the held window along
    c.drain(china("2027-02-01", 9))
    assert "pt_await_review" in c.ready(cid)
    # not confirming is no answer
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", "supervisor").status_code == 200
    refused = c.post(f"/api/v1/tasks/{task['id']}/complete", "supervisor", {"data": {"ex_confirm": False}})
    assert refused.status_code == 422 and "ex_confirm" in refused.get_json()["details"]
    done = c.post(f"/api/v1/tasks/{task['id']}/complete", "supervisor",
                  {"data": {"ex_confirm": True, "ex_note": "已核对2027年放假安排（未公布），按推算日期届满"}})
    assert done.status_code == 200, done.get_json()
    assert "pt_await_review" not in c.ready(cid) and _confirmations(c, cid) == []
    assert c.case(cid)["data"]["final_stage"] == "reply"
    types = [e["type"] for e in c.events(cid)]
    assert "expiry_confirmed" in types and types.index("expiry_held") < types.index("expiry_confirmed")
    verified = c.get(f"/api/v1/cases/{cid}/verify", "auditor")
    assert verified["chain_ok"] and verified["replay_ok"], verified
    # the page says what happened, in Chinese
    ui_login(c.client, "director")
    page = c.client.get(f"/cases/{cid}").get_data(as_text=True)
    assert "期间届满待确认" in page and "期间届满已确认" in page


def test_a_request_registered_meanwhile_withdraws_the_confirmation(center):
    c = center
    cid = _window_in_2027(c)
    c.drain(china("2027-01-22", 9))
    assert len(_confirmations(c, cid)) == 1
    c.complete(cid, "pt_await_review", "petition", {"review_request_date": c.day(0), "review_reason": "不服答复",
                                                    "review_request_posted_date": "2027-01-14"})
    assert c.ready(cid) == ["pt_first_review"] and _confirmations(c, cid) == []
    verified = c.get(f"/api/v1/cases/{cid}/verify", "auditor")
    assert verified["chain_ok"] and verified["replay_ok"], verified


def test_entering_the_notice_re_arms_a_held_window_at_its_recomputed_moment(center, session, clock):
    c = center
    cid = _window_in_2027(c)
    c.drain(china("2027-01-22", 9))
    assert len(_confirmations(c, cid)) == 1
    _notice_entered(session, clock)  # 14–15 January are rest days: the window ends on the 18th, its timer the 25th
    [changed] = recompute_deadlines(session, 2027, SYSTEM)
    assert {(m.element, m.old, m.new.astimezone(CHINA_TZ).isoformat()) for m in changed.moved if m.kind == "timer"} == {
        ("复查申请期届满", None, end_of("2027-01-25"))}
    assert _confirmations(c, cid) == [] and c.timers(cid)["复查申请期届满"] == end_of("2027-01-25")
    c.drain(china("2027-01-26", 9))  # 2027 is known now: the window closes by itself
    assert "pt_await_review" not in c.ready(cid) and c.case(cid)["data"]["final_stage"] == "reply"
    verified = c.get(f"/api/v1/cases/{cid}/verify", "auditor")
    assert verified["chain_ok"] and verified["replay_ok"], verified


EXPIRY_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="expiry_prop" name="期间" isExecutable="true" camunda:candidateStarterGroups="mediator">
    <bpmn:startEvent id="s" />
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait" />
    <bpmn:userTask id="wait" name="等待申请" camunda:candidateGroups="mediator" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e" />
    <bpmn:boundaryEvent id="window" name="申请期届满" attachedToRef="wait">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="jiefen.expiry" value="{window}" /></camunda:properties></bpmn:extensionElements>
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDate>legal_days(30, '2026-12-15')</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="window" targetRef="e" />
    <bpmn:endEvent id="e" {end_props}/>
  </bpmn:process>
</bpmn:definitions>"""
END_MARKED = """><bpmn:extensionElements><camunda:properties>
        <camunda:property name="jiefen.expiry" value="party" /></camunda:properties></bpmn:extensionElements>
    </bpmn:endEvent"""


@pytest.mark.parametrize("window, end_props, element, words", [
    ("yes", "", "window", "use party"),
    ("party", END_MARKED, "e", "without a timer"),
])
def test_a_wrong_expiry_property_is_refused_at_deploy_naming_the_element(session, window, end_props, element, words):
    from engine.errors import ProcessDefinitionError
    from engine.services import processes

    xml = EXPIRY_BPMN.format(window=window, end_props=end_props.rstrip(">") if end_props else "").encode()
    if end_props:
        xml = xml.replace(b"<bpmn:endEvent id=\"e\" ", b"<bpmn:endEvent id=\"e\"").replace(b"</bpmn:endEvent/>", b"</bpmn:endEvent>")
    with pytest.raises(ProcessDefinitionError) as caught:
        processes.deploy(session, {"expiry_prop.bpmn": xml}, SYSTEM)
    problems = [p for p in caught.value.problems if p.element_id == element]
    assert problems and words in problems[0].message, caught.value.problems


# ---------------------------------------------------------------- a changed calendar file, noticed by the scheduler

NOTICE_TOML = """[years.2027]
holidays = ["2027-01-01", "2027-01-14", "2027-01-15", "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08"]
workdays = []
"""


def _edit(path, text: str, bump: int) -> None:
    """Save the calendar file as an operator would (its modification time moves on)."""
    path.write_text(text, encoding="utf-8")
    saved = (1_780_000_000 + bump) * 1_000_000_000  # a distinct moment per save, minutes ago
    os.utime(path, ns=(saved, saved))


def test_a_changed_calendar_file_is_recomputed_by_the_scheduler_once(center, session, clock, rt, tmp_path):
    c = center
    shipped = DEFAULT_CALENDAR_PATH.read_text(encoding="utf-8")
    assert "[years.2027]\nprovisional = true\n" in shipped
    path = tmp_path / "calendar.toml"
    path.write_text(shipped, encoding="utf-8")
    watched = CalendarFile(path, check_every=0)
    c.set_time(china("2026-12-15", 10))
    cid = accepted(c)
    replied(c, cid, "reject", "dissatisfied")
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2027-01-14")  # 2027 provisional
    # the scheduler starts: the years are stored as they are, nothing recomputed
    assert recompute_changed_years(session, owner="scheduler-a") == []
    assert session.get(CalendarYearModel, 2027).fingerprint == rt.calendar.fingerprint(2027)
    before = len(c.events(cid))
    assert not watched.refresh(rt, force=True)  # unchanged file: nothing reloaded

    # a tick after the notice was entered in the file: served, then recomputed once, recorded per case
    _edit(path, shipped.replace("[years.2027]\nprovisional = true\n", NOTICE_TOML), bump=1)
    assert watched.refresh(rt, force=True) and not rt.calendar.is_provisional(2027)
    assert watched.settled()
    just_saved = CalendarFile(DEFAULT_CALENDAR_PATH, check_every=10**9)
    assert not just_saved.settled()  # a file saved less than two check intervals ago waits for the next tick
    [done] = recompute_changed_years(session, owner="scheduler-a")
    assert done.year == 2027 and [case.case_id for case in done.cases] == [cid]
    assert c.timers(cid)["复查申请期届满"] == end_of("2027-01-25")  # (reads the case afresh)
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2027-01-18")
    [event] = c.events(cid)[before:]
    assert event["type"] == "deadlines_recomputed" and event["actor"] == "system"
    assert event["payload"]["command"]["reason"] == "2027年日历数据已变更（放假安排录入或调整），系统自动重新计算期限"
    row = session.get(CalendarYearModel, 2027)
    assert row.fingerprint == rt.calendar.fingerprint(2027) and row.claimed_by is None and row.recomputed_at
    # the next ticks (this scheduler or another) find nothing to do
    assert recompute_changed_years(session, owner="scheduler-b") == []
    assert len(c.events(cid)) == before + 1
    verified = c.get(f"/api/v1/cases/{cid}/verify", "auditor")
    assert verified["chain_ok"] and verified["replay_ok"], verified


def test_a_calendar_change_is_recomputed_by_one_scheduler_of_several(center, session, clock, rt, tmp_path):
    c = center
    shipped = DEFAULT_CALENDAR_PATH.read_text(encoding="utf-8")
    path = tmp_path / "calendar.toml"
    path.write_text(shipped, encoding="utf-8")
    watched = CalendarFile(path, check_every=0)
    c.set_time(china("2026-12-15", 10))
    cid = accepted(c)
    replied(c, cid, "reject", "dissatisfied")
    recompute_changed_years(session, owner="scheduler-a")
    before = len(c.events(cid))

    # a file that cannot be used is logged; the calendar in service stays, nothing is recomputed
    _edit(path, shipped + "\n[years.2027\n", bump=1)
    assert not watched.refresh(rt, force=True) and rt.calendar.is_provisional(2027)
    assert recompute_changed_years(session, owner="scheduler-a") == []

    _edit(path, shipped.replace("[years.2027]\nprovisional = true\n", NOTICE_TOML), bump=2)
    assert watched.refresh(rt, force=True)
    # scheduler B holds the year's row (its lease runs): A leaves the year alone
    held = wall_now() + timedelta(minutes=5)
    session.execute(update(CalendarYearModel).where(CalendarYearModel.year == 2027)
                    .values(claimed_by="scheduler-b", claimed_until=held))
    session.commit()
    assert recompute_changed_years(session, owner="scheduler-a") == []
    assert len(c.events(cid)) == before
    # B died half-way: when its lease ends, A claims the year and recomputes it
    [done] = recompute_changed_years(session, owner="scheduler-a", wall=lambda: held + timedelta(seconds=1))
    assert done.year == 2027 and [case.case_id for case in done.cases] == [cid]
    assert [e["type"] for e in c.events(cid)[before:]] == ["deadlines_recomputed"]
    assert recompute_changed_years(session, owner="scheduler-b") == []
