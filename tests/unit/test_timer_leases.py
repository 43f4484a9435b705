"""Timer claims after a crash (security.md M3): due order per case, short leases on the real clock, renewal,
retries with back-off, incidents and what an operator does with them."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine import runtime
from engine.calendar import DEFAULT_CALENDAR_PATH
from engine.errors import Conflict, Forbidden, InvalidData, NotFound, TaskFailed
from engine.models import CaseEventModel, IncidentModel, TimerModel
from engine.services import cases, history, incidents, processes
from engine.services.timers import TimerPolicy, claim_due, fire_due_timers
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES, START

CATCH_UP = START + timedelta(minutes=5)  # every timer of a crash_order case is due
FAULT_DUE = START + timedelta(days=1000, seconds=1)  # calendar_fault's timer is due (a moment in 2028; its script needs 2100)


@pytest.fixture
def faults(session, directory):
    processes.deploy(session, {"timer_faults.bpmn": (FIXTURES / "engine" / "timer_faults.bpmn").read_bytes()}, SYSTEM)
    session.commit()


def wall_in(seconds: float):
    """A wall clock standing `seconds` from the real time (a lease that has or has not lapsed yet)."""
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return lambda: moment


def fired_timers(session, case_id: int) -> list[tuple[str, str]]:
    """(timer name, due_at) of the case's timer_fired events, in history order."""
    events = session.scalars(select(CaseEventModel).where(CaseEventModel.case_id == case_id,
                                                          CaseEventModel.type == "timer_fired")
                             .order_by(CaseEventModel.seq))
    return [(e.payload["command"]["timer"], e.payload["command"]["due_at"]) for e in events]


def test_timer_waits_while_an_earlier_timer_of_its_case_is_claimed_by_a_dead_drain(session, faults):
    case = cases.start_case(session, "crash_order", {}, SYSTEM)
    # A drain claims the case's first reminder and dies before firing it.
    assert len(claim_due(session, CATCH_UP, 1, "dead-drain")) == 1
    result = fire_due_timers(session, CATCH_UP, worker="second-drain")
    # The expiry is due too, but firing it would cancel the task and the reminders with it.
    assert result.fired == 0 and fired_timers(session, case.id) == []
    assert session.scalar(select(func.count()).select_from(TimerModel).where(
        TimerModel.case_id == case.id, TimerModel.fired_at.is_(None))) == 2


def test_a_dead_drains_claims_lapse_after_the_lease_and_every_timer_fires_in_due_order(session, faults):
    case = cases.start_case(session, "crash_order", {}, SYSTEM)
    claim_due(session, CATCH_UP, 1, "dead-drain")
    policy = TimerPolicy(lease=timedelta(seconds=30))
    assert fire_due_timers(session, CATCH_UP, worker="second-drain", policy=policy).fired == 0
    later = TimerPolicy(lease=timedelta(seconds=30), wall=wall_in(31))  # 31 s of real time later
    assert fire_due_timers(session, CATCH_UP, worker="second-drain", policy=later).fired == 4
    assert fired_timers(session, case.id) == [
        ("提醒", "2026-03-02T01:00:15+00:00"), ("提醒", "2026-03-02T01:00:30+00:00"),
        ("提醒", "2026-03-02T01:00:45+00:00"), ("期满", "2026-03-02T01:01:20+00:00")]
    check = history.verify_case(session, case.id, SYSTEM)
    assert check.chain_ok and check.replay_ok, check.problems


def test_claims_are_leased_on_the_real_clock_not_on_the_drains_now(session, faults):
    # `jiefen timers run-due --now <four weeks ahead>` killed mid-drain must not hold its claims four weeks.
    cases.start_case(session, "crash_order", {}, SYSTEM)
    future = datetime.now(timezone.utc) + timedelta(days=28)
    before = datetime.now(timezone.utc)
    [claimed] = claim_due(session, future, 1, "dead-drain")
    until = session.get(TimerModel, claimed).claimed_until
    assert before + timedelta(seconds=29) <= until <= datetime.now(timezone.utc) + timedelta(seconds=31)
    # a drain of the same future moment takes the row over once the lease has lapsed on the real clock
    assert fire_due_timers(session, future, worker="rerun", policy=TimerPolicy(wall=wall_in(31))).fired == 4


def test_a_drain_renews_its_lease_while_it_works(session, faults):
    for _ in range(4):
        cases.start_case(session, "crash_order", {}, SYSTEM)
    base = datetime.now(timezone.utc)
    ticks = itertools.count()
    policy = TimerPolicy(lease=timedelta(seconds=30), wall=lambda: base + timedelta(seconds=11 * next(ticks)))
    # The first batch: the four reminders and the four expiries; each firing takes "11 s" of wall time.
    fire_due_timers(session, CATCH_UP, batch=8, worker="slow-drain", policy=policy)
    leases = sorted(session.scalars(select(TimerModel.claimed_until).where(TimerModel.fired_at.is_not(None))))
    # Without renewal every row would carry the lease of its claim (base + 30 s) until it fired.
    assert leases[-1] > base + timedelta(seconds=60)


