"""Section 5: a long-lived case — 50 mediations and 10 revisits; state size and step cost, end versus start."""
from __future__ import annotations

import time

from sqlalchemy import select
from bench.common import Session

from bench.common import (LONG_PROCESS, PROCESSES, Target, actor, bench_files, configure_runtime, fresh_database,
                          log, ms_since, percentile, rnd, setup_directory)
from engine.models import CaseModel, TaskModel
from engine.services import cases, tasks

EDGE = 5  # steps averaged at each end


def script(mediations: int, revisits: int) -> list[tuple[str, dict]]:
    """The commands after intake: `revisits` rounds of (mediations / revisits) mediations, then a revisit."""
    per_round = mediations // revisits
    steps = [("intake", {"party_name": "长期案件当事人", "category": "neighbour"})]
    for r in range(revisits):
        for m in range(per_round):
            last = m == per_round - 1
            steps.append(("mediate", {"mediation_outcome": "settled" if last else "continue",
                                      "mediation_note": f"第{r + 1}轮第{m + 1}次调解"}))
        steps.append(("revisit", {"satisfied": "yes" if r == revisits - 1 else "no"}))
    return steps


def run_jiefen_case(engine, steps, who) -> list[dict]:
    t0 = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        case_id = cases.start_case(s, LONG_PROCESS, {}, who).id
    rows = [{"step": "start", "ms": ms_since(t0)}]
    for name, data in steps:
        with Session(engine) as s:
            task_id, spec = s.execute(select(TaskModel.id, TaskModel.spec_name)
                                      .where(TaskModel.case_id == case_id, TaskModel.kind == "bpmn")).one()
        assert spec == name, (spec, name)
        t0 = time.perf_counter()
        with Session(engine, expire_on_commit=False) as s:
            tasks.complete_task(s, task_id, dict(data), who)
        ms = ms_since(t0)
        with Session(engine) as s:
            wf_json, count, status = s.execute(select(CaseModel.workflow_json, CaseModel.task_count, CaseModel.status)
                                               .where(CaseModel.id == case_id)).one()
        rows.append({"step": name, "ms": ms, "state_bytes": len(wf_json.encode("utf-8")), "task_count": count})
    assert status == "closed", status
    return rows


def run_raw_case(steps) -> list[dict]:
    """The same case on bare SpiffWorkflow in memory, serialized after each step (stock serializer)."""
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.camunda.parser import CamundaParser
    from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
    from SpiffWorkflow.util.task import TaskState

    parser = CamundaParser()
    parser.add_bpmn_file(str(PROCESSES / "bench_long_case.bpmn"))
    spec, subs = parser.get_spec(LONG_PROCESS), parser.get_subprocess_specs(LONG_PROCESS)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))
    wf = BpmnWorkflow(spec, subs)
    wf.do_engine_steps()
    rows = []
    for name, data in steps:
        t0 = time.perf_counter()
        [task] = wf.get_tasks(state=TaskState.READY, manual=True)
        assert task.task_spec.name == name
        task.data.update(data)
        task.run()
        wf.do_engine_steps()
        ms = ms_since(t0)
        rows.append({"step": name, "ms": ms, "task_count": len(wf.tasks),
                     "state_bytes": len(serializer.serialize_json(wf))})
    assert wf.completed
    return rows


def _edges(runs: list[list[dict]], key: str) -> tuple[float, float]:
    """Median over runs of the mean of the first and of the last EDGE command steps."""
    starts = [sum(r[key] for r in run[1:1 + EDGE]) / EDGE for run in runs]
    ends = [sum(r[key] for r in run[-EDGE:]) / EDGE for run in runs]
    return percentile(starts, 50), percentile(ends, 50)


def run(target: Target, cfg, results: dict) -> None:
    configure_runtime()
    engine, _url = fresh_database(target, "longcase")
    with Session(engine, expire_on_commit=False) as s:
        setup_directory(s, bench_files(), 1, 0)
        who = actor(s, "bench_all")
    steps = script(cfg.long_mediations, cfg.long_revisits)
    log(f"long case: {cfg.long_mediations} mediations + {cfg.long_revisits} revisits, {cfg.long_reps} case(s)")
    runs = [run_jiefen_case(engine, steps, who) for _ in range(cfg.long_reps)]
    engine.dispose()
    raw = run_raw_case(steps)
    start_ms, end_ms = _edges(runs, "ms")
    last = runs[-1]
    after_intake = last[1]
    raw_start = sum(r["ms"] for r in raw[:EDGE]) / EDGE
    raw_end = sum(r["ms"] for r in raw[-EDGE:]) / EDGE
    results["long_case"] = {
        "mediations": cfg.long_mediations, "revisits": cfg.long_revisits, "commands": len(steps) + 1,
        "cases": cfg.long_reps,
        "step_ms_start": rnd(start_ms), "step_ms_end": rnd(end_ms),
        "step_cost_growth": rnd(end_ms / start_ms) if start_ms else None,
        "state_bytes_start": after_intake["state_bytes"], "state_bytes_end": last[-1]["state_bytes"],
        "task_count_start": after_intake["task_count"], "task_count_end": last[-1]["task_count"],
        "raw_spiff": {"step_ms_start": rnd(raw_start), "step_ms_end": rnd(raw_end),
                      "state_bytes_start": raw[0]["state_bytes"], "state_bytes_end": raw[-1]["state_bytes"],
                      "task_count_end": raw[-1]["task_count"]},
        "per_step": [{"step": r["step"], "ms": rnd(r["ms"]), "state_bytes": r.get("state_bytes"),
                      "task_count": r.get("task_count")} for r in last],
    }
