#!/usr/bin/env python3
"""jiefen benchmark harness (issue 6). See bench/README.md.

    .venv/bin/python bench/run.py --quick            # < 2 minutes on 2 cores, SQLite
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/jiefen_bench .venv/bin/python bench/run.py --quick
    .venv/bin/python bench/run.py                    # 100,000 cases, 100,000 due timers, 1,000,000 pending
    .venv/bin/python bench/run.py --full             # 1,000,000 cases
    .venv/bin/python bench/run.py --quick --profile  # + pyinstrument hot spots of the lifecycle

Prints a table and writes bench/results/latest.json; `--record` also keeps a dated copy in bench/results/ and
adds a results table to bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (RESULTS, ROOT, WORK, database_facts, dump_json, log, machine, section,
                          target_from_env)

SECTIONS = ("lifecycle", "api", "scale", "ledger", "stats", "timers", "long_case", "profile")


@dataclass(frozen=True)
class Config:
    mode: str
    lifecycle_rounds: int     # the lifecycle engines take turns this many times
    lifecycles: int           # jiefen lifecycles per database
    warmup: int
    raw_lifecycles: int       # bare SpiffWorkflow and bpmn-engine lifecycles
    raw_warmup: int
    api_lifecycles: int
    api_warmup: int           # per client thread
    api_workers: str          # procs | threads
    scale_cases: int          # task_list_cases
    scale_sample: int         # cases opened and driven through the services before cloning
    townships: int
    villages: int             # per township
    closed_spread_days: float
    clone_chunk: int
    list_reps: int            # per task-list variant
    list_budget_s: float      # stop the task-list rounds after this long (at least 3 rounds)
    op_reps: int              # open / complete / view at size
    timers_due: int
    timers_pending: int       # pending during the idle tick (due + far future)
    timer_templates: int
    timer_margin_s: float     # scheduler start-up allowance before the due moment
    timer_poll_s: float
    timer_drain_deadline_s: float
    idle_reps: int
    long_mediations: int
    long_revisits: int
    long_reps: int
    profile_lifecycles: int
    deadline_s: float         # bound for each timed loop


QUICK = Config(mode="quick", lifecycle_rounds=5, lifecycles=150, warmup=15, raw_lifecycles=500, raw_warmup=50,
               api_lifecycles=100, api_warmup=3, api_workers="procs",
               scale_cases=10_000, scale_sample=100, townships=4, villages=3, closed_spread_days=365,
               clone_chunk=2000, list_reps=8, list_budget_s=15, op_reps=20,
               timers_due=1_000, timers_pending=100_000, timer_templates=10, timer_margin_s=6, timer_poll_s=0.1,
               timer_drain_deadline_s=90, idle_reps=20,
               long_mediations=50, long_revisits=10, long_reps=2, profile_lifecycles=50, deadline_s=60)
STANDARD = replace(QUICK, mode="standard", lifecycle_rounds=5, lifecycles=500, warmup=30, raw_lifecycles=3000, raw_warmup=200,
                   api_lifecycles=300,
                   scale_cases=100_000, scale_sample=600, townships=8, villages=4, list_reps=30, list_budget_s=300,
                   op_reps=50,
                   timers_due=100_000, timers_pending=1_000_000, timer_templates=20, timer_margin_s=30,
                   timer_poll_s=0.25, timer_drain_deadline_s=3600, idle_reps=50,
                   long_reps=3, profile_lifecycles=300, deadline_s=600)
FULL = replace(STANDARD, mode="full", lifecycles=1000, raw_lifecycles=10_000, api_lifecycles=1000,
               scale_cases=1_000_000, scale_sample=2000, townships=20, villages=5, closed_spread_days=3 * 365,
               clone_chunk=5000, list_reps=100, list_budget_s=900, op_reps=100, long_reps=5, deadline_s=1200)


def _get(d: dict, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def headline(results: dict, dialect: str) -> dict:
    """The flat figures the issue asks for (and a few more), from the section details."""
    life = results.get("lifecycle", {})
    main = life.get(f"jiefen_{dialect}", {})
    bpe = life.get("bpmn_engine", {})
    scale = results.get("scale", {})
    timers = results.get("timers", {})
    long_ = results.get("long_case", {})
    api = results.get("api", {})
    return {
        "lifecycle_ms_p50": _get(main, "lifecycle", "p50"),
        "lifecycle_ms_p90": _get(main, "lifecycle", "p90"),
        "lifecycles_per_s": main.get("lifecycles_per_s"),
        "lifecycle_sqlite_ms_p50": _get(life, "jiefen_sqlite", "lifecycle", "p50"),
        "raw_spiff_lifecycle_ms_p50": _get(life, "raw_spiff", "lifecycle", "p50"),
        "raw_spiff_lifecycle_ms_p90": _get(life, "raw_spiff", "lifecycle", "p90"),
        "raw_spiff_state_lifecycle_ms_p50": _get(life, "raw_spiff_state", "lifecycle", "p50"),
        "bpmn_engine_lifecycle_ms_p50": None if "skipped" in bpe else _get(bpe, "lifecycle", "p50"),
        "bpmn_engine_lifecycle_ms_p90": None if "skipped" in bpe else _get(bpe, "lifecycle", "p90"),
        "ratio_a_over_b": _get(life, "ratios", "a_over_b"),
        "ratio_a_over_c": _get(life, "ratios", "a_over_c"),
        "state_bytes_after_intake": main.get("state_bytes_after_intake"),
        "api_lifecycles_per_s": api.get("lifecycles_per_s"),
        "api_request_ms_p50": _get(api, "request_ms", "p50"),
        "api_request_ms_p95": _get(api, "request_ms", "p95"),
        "task_list_cases": _get(scale, "counts", "cases"),
        "ledger_cases": _get(results.get("ledger", {}), "cases"),
        "ledger_ms_p95": _get(results.get("ledger", {}), "below_open_overdue_by_due", "p95"),
        "stats_cases": _get(results.get("stats", {}), "cases"),
        "stats_ms_p95": _get(results.get("stats", {}), "year_by_org_unit", "p95"),
        "task_list_ms_p50": _get(scale, "task_list", "all", "p50"),
        "task_list_ms_p95": _get(scale, "task_list", "all", "p95"),
        "open_case_ms_p50": _get(scale, "open_case", "p50"),
        "complete_task_ms_p50": _get(scale, "complete_task", "p50"),
        "db_bytes_per_case": scale.get("db_bytes_per_case"),
        "timers_due": timers.get("due_together"),
        "timer_drain_per_s": timers.get("drain_per_s"),
        "timer_lateness_ms_p50": _get(timers, "lateness_ms", "p50"),
        "timer_lateness_ms_p99": _get(timers, "lateness_ms", "p99"),
        "idle_tick_ms": _get(timers, "idle_tick", "p50"),
        "idle_tick_pending": timers.get("pending_for_idle_tick"),
        "long_case_step_ms_start": long_.get("step_ms_start"),
        "long_case_step_ms_end": long_.get("step_ms_end"),
        "long_case_state_bytes_start": long_.get("state_bytes_start"),
        "long_case_state_bytes_end": long_.get("state_bytes_end"),
    }


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text}{unit}"


def table_rows(doc: dict) -> list[tuple[str, str]]:
    d = doc["details"]
    h = doc
    life = d.get("lifecycle", {})
    rows: list[tuple[str, str]] = []
    for key, label in (("jiefen_sqlite", "jiefen, SQLite WAL FULL"), ("jiefen_postgresql", "jiefen, PostgreSQL"),
                       ("raw_spiff", "bare SpiffWorkflow (memory)"),
                       ("raw_spiff_state", "bare SpiffWorkflow + serialize each step"),
                       ("bpmn_engine", "bpmn-engine (Node) + getState each step")):
        r = life.get(key)
        if not r:
            continue
        if "skipped" in r:
            rows.append((f"lifecycle: {label}", f"skipped ({r['skipped']})"))
            continue
        steps = " / ".join(_fmt(r["steps"][s]["p50"]) for s in ("start", "intake", "mediate"))
        rows.append((f"lifecycle: {label}",
                     f"p50 {_fmt(r['lifecycle']['p50'])} ms, p90 {_fmt(r['lifecycle']['p90'])} ms, "
                     f"{_fmt(r['lifecycles_per_s'])}/s; steps p50 {steps} ms"))
    rows.append((f"ratio a/b, a/c (lifecycle p50, jiefen on {doc['database']['dialect']})",
                 f"{_fmt(h['ratio_a_over_b'])}x, {_fmt(h['ratio_a_over_c'])}x"))
    by_round = [x for x in (_get(life, "ratios", "a_over_c_by_round") or []) if x is not None]
    if len(by_round) > 1:
        rows.append(("a/c within each round (machine drift)",
                     f"{', '.join(_fmt(x) for x in by_round)} (median {_fmt(statistics.median(by_round))})"))
    rows.append(("state after intake (bytes)",
                 f"jiefen {_fmt(h['state_bytes_after_intake'])}, stock Spiff "
                 f"{_fmt(_get(life, 'raw_spiff_state', 'state_bytes_after_intake'))}, bpmn-engine "
                 f"{_fmt(_get(life, 'bpmn_engine', 'state_bytes_after_intake'))}"))
    api = d.get("api")
    if api:
        rows.append((f"API ({api['workers']})",
                     f"{_fmt(api['lifecycles_per_s'])} lifecycles/s; request p50 {_fmt(h['api_request_ms_p50'])} ms, "
                     f"p95 {_fmt(h['api_request_ms_p95'])} ms ({api['requests']} requests)"))
    scale = d.get("scale")
    if scale:
        tl = scale["task_list"]
        rows.append((f"task list @ {_fmt(h['task_list_cases'])} cases",
                     f"p50 {_fmt(h['task_list_ms_p50'])} ms, p95 {_fmt(h['task_list_ms_p95'])} ms "
                     f"({tl['role']} @ {tl['org_unit']}, {tl['visible_tasks']:,} tasks visible)"))
        rows.append(("open case / complete task at size",
                     f"p50 {_fmt(h['open_case_ms_p50'])} ms / {_fmt(h['complete_task_ms_p50'])} ms"))
        rows.append(("database per case", f"{_fmt(h['db_bytes_per_case'])} bytes ({scale['process_source']} processes)"))
    timers = d.get("timers")
    if timers:
        rows.append((f"timers: {_fmt(h['timers_due'])} due at once",
                     f"{_fmt(h['timer_drain_per_s'])} timers/s; lateness p50 {_fmt(h['timer_lateness_ms_p50'])} ms, "
                     f"p99 {_fmt(h['timer_lateness_ms_p99'])} ms"))
        by_minute = timers.get("drain_per_s_by_minute") or []
        if len(by_minute) > 1:
            rows.append(("timers: drain by minute", f"first {_fmt(by_minute[0])}/s, last {_fmt(by_minute[-1])}/s "
                                                    f"({len(by_minute)} whole minutes)"))
        rows.append((f"idle tick, {_fmt(h['idle_tick_pending'])} pending", f"p50 {_fmt(h['idle_tick_ms'])} ms"))
    long_ = d.get("long_case")
    if long_:
        rows.append((f"long case ({long_['mediations']} mediations, {long_['revisits']} revisits)",
                     f"step {_fmt(h['long_case_step_ms_start'])} → {_fmt(h['long_case_step_ms_end'])} ms; "
                     f"state {_fmt(h['long_case_state_bytes_start'])} → {_fmt(h['long_case_state_bytes_end'])} bytes"))
    prof = d.get("profile")
    if prof:
        for dialect, p in prof.items():
            if isinstance(p, dict) and "layers_pct" in p:
                top = ", ".join(f"{k} {v}%" for k, v in list(p["layers_pct"].items())[:5])
                rows.append((f"profile ({dialect})", top))
    for name, err in d.get("errors", {}).items():
        rows.append((f"ERROR in {name}", err))
    return rows


def print_table(doc: dict) -> None:
    rows = table_rows(doc)
    width = max(len(k) for k, _ in rows)
    db = doc["database"]
    print()
    print(f"jiefen bench — {doc['mode']} — {doc['date']} — {db['label']} {db.get('version', '')} — "
          f"{doc['machine']['cpu']} ×{doc['machine']['cores']}")
    print("-" * (width + 60))
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")
    print("-" * (width + 60))
    print(f"loadavg start {doc['machine']['loadavg_start']:.2f}, end {doc['machine'].get('loadavg_end', 0):.2f} "
          f"(other work on the machine makes every figure noisier)")


README_MARK = "<!-- bench:recorded-runs -->"


def record(doc: dict) -> Path:
    """Keep a dated copy and add a markdown table for the run to bench/README.md (newest first)."""
    stamp = doc["date"].replace(":", "").replace("-", "")[:13]
    path = RESULTS / f"{stamp}-{doc['database']['dialect']}-{doc['mode']}.json"
    dump_json(path, doc)
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text(encoding="utf-8")
    m = doc["machine"]
    block = [f"### {doc['date'][:16].replace('T', ' ')} UTC — {doc['mode']} — {doc['database']['label']} "
             f"{doc['database'].get('version', '')}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; Python {m['python']}, "
             f"SpiffWorkflow {m['spiffworkflow']}, SQLAlchemy {m['sqlalchemy']}, SQLite {m['sqlite']}, "
             f"Node {m['node']}; commit {m['git_commit']}{' (dirty)' if m['git_dirty'] else ''}; "
             f"load average {m['loadavg_start']:.2f} → {m.get('loadavg_end', 0):.2f}. "
             f"File: `bench/results/{path.name}`.", "",
             "| figure | value |", "| --- | --- |"]
    block += [f"| {k} | {v} |" for k, v in table_rows(doc)]
    block.append("")
    if README_MARK in text:
        text = text.replace(README_MARK, README_MARK + "\n\n" + "\n".join(block), 1)
        readme.write_text(text, encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="jiefen benchmark harness (issue 6)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes on 2 cores")
    size.add_argument("--full", action="store_true", help="1,000,000 cases (long)")
    parser.add_argument("--only", default=None, help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--skip", default="", help="comma-separated sections to leave out")
    parser.add_argument("--profile", action="store_true", help="also profile the lifecycle with pyinstrument")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: DATABASE_URL, else SQLite)")
    parser.add_argument("--api-workers", choices=("procs", "threads"), default=None,
                        help="procs: 2 waitress processes x 1 thread (default); threads: 1 process x 2 threads")
    parser.add_argument("--cases", type=int, default=None, help="override the number of cases of the scale section")
    parser.add_argument("--record", action="store_true",
                        help="keep a dated copy in bench/results/ and add a results table to bench/README.md")
    parser.add_argument("--output", default=str(RESULTS / "latest.json"), help="where to write the JSON results")
    args = parser.parse_args(argv)

    cfg = QUICK if args.quick else FULL if args.full else STANDARD
    if args.api_workers:
        cfg = replace(cfg, api_workers=args.api_workers)
    if args.cases:
        cfg = replace(cfg, scale_cases=args.cases)
    wanted = [s.strip() for s in args.only.split(",")] if args.only else [s for s in SECTIONS if s != "profile"]
    if args.profile and "profile" not in wanted:
        wanted.append("profile")
    wanted = [s for s in wanted if s not in {x.strip() for x in args.skip.split(",") if x.strip()}]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    os.chdir(ROOT)
    WORK.mkdir(parents=True, exist_ok=True)
    # SIGTERM unwinds like Ctrl-C, so the sections stop the servers and the scheduler they started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import logging
    logging.basicConfig(level=logging.WARNING)
    target = target_from_env(args.database_url)
    started = time.perf_counter()
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "mode": cfg.mode,
           "machine": machine(), "database": database_facts(target), "sections": wanted}
    log(f"mode {cfg.mode}, database {target.label}, sections {', '.join(wanted)}")
    from engine.db import server_warnings
    for line in server_warnings(doc["database"]):  # as jiefen serve says it; the figures are not production's
        log(f"WARNING {line}")
    details: dict = {}
    from bench import api, ledger, lifecycle, longcase, profiling, scale, stats, timerbench
    runners = {"lifecycle": lifecycle.run, "api": api.run, "scale": scale.run, "ledger": ledger.run, "stats": stats.run,
               "timers": timerbench.run,
               "long_case": longcase.run, "profile": profiling.run}
    for name in wanted:
        with section(name, details):
            runners[name](target, cfg, details)
    doc["machine"]["loadavg_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    doc["seconds"] = round(time.perf_counter() - started, 1)
    doc["config"] = asdict(cfg)
    flat = headline(details, target.dialect)
    out = {**{k: doc[k] for k in ("date", "mode", "machine", "database")}, **flat,
           "seconds": doc["seconds"], "sections": wanted, "config": doc["config"], "details": details}
    path = Path(args.output)
    dump_json(path, out)
    print_table(out)
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({doc['seconds']} s)")
    if args.record:
        kept = record(out)
        print(f"recorded: {kept.relative_to(ROOT)} and a table in bench/README.md")
    return 1 if details.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