def test_a_failing_timer_is_retried_with_backoff_then_becomes_an_incident(session, faults):
    case = cases.start_case(session, "calendar_fault", {}, SYSTEM)
    base = datetime.now(timezone.utc)
    policy = lambda seconds: TimerPolicy(max_attempts=3, backoff=timedelta(seconds=30),  # noqa: E731
                                         wall=lambda: base + timedelta(seconds=seconds))
    first = fire_due_timers(session, FAULT_DUE, worker="d", policy=policy(0))
    assert (first.failed, first.incidents) == (1, 0)
    [row] = session.scalars(select(TimerModel).where(TimerModel.case_id == case.id))
    session.refresh(row)
    assert row.attempts == 1 and row.retry_at == base + timedelta(seconds=30) and "2100" in row.last_error
    assert fire_due_timers(session, FAULT_DUE, worker="d", policy=policy(29)).failed == 0  # backing off
    assert fire_due_timers(session, FAULT_DUE, worker="d", policy=policy(31)).failed == 1
    session.refresh(row)
    assert row.attempts == 2 and row.retry_at == base + timedelta(seconds=31 + 60)  # the back-off doubles
    assert fire_due_timers(session, FAULT_DUE, worker="d", policy=policy(90)).failed == 0
    third = fire_due_timers(session, FAULT_DUE, worker="d", policy=policy(92))
    assert (third.failed, third.incidents) == (1, 1)
    # an incident is never taken again by a drain, however late
    assert fire_due_timers(session, FAULT_DUE + timedelta(days=30), worker="d", policy=policy(86400)).failed == 0
    [incident] = incidents.list_incidents(session, SYSTEM)
    assert (incident.case_id, incident.timer_id, incident.name, incident.element_id, incident.attempts) == (
        case.id, row.id, "等待1000日", "cf_due", 3)
    assert "no holiday data for the year 2100" in incident.message and incident.resolved_at is None
    assert incident.created_at == base + timedelta(seconds=92)
    [event] = session.scalars(select(CaseEventModel).where(CaseEventModel.case_id == case.id,
                                                           CaseEventModel.type == "incident_opened"))
    assert event.payload["incident"] == incident.id and event.payload["element_id"] == "cf_due"
    check = history.verify_case(session, case.id, SYSTEM)
    assert check.chain_ok and check.replay_ok, check.problems


def _incident(session) -> IncidentModel:
    case = cases.start_case(session, "calendar_fault", {}, SYSTEM)
    policy = TimerPolicy(max_attempts=1)
    assert fire_due_timers(session, FAULT_DUE, worker="d", policy=policy).incidents == 1
    [incident] = incidents.list_incidents(session, SYSTEM)
    assert incident.case_id == case.id
    return incident


def test_retrying_an_incident_fires_the_timer_and_resolves_it_once_the_cause_is_fixed(session, faults, clock, actor):
    incident = _incident(session)
    clock.set(FAULT_DUE + timedelta(hours=2))
    with pytest.raises(Forbidden):
        incidents.retry_incident(session, incident.id, actor("mediator1"))
    with pytest.raises(TaskFailed):
        incidents.retry_incident(session, incident.id, actor("admin"))
    session.expire_all()
    incident = session.get(IncidentModel, incident.id)
    assert incident.resolved_at is None and incident.attempts == 2
    # the operator adds the year to the calendar (config/calendar.toml) and restarts
    settings = runtime.EngineSettings.from_files(None, str(DEFAULT_CALENDAR_PATH))
    settings.calendar_overrides.setdefault("years", {})["2100"] = {"provisional": True}
    runtime.bind(session, runtime.Runtime(settings, clock))
    incidents.retry_incident(session, incident.id, actor("admin"), note="2100 added to the calendar")
    session.expire_all()
    incident = session.get(IncidentModel, incident.id)
    assert (incident.resolution, incident.resolved_by, incident.note) == ("retried", "admin", "2100 added to the calendar")
    assert incidents.list_incidents(session, SYSTEM) == [] and incidents.case_incidents(session, incident.case_id) == []
    assert [t.spec_name for t in cases.open_tasks(session, incident.case_id)] == ["cf_reply"]
    types = [(e.type, e.actor) for e in history.list_events(session, incident.case_id, SYSTEM)]
    assert types[-3:] == [("timer_fired", "admin"), ("task_opened", "system"), ("incident_resolved", "admin")]
    check = history.verify_case(session, incident.case_id, SYSTEM)
    assert check.chain_ok and check.replay_ok, check.problems
    with pytest.raises(Conflict):
        incidents.retry_incident(session, incident.id, actor("admin"))


def test_resolving_an_incident_dismisses_its_timer_with_a_note(session, faults, actor):
    incident = _incident(session)
    with pytest.raises(NotFound):
        incidents.resolve_incident(session, incident.id + 1, actor("admin"), "no such incident")
    with pytest.raises(InvalidData):
        incidents.resolve_incident(session, incident.id, actor("admin"), "  ")
    incidents.resolve_incident(session, incident.id, actor("admin"), "当事人撤回申请，案件另行办结")
    session.expire_all()
    assert session.get(IncidentModel, incident.id).resolution == "resolved"
    assert session.get(TimerModel, incident.timer_id).fired_at is not None
    assert fire_due_timers(session, FAULT_DUE + timedelta(days=1), worker="d").fired == 0
    [event] = [e for e in history.list_events(session, incident.case_id, SYSTEM) if e.type == "incident_resolved"]
    assert event.actor == "admin" and event.payload["note"] == "当事人撤回申请，案件另行办结"
    assert history.verify_case(session, incident.case_id, SYSTEM).chain_ok
    with pytest.raises(Conflict):
        incidents.resolve_incident(session, incident.id, actor("admin"), "again")


def test_an_incident_does_not_hold_back_the_other_timers_of_its_case(session, faults):
    # Camunda 7: a job without retries is not acquired; the case's other timers go on.
    case = cases.start_case(session, "crash_order", {}, SYSTEM)
    first = session.scalar(select(TimerModel).where(TimerModel.case_id == case.id).order_by(TimerModel.due_at))
    first.incident = True
    session.commit()
    result = fire_due_timers(session, CATCH_UP, worker="d")
    assert result.fired == 1 and [name for name, _due in fired_timers(session, case.id)] == ["期满"]
