"""The benchmark harness (bench/run.py, issue 6) runs end to end at a tiny size and reports the issue's figures.

It measures nothing here: the sizes are too small for the figures to mean anything. It catches a bench that
no longer runs against the engine as it is (a renamed service, a changed row), before someone needs it."""
import json
import signal
from dataclasses import replace

import pytest

ISSUE_KEYS = ("lifecycle_ms_p50", "raw_spiff_lifecycle_ms_p50", "bpmn_engine_lifecycle_ms_p50", "task_list_ms_p95",
              "task_list_cases", "open_case_ms_p50", "complete_task_ms_p50", "state_bytes_after_intake",
              "timer_drain_per_s", "timer_lateness_ms_p99", "idle_tick_ms", "long_case_step_ms_end")


@pytest.fixture
def tiny_bench(monkeypatch, tmp_path):
    from bench import common, run

    for name in ("DATABASE_URL", "JIEFEN_DATABASE_URL"):  # the bench on its own SQLite files, not the tests' database
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(common.ROOT)
    previous = signal.getsignal(signal.SIGTERM)
    tiny = replace(run.QUICK, lifecycle_rounds=2, lifecycles=2, warmup=1, raw_lifecycles=3, raw_warmup=1,
                   scale_cases=300, scale_sample=12, townships=1, villages=1, clone_chunk=100, list_reps=2,
                   list_budget_s=5, op_reps=2, timers_due=20, timers_pending=200, timer_templates=2,
                   timer_drain_deadline_s=60, idle_reps=2, long_mediations=2, long_revisits=1, long_reps=1,
                   deadline_s=30)
    monkeypatch.setattr(run, "QUICK", tiny)
    yield run, tmp_path / "results.json"
    signal.signal(signal.SIGTERM, previous)


def test_the_bench_runs_its_sections_and_reports_the_issues_figures(tiny_bench):
    run, output = tiny_bench
    status = run.main(["--quick", "--only", "lifecycle,scale,timers,long_case", "--output", str(output)])
    results = json.loads(output.read_text(encoding="utf-8"))
    assert status == 0, results["details"].get("errors")
    bpmn_engine = results["details"]["lifecycle"]["bpmn_engine"]
    for key in ISSUE_KEYS:
        if key == "bpmn_engine_lifecycle_ms_p50" and "skipped" in bpmn_engine:
            continue  # no Node.js here: the column is skipped with a message, as the issue allows
        assert isinstance(results[key], (int, float)) and results[key] > 0, key
    assert results["task_list_cases"] >= 300
    assert results["timers_due"] == 20
    assert {"machine", "database", "date"} <= set(results)
    assert results["details"]["lifecycle"]["jiefen_sqlite"]["sql_statements_per_step"]["intake"] > 0
