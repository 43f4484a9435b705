"""Section 1: the mediation lifecycle three ways — jiefen services, bare SpiffWorkflow, bpmn-engine (npm)."""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench.common import (INTAKE_DATA, LIFECYCLE_PROCESS, MEDIATE_DATA, PROCESSES, WORK, Target, actor,
                          bench_files, configure_runtime, fresh_database, log, ms_since, rnd, setup_directory,
                          summary)

STEPS = ("start", "intake", "mediate")
BPMN_FILE = PROCESSES / "bench_mediation.bpmn"

# bpmn-engine and the moddle extension it needs for camunda:* attributes, pinned for repeatable runs.
NODE_PACKAGES = {"bpmn-engine": "25.0.1", "camunda-bpmn-moddle": "8.0.1"}
NODE_DIR = WORK / "node"


def _report(step_times: list[list[float]], extra: dict | None = None) -> dict:
    """Per-step and whole-lifecycle statistics from a list of [start, intake, mediate] step times (ms)."""
    totals = [sum(t) for t in step_times]
    out = {"lifecycles": len(step_times),
           "steps": {name: summary([t[i] for t in step_times]) for i, name in enumerate(STEPS)},
           "lifecycle": summary(totals),
           "lifecycles_per_s": rnd(len(totals) / (sum(totals) / 1000.0)) if totals else None}
    out.update(extra or {})
    return out


# ---------------------------------------------------------------- (a) jiefen through its services

def prepare_jiefen(target: Target, name: str = "lifecycle"):
    """A fresh database with the bench processes deployed and the lifecycle's users."""
    from bench.common import Session

    configure_runtime()
    engine, url = fresh_database(target, name)
    with Session(engine, expire_on_commit=False) as session:
        setup_directory(session, bench_files(), users_={"clerk": ["intake_clerk"], "mediator1": ["mediator"],
                                                        "revisit1": ["revisit_staff"]})
    return engine, url


def jiefen_lifecycle_once(engine, clerk, mediator) -> tuple[list[float], int, int]:
    """One lifecycle, one session and one transaction per command (as a web request would do it).

    Returns the three step times (ms), the case id and the workflow JSON size after intake (bytes)."""
    from sqlalchemy import select
    from bench.common import Session

    from engine.models import CaseModel, TaskModel
    from engine.services import cases, tasks

    times = []
    t0 = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        case_id = cases.start_case(s, LIFECYCLE_PROCESS, {}, clerk).id
    times.append(ms_since(t0))
    with Session(engine) as s:  # the task id, as the task list would show it (not timed)
        intake_id = s.scalar(select(TaskModel.id).where(TaskModel.case_id == case_id))
    t0 = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        tasks.complete_task(s, intake_id, dict(INTAKE_DATA), clerk)
    times.append(ms_since(t0))
    with Session(engine) as s:
        mediate_id = s.scalar(select(TaskModel.id).where(TaskModel.case_id == case_id))
        state_bytes = len(s.scalar(select(CaseModel.workflow_json).where(CaseModel.id == case_id)).encode("utf-8"))
    t0 = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        case = tasks.complete_task(s, mediate_id, dict(MEDIATE_DATA), mediator)
        assert case.status == "closed", case.status
    times.append(ms_since(t0))
    return times, case_id, state_bytes


def statements_per_step(engine, clerk, mediator) -> dict:
    """SQL statements each command of one more lifecycle sends (a diagnostic for the optimisation work)."""
    from sqlalchemy import event, select
    from bench.common import Session

    from engine.models import TaskModel
    from engine.services import cases, tasks

    counter = [0]

    def count(*_args):
        counter[0] += 1

    def open_task(case_id):
        with Session(engine) as s:
            return s.scalar(select(TaskModel.id).where(TaskModel.case_id == case_id))

    steps = {}
    event.listen(engine, "before_cursor_execute", count)
    try:
        counter[0] = 0
        with Session(engine, expire_on_commit=False) as s:
            case_id = cases.start_case(s, LIFECYCLE_PROCESS, {}, clerk).id
        steps["start"] = counter[0]
        for name, data, who in (("intake", INTAKE_DATA, clerk), ("mediate", MEDIATE_DATA, mediator)):
            task_id = open_task(case_id)
            counter[0] = 0
            with Session(engine, expire_on_commit=False) as s:
                tasks.complete_task(s, task_id, dict(data), who)
            steps[name] = counter[0]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return steps


