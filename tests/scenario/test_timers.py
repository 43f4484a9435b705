"""Timers on a fixed clock: boundary (interrupting / not), intermediate, cycle, called process, event gateway,
and the supervision ladder — all fired through the durable timer index and the drain loop."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.models import CaseEventModel, TaskModel, TimerModel
from engine.services import cases, history, processes, tasks
from engine.services.timers import fire_due_timers, pending_timers
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES, START
from tests.support import PASSWORD
from tests.support.cases import registered



@pytest.fixture
def timer_processes(session, directory):
    processes.deploy(session, {"timers.bpmn": (FIXTURES / "engine" / "timers.bpmn").read_bytes()}, SYSTEM)


def drain(session, clock, moment):
    clock.set(moment)
    return fire_due_timers(session, moment)


def events_of(session, case_id, type_):
    return list(session.scalars(select(CaseEventModel).where(CaseEventModel.case_id == case_id,
                                                             CaseEventModel.type == type_)))


def at(text):
    return datetime.fromisoformat(text)


def _mediation_case(session, actor, clock):
    return registered(session, actor("clerk"))


def test_timer_rows_mirror_waiting_timers(session, actor, clock):
    case = _mediation_case(session, actor, clock)
    rows = {t.name: t for t in pending_timers(session, case.id) if t.kind == "bpmn"}
    # legal_days(30) from Monday 2026-03-02: day 30 is Wed 2026-04-01, ends 24:00 China time
    assert rows["调解期满"].due_at == at("2026-04-01T23:59:59+08:00")
    assert rows["调解提醒"].due_at == START + timedelta(days=25)


def test_interrupting_boundary_timer_moves_the_case_on(session, actor, clock):
    case = _mediation_case(session, actor, clock)
    drain(session, clock, at("2026-04-01T23:59:58+08:00"))
    assert len(events_of(session, case.id, "timer_fired")) == 1  # only the day-25 reminder so far
    assert [t.spec_name for t in cases.open_tasks(session, case.id) if t.kind == "bpmn"] == ["mediate"]
    result = drain(session, clock, at("2026-04-02T00:00:00+08:00"))
    assert result.fired == 1 and result.failed == 0
    session.expire_all()
    case = cases.get_case(session, case.id, SYSTEM)
    assert case.status == "closed" and case.outcome == "调解期满终止"
    assert cases.open_tasks(session, case.id) == []
    assert events_of(session, case.id, "task_cancelled")
    assert history.verify_case(session, case.id, SYSTEM).replay_ok


def test_non_interrupting_timer_reminds_and_keeps_the_task(session, actor, clock):
    case = _mediation_case(session, actor, clock)
    drain(session, clock, START + timedelta(days=25, seconds=1))
    session.expire_all()
    case = cases.get_case(session, case.id, SYSTEM)
    assert case.data.get("reminded") is True and case.status == "open"
    assert [t.spec_name for t in cases.open_tasks(session, case.id) if t.kind == "bpmn"] == ["mediate"]
    assert len(events_of(session, case.id, "timer_fired")) == 1
    assert history.verify_case(session, case.id, SYSTEM).replay_ok


def test_intermediate_p30d_waits_then_fires(session, clock, timer_processes):
    case = cases.start_case(session, "wait_p30d", {}, SYSTEM)
    assert cases.open_tasks(session, case.id) == []
    assert drain(session, clock, START + timedelta(days=29)).fired == 0
    assert drain(session, clock, START + timedelta(days=30, seconds=1)).fired == 1
    assert [t.spec_name for t in cases.open_tasks(session, case.id)] == ["w_task"]


def test_cycle_fires_its_count_and_stops(session, clock, timer_processes):
    case = cases.start_case(session, "cycle_reminders", {}, SYSTEM)
    fired = 0
    for minutes in (10, 20, 30, 40, 50):
        fired += drain(session, clock, START + timedelta(minutes=minutes, seconds=1)).fired
    session.expire_all()
    case = cases.get_case(session, case.id, SYSTEM)
    # the reminder branch runs beside the open task; its data ends with the branch, the firings are on record
    assert fired == 3 and len(events_of(session, case.id, "timer_fired")) == 3
    assert [t.spec_name for t in cases.open_tasks(session, case.id)] == ["c_work"]
    assert [t.kind for t in pending_timers(session, case.id)] == []
    assert history.verify_case(session, case.id, SYSTEM).replay_ok


def test_timer_inside_a_called_process_fires(session, clock, timer_processes):
    case = cases.start_case(session, "parent_calls_child", {}, SYSTEM)
    assert [t.spec_name for t in cases.open_tasks(session, case.id)] == ["ch_task"]
    assert [t.name for t in pending_timers(session, case.id)] == ["子任务超时"]
    assert drain(session, clock, START + timedelta(hours=1, seconds=1)).fired == 1
    assert [t.spec_name for t in cases.open_tasks(session, case.id)] == ["p_after"]
    assert history.verify_case(session, case.id, SYSTEM).replay_ok


def test_event_based_gateway_first_timer_wins(session, clock, timer_processes):
    case = cases.start_case(session, "race", {}, SYSTEM)
    assert [t.due_at for t in pending_timers(session, case.id)] == [START + timedelta(days=1)]
    drain(session, clock, START + timedelta(days=1, seconds=1))
    session.expire_all()
    case = cases.get_case(session, case.id, SYSTEM)
    assert case.status == "closed" and case.outcome == "短期先到"
    assert pending_timers(session, case.id) == []


def test_overdue_timers_fire_once_oldest_first_after_downtime(session, actor, clock, timer_processes):
    first = cases.start_case(session, "wait_p30d", {}, SYSTEM)
    clock.advance(days=1)
    second = cases.start_case(session, "wait_p30d", {}, SYSTEM)
    result = drain(session, clock, START + timedelta(days=90))  # the scheduler was down for weeks
    assert result.fired == 2
    order = [e.case_id for e in session.scalars(select(CaseEventModel).where(CaseEventModel.type == "timer_fired")
                                                .order_by(CaseEventModel.id))]
    assert order == [first.id, second.id]
    assert drain(session, clock, START + timedelta(days=91)).fired == 0


def test_supervision_ladder_steps_fire_in_order_and_stop_on_completion(session, actor, clock):
    case = _mediation_case(session, actor, clock)
    [task] = cases.open_tasks(session, case.id)
    # workdays(5) from Mon 2026-03-02: Mar 3, 4, 5, 6, 9 -> due Mon 2026-03-09 24:00
    assert task.due_at == at("2026-03-09T23:59:59+08:00")
    ladder = {t.ref.split(":")[1]: t.due_at for t in pending_timers(session, case.id) if t.kind == "ladder"}
    # 提示 at 3 days before falls on Fri 03-06 24:00, i.e. it would fire on Saturday: it moves to the end of
    # Sunday 03-08 and fires at the start of Monday (ladder steps fire on working days only)
    assert ladder == {"prompt": at("2026-03-08T23:59:59+08:00"), "reminder": at("2026-03-09T23:59:59+08:00"),
                      "notice": at("2026-03-10T23:59:59+08:00"), "listing": at("2026-03-16T23:59:59+08:00")}
    # the case page and the API hand in the task rows they read anyway: the same schedule
    given = pending_timers(session, case.id, cases.open_tasks(session, case.id))
    assert [(t.ref, t.due_at) for t in given] == [(t.ref, t.due_at) for t in pending_timers(session, case.id)]
    assert len([t for t in given if t.kind == "ladder"]) == 4

    def level_after(moment):
        drain(session, clock, moment)
        session.expire_all()
        return session.get(TaskModel, task.id).warning_level

    assert level_after(at("2026-03-08T23:59:58+08:00")) == 0  # nothing on Saturday or Sunday
    assert level_after(at("2026-03-09T00:00:00+08:00")) == 1
    assert level_after(at("2026-03-10T00:00:00+08:00")) == 2
    [reminder] = [t for t in cases.open_tasks(session, case.id) if t.kind == "supervision"]
    assert reminder.spec_name == "supervision_reminder" and reminder.roles == ["unit_head"]  # 催办: the unit head
    assert level_after(at("2026-03-11T00:00:00+08:00")) == 3
    [notice] = [t for t in cases.open_tasks(session, case.id) if t.spec_name == "supervision_notice"]
    assert notice.roles == ["unit_head"] and notice.title.startswith("督办单")
    assert notice.due_basis == "督办单须在2个工作日内书面答复"  # staff read the rule, not a reference to our docs
    assert tasks.list_tasks(session, actor("head")).total == 2  # the 催办 and the 督办单
    tasks.complete_task(session, notice.id, {"reason": "调解员外出", "measures": "已落实专人办理",
                                             "new_date": "2026-03-13"}, actor("head"))
    assert notice.id not in {t.id for t in cases.open_tasks(session, case.id)}
    assert tasks.list_tasks(session, actor("head")).total == 1  # its candidate row went with it
    [review] = [t for t in cases.open_tasks(session, case.id) if t.kind == "supervision" and t is not reminder]
    assert review.spec_name == "supervision_notice_review" and review.roles == ["supervisor"]
    tasks.complete_task(session, review.id, {"decision": "close"}, actor("super"))

    tasks.complete_task(session, task.id, {"result": "agreed"}, actor("mediator1"))
    assert [t for t in pending_timers(session, case.id) if t.kind == "ladder"] == []
    assert [t for t in cases.open_tasks(session, case.id) if t.kind == "supervision"] == []  # the 催办 closed
    assert [e.task_id for e in events_of(session, case.id, "reminder_closed")] == [reminder.id]
    assert tasks.list_tasks(session, actor("head")).total == 0
    assert drain(session, clock, at("2026-03-20T00:00:00+08:00")).fired == 0
    steps = [e.payload["step"] for e in events_of(session, case.id, "task_escalated")]
    assert steps == ["prompt", "reminder", "notice"]
    assert events_of(session, case.id, "supervision_answered")


def _ladder_rows(session, case_id):
    session.expire_all()
    rows = session.scalars(select(TimerModel).where(TimerModel.case_id == case_id, TimerModel.kind == "ladder")
                           .order_by(TimerModel.id))
    return [(row.ref.split(":")[1], row.fired_at is not None) for row in rows]


def test_only_the_next_ladder_step_has_a_timer_row(session, actor, clock):
    case = _mediation_case(session, actor, clock)
    assert _ladder_rows(session, case.id) == [("prompt", False)]
    # the case page still shows the whole ladder: the later steps are worked out, not stored
    assert [t.name for t in pending_timers(session, case.id) if t.kind == "ladder"] == [
        "提示：调解", "催办：调解", "督办：调解", "挂牌督办：调解"]
    drain(session, clock, at("2026-03-09T00:00:00+08:00"))
    assert _ladder_rows(session, case.id) == [("prompt", True), ("reminder", False)]
    drain(session, clock, at("2026-03-10T00:00:00+08:00"))
    assert _ladder_rows(session, case.id) == [("prompt", True), ("reminder", True), ("notice", False)]


def test_a_task_with_a_row_for_every_ladder_step_escalates_once_per_step(session, actor, clock):
    """Cases from before migration 0009 have a pending row for each step: each still fires once."""
    case = _mediation_case(session, actor, clock)
    [task] = [t for t in cases.open_tasks(session, case.id) if t.kind == "bpmn"]
    [prompt] = [t for t in pending_timers(session, case.id) if t.kind == "ladder" and t.ref.endswith(":prompt")]
    for step in pending_timers(session, case.id):
        if step.kind == "ladder" and step is not prompt:
            session.add(TimerModel(case_id=case.id, kind="ladder", name=step.name, ref=step.ref, due_at=step.due_at))
    session.commit()
    assert [name for name, _ in _ladder_rows(session, case.id)] == ["prompt", "reminder", "notice", "listing"]
    drain(session, clock, at("2026-03-17T00:00:00+08:00"))
    steps = [e.payload["step"] for e in events_of(session, case.id, "task_escalated")]
    assert steps == ["prompt", "reminder", "notice", "listing"]
    assert _ladder_rows(session, case.id) == [(name, True) for name in steps]
    assert session.get(TaskModel, task.id).warning_level == 4


def test_red_listing_asks_the_unit_at_fault_to_answer_and_the_supervision_desk_to_review(session, actor, clock):
    case = _mediation_case(session, actor, clock)
    drain(session, clock, at("2026-03-17T00:00:00+08:00"))
    session.expire_all()
    [task] = [t for t in cases.open_tasks(session, case.id) if t.kind == "bpmn"]
    assert task.warning_level == 4
    titles = sorted(t.title for t in cases.open_tasks(session, case.id) if t.kind == "supervision")
    assert titles == ["催办：调解", "挂牌督办：调解", "督办单：调解"]
    assert tasks.list_tasks(session, actor("head")).total == 3  # the unit's head records and answers them all
    assert tasks.list_tasks(session, actor("super")).total == 0  # the desk is never asked to write the answer
    [listing] = [t for t in cases.open_tasks(session, case.id) if t.spec_name == "supervision_listing"]
    tasks.complete_task(session, listing.id, {"reason": "案情复杂", "measures": "中心主任牵头会商",
                                              "new_date": "2026-03-20"}, actor("head"))
    assert [t.title for t in tasks.list_tasks(session, actor("super")).items] == ["挂牌督办审核：调解"]
    assert tasks.list_tasks(session, actor("mediator1"), overdue=True).total == 1


def test_the_follow_up_roles_come_from_the_ladder_settings(session, actor, clock, rt, directory):
    """config/org.toml [ladder.roles.<unit kind>] notice_role / listing_role name who answers the 督办单 and the
    挂牌督办 and who reviews the answers, for the kind of unit holding the late task (here the county center)."""
    rt.settings.ladder_roles = {"county": {"notice": "dept_head", "listing": "county_supervisor"},
                                "township": {"notice": "unit_head", "listing": "supervisor"}}
    directory.ensure_roles(session, {"dept_head": "部门负责人", "county_supervisor": "县级督办岗"})
    session.commit()
    directory.create_user(session, "depthead", PASSWORD, ["dept_head"])
    case = _mediation_case(session, actor, clock)
    drain(session, clock, at("2026-03-11T00:00:00+08:00"))  # 督办 (notice) fell on 2026-03-10 24:00
    [notice] = [t for t in cases.open_tasks(session, case.id) if t.spec_name == "supervision_notice"]
    [reminder] = [t for t in cases.open_tasks(session, case.id) if t.spec_name == "supervision_reminder"]
    assert notice.roles == reminder.roles == ["dept_head"]
    assert sorted(t.id for t in tasks.list_tasks(session, actor("depthead")).items) == sorted([notice.id, reminder.id])
    assert tasks.list_tasks(session, actor("head")).total == 0  # the default role no longer gets it
    drain(session, clock, at("2026-03-17T00:00:00+08:00"))  # 挂牌督办 (listing)
    listing = [t for t in cases.open_tasks(session, case.id) if t.spec_name == "supervision_listing"]
    assert [t.roles for t in listing] == [["dept_head"]]
    tasks.complete_task(session, listing[0].id, {"reason": "人手不足", "measures": "增派人员",
                                                 "new_date": "2026-03-20"}, actor("depthead"))
    [review] = [t for t in cases.open_tasks(session, case.id) if t.spec_name == "supervision_listing_review"]
    assert review.roles == ["county_supervisor"]
