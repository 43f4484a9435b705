"""Section 4: timers — an idle tick with many pending, then many timers due at once drained by `jiefen scheduler`."""
from __future__ import annotations

import bisect
import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update
from bench.common import Session

from bench import clone
from bench.common import (stop_process, LIFECYCLE_PROCESS, ROOT, TIMER_PROCESS, WORK, Target, actor, analyze, bench_files,
                          configure_runtime, fresh_database, log, ms_since, org_units, rnd, setup_directory,
                          summary)
from engine.models import CaseModel, TaskModel, TimerModel
from engine.services import cases
from engine.services.timers import fire_due_timers, next_due


def _event_value(workflow_json: str) -> str:
    """The due moment SpiffWorkflow stored for the waiting timer (internal_data.event_value)."""
    doc = json.loads(workflow_json)
    for task in doc["tasks"].values():
        value = (task.get("internal_data") or {}).get("event_value")
        if isinstance(value, str):
            return value
    raise RuntimeError("no waiting timer in the template case")


def idle_ticks(engine, reps: int) -> dict:
    """One scheduler pass with nothing due: claim (finds nothing), commit, and read the next due moment."""
    times = []
    for _ in range(reps):
        now = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        with Session(engine) as s:
            result = fire_due_timers(s, now)
            next_due(s)
        times.append(ms_since(t0))
        assert result.fired == 0 and result.failed == 0, result
    return summary(times)


def _start_scheduler(url: str, log_path):
    env = dict(os.environ)
    env.update({"DATABASE_URL": url, "JIEFEN_DATABASE_URL": url, "JIEFEN_SECRET_KEY": "bench-only-secret-key",
                "PYTHONUNBUFFERED": "1"})
    fh = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "jiefen_cli", "scheduler"], cwd=ROOT, env=env, stdout=fh,
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, fh


CANARY_REF = "bench-canary:prompt"


def _add_canary(engine, case_id: int, due_at: datetime) -> int:
    """A supervision-ladder row whose task does not exist, due before the timers measured: the scheduler's
    first pass fires it first and does nothing else, which tells the bench the scheduler is up (whatever its
    log level), even when the scheduler came up after the due moment. Returns its id."""
    with engine.begin() as conn:
        return conn.execute(TimerModel.__table__.insert().values(
            case_id=case_id, kind="ladder", name="bench canary", ref=CANARY_REF,
            due_at=min(due_at, datetime.now(timezone.utc)) - timedelta(seconds=1))).inserted_primary_key[0]


def _wait_ready(engine, proc, canary_id: int, timeout: float) -> float | None:
    """Wall time at which the scheduler had fired the canary (None if it did not within timeout)."""
    deadline = time.time() + timeout
    fired_q = select(TimerModel.fired_at).where(TimerModel.id == canary_id)  # by key: no scan beside the drain
    while time.time() < deadline:
        if proc.poll() is not None:
            return None
        with engine.connect() as conn:
            if conn.execute(fired_q).scalar() is not None:
                return time.time()
        time.sleep(0.05)
    return None


def _lateness_from_curve(curve: list[tuple[float, int]], due_wall: float, total: int, q: float) -> float | None:
    """Seconds after the due moment at which q% of the timers had fired, interpolated between polls."""
    goal = total * q / 100.0
    prev_t, prev_n = due_wall, 0
    for t, n in curve:
        if n >= goal:
            if n == prev_n:
                return t - due_wall
            return prev_t - due_wall + (t - prev_t) * (goal - prev_n) / (n - prev_n)
        prev_t, prev_n = t, n
    return None


def _rate_by_minute(curve: list[tuple[float, int]], due_wall: float) -> list[float]:
    """Timers fired per second in each whole minute after the due moment (a drain that slows down as it goes
    shows here, where the overall rate hides it); the last, partial minute is left out."""
    rates, start, start_n = [], due_wall, 0
    for t, n in curve:
        if t - start >= 60:
            rates.append(rnd((n - start_n) / (t - start)))
            start, start_n = t, n
    return rates