class JiefenRunner:
    """jiefen lifecycles on one database, run in batches (see `run`: the engines take turns)."""

    def __init__(self, target: Target):
        from bench.common import Session

        self.target = target
        self.engine, _url = prepare_jiefen(target, f"lifecycle_{target.dialect}")
        with Session(self.engine) as s:
            self.clerk, self.mediator = actor(s, "clerk"), actor(s, "mediator1")
        self.step_times: list[list[float]] = []
        self.state_bytes = None
        self.case_id = None

    def batch(self, n: int, warmup: int, stop_at: float) -> None:
        for i in range(warmup + n):
            times, self.case_id, state_bytes = jiefen_lifecycle_once(self.engine, self.clerk, self.mediator)
            if i >= warmup:
                self.step_times.append(times)
                self.state_bytes = state_bytes
            if time.perf_counter() > stop_at:
                log(f"lifecycle (jiefen, {self.target.dialect}): time bound reached")
                break

    def report(self) -> dict:
        from sqlalchemy import func, select
        from bench.common import Session

        from engine.models import CaseEventModel, CaseModel

        with Session(self.engine) as s:
            closed_json = s.scalar(select(CaseModel.workflow_json).where(CaseModel.id == self.case_id))
            events = s.scalar(select(func.count()).select_from(CaseEventModel)
                              .where(CaseEventModel.case_id == self.case_id))
        statements = statements_per_step(self.engine, self.clerk, self.mediator)
        self.engine.dispose()
        return _report(self.step_times, {
            "database": self.target.dialect, "state_bytes_after_intake": self.state_bytes,
            "state_bytes_closed": len(closed_json.encode("utf-8")), "events_per_lifecycle": events,
            "sql_statements_per_step": statements})


# ---------------------------------------------------------------- (b) bare SpiffWorkflow in memory

def _raw_spec():
    from SpiffWorkflow.camunda.parser import CamundaParser

    parser = CamundaParser()
    parser.add_bpmn_file(str(BPMN_FILE))
    return parser.get_spec(LIFECYCLE_PROCESS), parser.get_subprocess_specs(LIFECYCLE_PROCESS)


class RawSpiffRunner:
    """Stock SpiffWorkflow 3.2: CamundaParser once, a new BpmnWorkflow per lifecycle, default script engine.

    with_state: also serialize the workflow after every step with the stock serializer (CAMUNDA_CONFIG;
    it embeds the spec in every document), the closest equivalent of bpmn-engine's getState()."""

    def __init__(self, with_state: bool = False):
        from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
        from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

        t0 = time.perf_counter()
        self.spec, self.subs = _raw_spec()
        self.parse_ms = ms_since(t0)
        self.with_state = with_state
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG)) if with_state else None
        self.step_times: list[list[float]] = []
        self.sizes: list[int] = []

    def batch(self, n: int, warmup: int, stop_at: float) -> None:
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        serializer = self.serializer
        for i in range(warmup + n):
            times, state = [], []
            t0 = time.perf_counter()
            wf = BpmnWorkflow(self.spec, self.subs)
            wf.do_engine_steps()
            if serializer:
                state.append(len(serializer.serialize_json(wf)))
            times.append(ms_since(t0))
            for name, data in (("intake", INTAKE_DATA), ("mediate", MEDIATE_DATA)):
                t0 = time.perf_counter()
                [task] = wf.get_tasks(state=TaskState.READY, manual=True)
                assert task.task_spec.name == name, task.task_spec.name
                task.data.update(data)
                task.run()
                wf.do_engine_steps()
                if serializer:
                    state.append(len(serializer.serialize_json(wf)))
                times.append(ms_since(t0))
            assert wf.completed
            if i >= warmup:
                self.step_times.append(times)
                self.sizes = state
            if time.perf_counter() > stop_at:
                break

    def report(self) -> dict:
        extra = {"parse_ms": rnd(self.parse_ms), "serialized_each_step": self.with_state}
        if self.with_state and self.sizes:
            extra["state_bytes_per_step"] = self.sizes
            extra["state_bytes_after_intake"] = self.sizes[1]
        return _report(self.step_times, extra)


# ---------------------------------------------------------------- (c) bpmn-engine on Node

