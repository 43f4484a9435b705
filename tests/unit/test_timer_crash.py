"""kill -9 of a `jiefen scheduler` in the middle of a drain of a few thousand timers, then a restart: every timer
fires exactly once and in due order per case, and every case's history verifies (security.md M3, issue 15 §4)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from engine.models import CaseEventModel, CaseModel, TimerModel
from engine.services import cases, history, processes
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES, ROOT, START

LEASE_S = 3
# crash_order: reminders due 15, 30 and 45 s after opening, then the expiry at 80 s that cancels the task
EXPECTED = [("提醒", START + timedelta(seconds=15)), ("提醒", START + timedelta(seconds=30)),
            ("提醒", START + timedelta(seconds=45)), ("期满", START + timedelta(seconds=80))]


def _scheduler(database_url: str, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")}
    env.update({"DATABASE_URL": database_url, "JIEFEN_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT),
                "JIEFEN_SECRET_KEY": "crash-test-secret-key", "JIEFEN_SCHEDULER_INTERVAL": "1",
                "JIEFEN_TIMER_LEASE_SECONDS": str(LEASE_S), "JIEFEN_TIMER_BATCH": "100",
                "JIEFEN_LOG_LEVEL": "WARNING"})
    return subprocess.Popen([sys.executable, "-m", "jiefen_cli", "scheduler"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _count(session, *where) -> int:
    session.rollback()  # a fresh snapshot each poll
    return session.scalar(select(func.count()).select_from(TimerModel).where(*where))


def test_scheduler_killed_mid_drain_every_timer_fires_once_in_due_order(session, directory, database_url, tmp_path):
    # a few thousand firings on PostgreSQL (the production database); SQLite has one writer, fewer keep CI short
    n = 500 if session.get_bind().dialect.name == "postgresql" else 120
    processes.deploy(session, {"timer_faults.bpmn": (FIXTURES / "engine" / "timer_faults.bpmn").read_bytes()}, SYSTEM)
    for _ in range(n):
        cases.start_case(session, "crash_order", {}, SYSTEM)  # opened at START, long ago in real time: all due
    total = n * len(EXPECTED)
    log_path = tmp_path / "scheduler.log"
    log = log_path.open("a")

    first = _scheduler(database_url, log)
    try:
        deadline = time.monotonic() + 120
        # a quarter fired, and claims held: killed in the middle of a batch, not between two
        while (_count(session, TimerModel.fired_at.is_not(None)) < total // 4 + 37
               or not _count(session, TimerModel.fired_at.is_(None), TimerModel.claimed_until > _now())):
            assert first.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
    finally:
        first.kill()  # SIGKILL: no clean-up of any kind
        first.wait()
    killed_at = _now()
    held = _count(session, TimerModel.fired_at.is_(None), TimerModel.claimed_until > killed_at)
    fired_before = _count(session, TimerModel.fired_at.is_not(None))
    assert held > 0 and fired_before < total, (held, fired_before)

    second = _scheduler(database_url, log)
    try:
        # ~15 s on an idle machine (PostgreSQL); generous, as the lease is what the old code failed on (5 min)
        deadline = time.monotonic() + 240
        while _count(session, TimerModel.fired_at.is_(None)) and time.monotonic() < deadline:
            assert second.poll() is None, log_path.read_text()
            time.sleep(0.2)
    finally:
        second.terminate()
        second.wait(timeout=30)
        log.close()

    assert _count(session, TimerModel.fired_at.is_(None)) == 0
    assert _count(session, TimerModel.fired_at.is_not(None)) == total
    fired = {}
    for case_id, payload in session.execute(select(CaseEventModel.case_id, CaseEventModel.payload).where(
            CaseEventModel.type == "timer_fired").order_by(CaseEventModel.case_id, CaseEventModel.seq)):
        fired.setdefault(case_id, []).append((payload["command"]["timer"],
                                              datetime.fromisoformat(payload["command"]["due_at"])))
    expected = [(name, due.astimezone(timezone.utc)) for name, due in EXPECTED]
    wrong = {case_id: got for case_id, got in fired.items() if got != expected}
    assert len(fired) == n and not wrong, f"{len(wrong)} cases fired otherwise, e.g. {next(iter(wrong.items()), None)}"
    assert session.scalar(select(func.count()).select_from(CaseModel).where(CaseModel.status != "closed")) == 0
    for case_id in fired:
        check = history.verify_case(session, case_id, SYSTEM)
        assert check.chain_ok and check.replay_ok, (case_id, check.problems)