def run(target: Target, cfg, results: dict) -> None:
    rng = random.Random(4242)
    configure_runtime()
    engine, url = fresh_database(target, "timers")
    units = [code for code, *_ in org_units(cfg.townships, 0)] or ["330106000"]
    with Session(engine, expire_on_commit=False) as s:
        setup_directory(s, bench_files(), cfg.townships, 0)
        who = actor(s, "bench_all")
    # templates: real cases waiting on their timer, opened through start_case
    template_ids = []
    for i in range(cfg.timer_templates):
        with Session(engine, expire_on_commit=False) as s:
            template_ids.append(cases.start_case(s, TIMER_PROCESS, {}, who, org_unit=units[i % len(units)]).id)
    # holders of the idle timers: a few cases nobody touches during the drain
    holders = []
    for i in range(4):
        with Session(engine, expire_on_commit=False) as s:
            holders.append(cases.start_case(s, LIFECYCLE_PROCESS, {}, who, org_unit=units[0]).id)
    with Session(engine) as s:
        template_json = s.scalar(select(CaseModel.workflow_json).where(CaseModel.id == template_ids[0]))
        old_due = s.scalar(select(TimerModel.due_at).where(TimerModel.case_id == template_ids[0],
                                                           TimerModel.kind == "bpmn"))
    old_value = _event_value(template_json)
    # every template was opened at a slightly different moment: give them all the first one's due moment
    with engine.begin() as conn:
        for cid in template_ids[1:]:
            row = conn.execute(select(CaseModel.workflow_json).where(CaseModel.id == cid)).scalar()
            conn.execute(update(CaseModel).where(CaseModel.id == cid)
                         .values(workflow_json=row.replace(_event_value(row), old_value)))
        conn.execute(update(TimerModel).where(TimerModel.case_id.in_(template_ids), TimerModel.kind == "bpmn")
                     .values(due_at=old_due))
    t0 = time.perf_counter()
    clone.clone_cases(engine, template_ids, cfg.timers_due + len(holders), rng, shift=False, chunk=cfg.clone_chunk)
    with Session(engine) as s:
        due_rows = s.scalar(select(func.count()).select_from(TimerModel).where(TimerModel.due_at == old_due))
    extra = max(cfg.timers_pending - due_rows, 0)
    log(f"timers: {due_rows:,} timers to fall due together; adding {extra:,} far-future pending timers")
    clone.add_pending_timers(engine, holders, extra, rng, datetime.now(timezone.utc))
    analyze(engine)
    load_s = time.perf_counter() - t0
    with Session(engine) as s:
        pending = s.scalar(select(func.count()).select_from(TimerModel).where(TimerModel.fired_at.is_(None)))
    log(f"timers: idle tick with {pending:,} pending, nothing due")
    idle = idle_ticks(engine, cfg.idle_reps)

    # move the due moment of the waiting timers (rows and workflow JSON alike) to shortly after the scheduler starts
    due_at = datetime.now(timezone.utc) + timedelta(seconds=cfg.timer_margin_s)
    due_at = due_at.replace(microsecond=0)
    new_value = due_at.isoformat()
    with engine.begin() as conn:
        conn.execute(update(TimerModel).where(TimerModel.due_at == old_due).values(due_at=due_at))
        conn.execute(update(CaseModel).where(CaseModel.process_id == TIMER_PROCESS)
                     .values(workflow_json=func.replace(CaseModel.workflow_json, old_value, new_value)))
    due_wall = due_at.timestamp()
    log_path = WORK / "scheduler.log"
    canary_id = _add_canary(engine, holders[0], due_at)
    engine.dispose()
    from engine.db import make_engine
    poll_engine = make_engine(url)
    fired_q = select(func.count()).select_from(TimerModel).where(TimerModel.fired_at.is_not(None),
                                                                 TimerModel.kind == "bpmn")
    # Polled: the first due row not fired yet. The drain claims and fires in (due_at, id) order and every due
    # row has the same due_at, so exactly the rows before it have fired. One index seek; counting the rows
    # left instead read each one's table row, four times a second, taking server time from the drain it
    # measured. A row that failed is backing off or an incident, and skipped (the end counts fired rows exactly).
    with poll_engine.connect() as conn:
        due_ids = list(conn.execute(select(TimerModel.id).where(TimerModel.due_at == due_at, TimerModel.kind == "bpmn")
                                    .order_by(TimerModel.id)).scalars())
    first_q = select(func.min(TimerModel.id)).where(
        TimerModel.fired_at.is_(None), TimerModel.due_at == due_at, TimerModel.kind == "bpmn",
        TimerModel.attempts == 0)
    proc, fh = _start_scheduler(url, log_path)
    curve: list[tuple[float, int]] = []
    ready = None
    try:
        ready = _wait_ready(poll_engine, proc, canary_id, timeout=cfg.timer_margin_s + 30)
        if ready is None:
            raise RuntimeError(f"the scheduler did not start; see {log_path}")
        if ready > due_wall:
            log(f"timers: WARNING the scheduler came up {ready - due_wall:.1f}s after the due moment")
        deadline = due_wall + cfg.timer_drain_deadline_s
        last_change = time.time()
        last_n = -1
        while time.time() < deadline:
            with poll_engine.connect() as conn:
                first = conn.execute(first_q).scalar()
            n = due_rows if first is None else bisect.bisect_left(due_ids, first)
            now_wall = time.time()
            curve.append((now_wall, n))
            if n >= due_rows:
                break
            if n != last_n:
                last_n, last_change = n, now_wall
            elif now_wall > due_wall + 5 and now_wall - last_change > 30:
                log("timers: no progress for 30 s; stopping")
                break
            if proc.poll() is not None:
                log("timers: the scheduler exited")
                break
            time.sleep(cfg.timer_poll_s)
    finally:
        stop_process(proc, fh)
    with poll_engine.connect() as conn:
        fired = conn.execute(fired_q).scalar()
        failed = conn.execute(select(func.count()).select_from(TimerModel).where(TimerModel.attempts > 0)).scalar()
        follow_ups = conn.execute(select(func.count()).select_from(TaskModel).where(TaskModel.process_id == TIMER_PROCESS)).scalar()
    poll_engine.dispose()
    firing = [(t, n) for t, n in curve if n > 0]
    done_t = next((t for t, n in curve if n >= due_rows), curve[-1][0] if curve else None)
    first_t = firing[0][0] if firing else None
    results["timers"] = {
        "due_together": due_rows, "fired": fired, "failed": failed, "follow_up_tasks_opened": follow_ups,
        "pending_for_idle_tick": pending, "load_seconds": round(load_s, 1),
        "idle_tick": idle,
        "drain_seconds": rnd(done_t - due_wall) if done_t else None,
        "drain_per_s": rnd(fired / (done_t - due_wall)) if done_t and done_t > due_wall else None,
        "lateness_ms": {f"p{q}": rnd(1000 * v) if (v := _lateness_from_curve(curve, due_wall, due_rows, q)) is not None
                        else None for q in (50, 90, 99)},
        "drain_per_s_by_minute": _rate_by_minute(curve, due_wall),
        "first_fired_after_ms": rnd(1000 * (first_t - due_wall)) if first_t else None,
        "scheduler_ready_before_due_s": rnd(due_wall - ready) if ready else None,
        "poll_interval_s": cfg.timer_poll_s, "batch": int(os.environ.get("JIEFEN_TIMER_BATCH", "200")),
        "scheduler_log": str(log_path.relative_to(ROOT)),
    }