def ensure_bpmn_engine() -> tuple[Path | None, str | None]:
    """Install bpmn-engine into bench/.work/node (ignored) once; (driver path, None) or (None, why skipped)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None, "Node.js/npm not found on PATH"
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {"name": "jiefen-bench-node", "private": True, "description": "installed by bench/run.py",
              "dependencies": NODE_PACKAGES}
    manifest = NODE_DIR / "package.json"
    installed = True
    for pkg, version in NODE_PACKAGES.items():
        meta = NODE_DIR / "node_modules" / pkg / "package.json"
        if not meta.exists() or json.loads(meta.read_text()).get("version") != version:
            installed = False
    if not installed:
        manifest.write_text(json.dumps(wanted, indent=2) + "\n")
        log("installing bpmn-engine with npm into bench/.work/node …")
        try:
            proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                                  capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return None, "npm install timed out"
        if proc.returncode != 0:
            return None, f"npm install failed: {proc.stderr.strip()[-500:]}"
    driver = NODE_DIR / "driver.mjs"
    shutil.copyfile(Path(__file__).with_name("bpmn_engine_driver.mjs"), driver)
    return driver, None


class BpmnEngineRunner:
    """bpmn-engine lifecycles: one Node process per batch, each parsing the BPMN once and warming up first."""

    def __init__(self):
        self.driver, self.skipped = ensure_bpmn_engine()
        if self.driver is None:
            log(f"bpmn-engine skipped: {self.skipped}")
        self.step_times: list[list[float]] = []
        self.meta: dict = {}

    def batch(self, n: int, warmup: int, stop_at: float) -> None:
        if self.driver is None:
            return
        steps = [{"task": "intake", "data": INTAKE_DATA}, {"task": "mediate", "data": MEDIATE_DATA}]
        left_ms = max(int((stop_at - time.perf_counter()) * 1000), 1000)
        cmd = ["node", str(self.driver), "--bpmn", str(BPMN_FILE), "--n", str(n), "--warmup", str(max(warmup, 20)),
               "--steps", json.dumps(steps, ensure_ascii=False), "--deadline-ms", str(left_ms)]
        try:
            proc = subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, timeout=left_ms / 1000 + 120)
        except subprocess.TimeoutExpired:
            self.driver, self.skipped = None, "the bpmn-engine driver timed out"
            return
        if proc.returncode != 0:
            err = proc.stderr.strip()
            log(f"bpmn-engine driver failed: {err[-800:]}")
            self.driver, self.skipped = None, f"driver failed: {err.splitlines()[-1] if err else proc.returncode}"
            return
        data = json.loads(proc.stdout)
        self.step_times.extend(data.pop("step_times_ms"))
        self.meta = data

    def report(self) -> dict:
        if self.driver is None or not self.step_times:
            return {"skipped": self.skipped or "no lifecycle ran"}
        sizes = self.meta.get("state_bytes") or []
        return _report(self.step_times, {
            "version": self.meta["version"], "node": self.meta["node"], "parse_ms": rnd(self.meta["parse_ms"]),
            "conditions_rewritten_to_js": self.meta["conditions_rewritten"], "state_bytes_per_step": sizes,
            "state_bytes_after_intake": sizes[1] if len(sizes) > 1 else None})


# ---------------------------------------------------------------- the section

def run(target: Target, cfg, results: dict) -> None:
    """The engines take turns in `cfg.lifecycle_rounds` rounds, so that load from elsewhere on the machine
    falls on all of them alike and the ratios stay meaningful."""
    targets = [Target("sqlite")] + ([target] if target.dialect == "postgresql" else [])
    runners: dict = {}
    for t in targets:
        runners[f"jiefen_{t.dialect}"] = (JiefenRunner(t), cfg.lifecycles, cfg.warmup)
    runners["raw_spiff"] = (RawSpiffRunner(), cfg.raw_lifecycles, cfg.raw_warmup)
    runners["raw_spiff_state"] = (RawSpiffRunner(with_state=True), cfg.raw_lifecycles, cfg.raw_warmup)
    runners["bpmn_engine"] = (BpmnEngineRunner(), cfg.raw_lifecycles, cfg.raw_warmup)
    rounds = max(cfg.lifecycle_rounds, 1)
    log(f"lifecycle: {rounds} rounds; jiefen {cfg.lifecycles} lifecycles per database "
        f"({', '.join(t.label for t in targets)}), bare SpiffWorkflow and bpmn-engine {cfg.raw_lifecycles} each")
    stop_at = time.perf_counter() + cfg.deadline_s * len(runners)
    round_p50: dict[str, list[float | None]] = {name: [] for name in runners}
    for r in range(rounds):
        for name, (runner, n, warmup) in runners.items():
            share = n // rounds + (1 if r < n % rounds else 0)
            before = len(runner.step_times)
            # jiefen and SpiffWorkflow warm up once; each Node process warms up its own JIT
            runner.batch(share, warmup if r == 0 or name == "bpmn_engine" else 0,
                         min(stop_at, time.perf_counter() + cfg.deadline_s / rounds))
            totals = [sum(t) for t in runner.step_times[before:]]
            round_p50[name].append(statistics.median(totals) if totals else None)
    out = {name: runner.report() for name, (runner, _n, _w) in runners.items()}
    out["rounds"] = rounds

    main = out[f"jiefen_{target.dialect}"]
    b = out["raw_spiff"]["lifecycle"]["p50"]
    c = None if "skipped" in out["bpmn_engine"] else out["bpmn_engine"]["lifecycle"]["p50"]
    a = main["lifecycle"]["p50"]
    bs = out["raw_spiff_state"]["lifecycle"]["p50"]
    out["ratios"] = {
        "a_over_b": rnd(a / b) if a and b else None,
        "a_over_c": rnd(a / c) if a and c else None,
        "a_over_b_state": rnd(a / bs) if a and bs else None,
        "c_over_b": rnd(c / b) if c and b else None,
        "sqlite_a_over_b": rnd(out["jiefen_sqlite"]["lifecycle"]["p50"] / b) if b else None,
        # a/c within each round, when the machine's speed was the same for both: how far the overall a/c can
        # be trusted on a machine whose speed drifts (the spread between rounds is the noise)
        "a_over_c_by_round": [rnd(ra / rc) if ra and rc else None
                              for ra, rc in zip(round_p50[f"jiefen_{target.dialect}"], round_p50["bpmn_engine"])],
    }
    results["lifecycle"] = out
