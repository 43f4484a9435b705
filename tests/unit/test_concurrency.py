"""Concurrency and crash safety: case codes, double completion, stale versions, crashes, parallel drains."""
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import Conflict, TaskFailed
from engine.models import CaseEventModel, CaseModel, TimerModel
from engine.services import cases, processes, tasks
from engine.services.cases import check_digit, valid_code
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES, ROOT, START
from tests.support.cases import INTAKE



def test_case_code_has_area_level_channel_year_sequence_and_check_digit(session, actor):
    case = cases.start_case(session, "small_mediation", {"channel": "phone"}, actor("clerk"))
    assert case.code[:6] == "330106" and case.code[6] == "1" and case.code[7] == "2"
    assert case.code[8:12] == "2026" and case.code[12:18] == "000001"
    assert valid_code(case.code) and not valid_code(case.code[:-1] + ("0" if case.code[-1] != "0" else "1"))
    assert check_digit("11010519491231002") == "X"  # the well-known ID-number example


def test_case_codes_never_repeat_under_concurrency(db_engine, session, directory):
    session.commit()
    from engine.services.users import load_actor
    codes, errors = [], []

    def open_many():
        with Session(db_engine, expire_on_commit=False, info=session.info) as own:
            clerk = load_actor(own, "clerk")
            for _ in range(8):
                try:
                    codes.append(cases.start_case(own, "small_mediation", {}, clerk).code)
                except Exception as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(exc)
                    own.rollback()

    threads = [threading.Thread(target=open_many) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(codes) == 48 and len(set(codes)) == 48
    assert sorted(int(c[12:18]) for c in codes) == list(range(1, 49))


def test_concurrent_completion_completes_once(db_engine, session, directory):
    from engine.services.users import load_actor
    case = cases.start_case(session, "small_mediation", {}, load_actor(session, "clerk"))
    [intake] = cases.open_tasks(session, case.id)
    results = []
    barrier = threading.Barrier(2)

    def complete():
        with Session(db_engine, expire_on_commit=False, info=session.info) as own:
            clerk = load_actor(own, "clerk")
            barrier.wait()
            try:
                tasks.complete_task(own, intake.id, INTAKE, clerk)
                results.append("ok")
            except Conflict:
                results.append("conflict")

    threads = [threading.Thread(target=complete) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict", "ok"]
    completed = session.scalar(select(func.count()).select_from(CaseEventModel).where(
        CaseEventModel.case_id == case.id, CaseEventModel.type == "task_completed"))
    assert completed == 1


def test_stale_lock_version_is_a_conflict(session, actor):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    seen = case.lock_version
    [intake] = cases.open_tasks(session, case.id)
    tasks.claim_task(session, intake.id, actor("clerk"))
    tasks.complete_task(session, intake.id, INTAKE, actor("clerk"), lock_version=seen)
    [mediate] = cases.open_tasks(session, case.id)
    with pytest.raises(Conflict):
        tasks.complete_task(session, mediate.id, {"result": "agreed"}, actor("mediator1"), lock_version=seen)


def test_failing_script_leaves_the_case_exactly_as_it_was(session, actor):
    xml = (FIXTURES / "engine" / "small_mediation.bpmn").read_bytes().replace(
        b"<bpmn:script>rounds = 1</bpmn:script>", b"<bpmn:script>rounds = 1 / 0</bpmn:script>")
    processes.deploy(session, {"small_mediation.bpmn": xml}, SYSTEM)
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    before = (case.workflow_json, case.lock_version, case.data)
    events_before = session.scalar(select(func.count()).select_from(CaseEventModel).where(CaseEventModel.case_id == case.id))
    [intake] = cases.open_tasks(session, case.id)
    with pytest.raises(TaskFailed) as info:
        tasks.complete_task(session, intake.id, INTAKE, actor("clerk"))
    assert info.value.details["element_id"] == "count" and "division by zero" in info.value.message
    session.rollback()
    session.expire_all()
    case = session.get(CaseModel, case.id)
    assert (case.workflow_json, case.lock_version, case.data) == before
    assert [t.id for t in cases.open_tasks(session, case.id)] == [intake.id]
    assert session.scalar(select(func.count()).select_from(CaseEventModel).where(CaseEventModel.case_id == case.id)) == events_before


def _due_cases(session, n):
    processes.deploy(session, {"timers.bpmn": (FIXTURES / "engine" / "timers.bpmn").read_bytes()}, SYSTEM)
    for _ in range(n):
        cases.start_case(session, "wait_p30d", {}, SYSTEM)


def _drain_process(url, now, mode="normal", lease_s=30):
    return subprocess.Popen([sys.executable, "-m", "tests.support.drain_worker", url, now.isoformat(), mode, str(lease_s)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_drain_processes_fire_every_timer_exactly_once(session, directory, database_url):
    # a few thousand on PostgreSQL (the production database); SQLite has one writer, fewer keep CI short
    n = 2000 if session.get_bind().dialect.name == "postgresql" else 400
    _due_cases(session, n)
    now = START + timedelta(days=31)
    workers = [_drain_process(database_url, now) for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    fired = [int(out.split("fired=")[1].split()[0]) for out, _err in outputs]
    assert sum(fired) == n, outputs
    per_case = session.execute(select(CaseEventModel.case_id, func.count()).where(
        CaseEventModel.type == "timer_fired").group_by(CaseEventModel.case_id)).all()
    assert len(per_case) == n and {count for _case, count in per_case} == {1}
    assert session.scalar(select(func.count()).select_from(TimerModel).where(
        TimerModel.kind == "bpmn", TimerModel.fired_at.is_(None))) == 0


def test_drain_killed_before_commit_fires_once_after_restart(session, directory, database_url):
    _due_cases(session, 3)
    now = START + timedelta(days=31)
    crashed = _drain_process(database_url, now, "crash-in-fire", lease_s=2)
    crashed.communicate(timeout=120)
    assert crashed.returncode == 3
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CaseEventModel).where(CaseEventModel.type == "timer_fired")) == 0
    # the claims are leased for seconds of real time (not until `now` + 5 minutes): a restart after the lease
    # fires each timer once
    deadline = session.scalar(select(func.max(TimerModel.claimed_until)))
    assert deadline <= datetime.now(timezone.utc) + timedelta(seconds=2)
    time.sleep(max(0.0, (deadline - datetime.now(timezone.utc)).total_seconds()) + 0.1)
    restarted = _drain_process(database_url, now, lease_s=2)
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    assert "fired=3" in out
    per_case = session.execute(select(CaseEventModel.case_id, func.count()).where(
        CaseEventModel.type == "timer_fired").group_by(CaseEventModel.case_id)).all()
    assert sorted(c for _id, c in per_case) == [1, 1, 1]
