"""Section 3: many cases — task-list query, case open and task complete at that size, database bytes per case."""
from __future__ import annotations

import random
import time

from sqlalchemy import func, select
from bench.common import Session

from bench import clone
from bench.common import (LIFECYCLE_PROCESS, LONG_PROCESS, REAL_PROCESSES, TIMER_PROCESS, Target, actor, analyze,
                          bench_files, configure_runtime, database_bytes, fresh_database, log, ms_since, org_units,
                          real_process_files, setup_directory, summary, synth_form, table_bytes)
from engine.errors import CaseError
from engine.models import (CaseEventModel, CaseModel, MembershipModel, OrgUnitModel, RoleModel,
                           TaskCandidateModel, TaskModel, TimerModel, UserModel)
from engine.services import cases, tasks

BENCH_PROCESSES = [LIFECYCLE_PROCESS, LONG_PROCESS, TIMER_PROCESS]


# ---------------------------------------------------------------- driving sample cases through the services

def can_act_on(session, who, task_id: str):
    """`who` (bench_all) with a grant for each candidate (role, unit) of the task it lacks, e.g. a role that a
    `=expr` candidateGroups produced from case data. Returns the (possibly refreshed) Actor."""
    from engine.services import users

    pairs = session.execute(select(TaskCandidateModel.role, TaskCandidateModel.org_unit_id)
                            .where(TaskCandidateModel.task_id == task_id)).all()
    held = {(g.role, g.org_unit_id) for g in who.grants}
    missing = [p for p in pairs if (p[0], p[1]) not in held]
    if not missing or any((p[0], p[1]) in held for p in pairs):
        return who
    role, org_id = missing[0]
    users.ensure_roles(session, {role: None})
    role_row = session.scalar(select(RoleModel).where(RoleModel.name == role))
    user = session.scalar(select(UserModel).where(UserModel.username == who.username))
    session.add(MembershipModel(user_id=user.id, role_id=role_row.id, org_unit_id=org_id))
    session.commit()
    return actor(session, who.username)


def complete_one(engine, case_id: int, who, rng: random.Random, fixed: dict | None = None):
    """Complete the case's oldest open BPMN task with valid form data.

    Returns the actor to use next time (grants may have been added), or None when no task is open or it fails."""
    with Session(engine, expire_on_commit=False) as s:
        task = s.scalar(select(TaskModel).where(TaskModel.case_id == case_id, TaskModel.kind == "bpmn")
                        .order_by(TaskModel.created_at, TaskModel.id).limit(1))
        if task is None:
            return None
        data = synth_form(tasks.task_form(s, task), rng, fixed)
        task_id = task.id
        who = can_act_on(s, who, task_id)
    try:
        with Session(engine, expire_on_commit=False) as s:
            tasks.complete_task(s, task_id, data, who)
    except CaseError as exc:
        log(f"  case {case_id}: completing {task_id} failed ({exc.message}: {exc.details}); the case stays where it is")
        return None
    return who


def drive_sample(engine, process_ids: list[str], count: int, rng: random.Random, who, units: list[str],
                 max_steps: int = 4) -> list[int]:
    """Open `count` cases spread over processes and org units, each driven 0..max_steps tasks on."""
    ids = []
    for i in range(count):
        pid = process_ids[i % len(process_ids)]
        with Session(engine, expire_on_commit=False) as s:
            case = cases.start_case(s, pid, {}, who, org_unit=rng.choice(units))
            ids.append(case.id)
        for _ in range(rng.randint(0, max_steps)):
            acted = complete_one(engine, case.id, who, rng)
            if acted is None:
                break
            who = acted
    return ids


# ---------------------------------------------------------------- measurements

def _busiest_pair(session) -> tuple[str, int, int]:
    row = session.execute(select(TaskCandidateModel.role, TaskCandidateModel.org_unit_id, func.count())
                          .group_by(TaskCandidateModel.role, TaskCandidateModel.org_unit_id)
                          .order_by(func.count().desc()).limit(1)).first()
    return row[0], row[1], row[2]


def _grant_user(session, username: str, role: str, org_unit_id: int) -> None:
    from engine.services import users
    from bench.common import PASSWORD

    org = session.get(OrgUnitModel, org_unit_id)
    users.create_user(session, username, PASSWORD, [role], [org.code])


def measure_task_list(engine, reps: int, rng: random.Random, now, budget_s: float) -> dict:
    """The task list of the busiest (role, org unit), several filter/sort variants, a fresh session per call."""
    with Session(engine) as s:
        role, org_id, visible = _busiest_pair(s)
        _grant_user(s, "list_user", role, org_id)
        org_code = s.get(OrgUnitModel, org_id).code
        who = actor(s, "list_user")
        top = s.scalar(select(OrgUnitModel).where(OrgUnitModel.parent_id.is_(None)))
        from engine.services import users
        from bench.common import PASSWORD
        users.create_user(s, "list_supervisor", PASSWORD, ["supervisor"], [top.code])
        boss = actor(s, "list_supervisor")
        # a township's supervisor sees a fraction of the county's tasks: their list reads further along the walk
        town = s.scalar(select(OrgUnitModel.code).where(OrgUnitModel.parent_id == top.id,
                                                         OrgUnitModel.kind == "township")
                        .order_by(OrgUnitModel.code).limit(1))
        if town is not None:
            users.create_user(s, "list_township_supervisor", PASSWORD, ["supervisor"], [town])
        town_boss = actor(s, "list_township_supervisor") if town is not None else None
        users.create_user(s, "list_auditor", PASSWORD, ["auditor"])
        auditor = actor(s, "list_auditor")
        sample = s.execute(select(TaskModel.process_id, CaseModel.category, CaseModel.code)
                           .join(CaseModel, CaseModel.id == TaskModel.case_id)
                           .join(TaskCandidateModel, TaskCandidateModel.task_id == TaskModel.id)
                           .where(TaskCandidateModel.role == role, TaskCandidateModel.org_unit_id == org_id)
                           .limit(200)).all()
    processes_ = sorted({r[0] for r in sample})
    categories = sorted({r[1] for r in sample if r[1]})
    codes = [r[2] for r in sample]
    variants = {
        "due": lambda: dict(sort="due"),
        "process_created_desc": lambda: dict(process_id=rng.choice(processes_), sort="-created"),
        "overdue_warning": lambda: dict(overdue=True, sort="warning"),
        "unassigned_category": lambda: dict(assigned="none", category=rng.choice(categories) if categories else None,
                                            sort="due"),
        "page_5": lambda: dict(sort="due", page=5),
        "search_code": lambda: dict(q=rng.choice(codes)[-8:], sort="due"),
    }
    per_variant: dict[str, list[float]] = {name: [] for name in variants}
    totals: dict[str, int] = {}
    supervised: list[float] = []
    township: list[float] = []
    everything: list[float] = []
    started = time.perf_counter()
    for rep in range(reps):
        if rep >= 3 and time.perf_counter() - started > budget_s:
            log(f"scale: task-list time budget ({budget_s:.0f}s) spent after {rep} rounds")
            break
        for name, make in variants.items():
            kwargs = make()
            t0 = time.perf_counter()
            with Session(engine) as s:
                page = tasks.list_tasks(s, who, now=now, **kwargs)
            per_variant[name].append(ms_since(t0))
            totals[name] = page.total
        t0 = time.perf_counter()
        with Session(engine) as s:
            page = tasks.list_tasks(s, boss, scope="supervised", now=now)
        supervised.append(ms_since(t0))
        totals["supervised_county"] = page.total
        if town_boss is not None:
            t0 = time.perf_counter()
            with Session(engine) as s:
                page = tasks.list_tasks(s, town_boss, scope="supervised", now=now)
            township.append(ms_since(t0))
            totals["supervised_township"] = page.total
        t0 = time.perf_counter()
        with Session(engine) as s:
            page = tasks.list_tasks(s, auditor, scope="all", now=now)
        everything.append(ms_since(t0))
        totals["all_auditor"] = page.total
    every = [v for values in per_variant.values() for v in values]
    return {"role": role, "org_unit": org_code, "visible_tasks": visible, "all": summary(every),
            "variants": {name: summary(values) for name, values in per_variant.items()},
            "variant_totals": totals, "supervised_county": summary(supervised),
            "supervised_township": summary(township) if township else None, "all_auditor": summary(everything)}


def measure_open(engine, who, process_id: str, units: list[str], reps: int, rng: random.Random) -> dict:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with Session(engine, expire_on_commit=False) as s:
            cases.start_case(s, process_id, {}, who, org_unit=rng.choice(units))
        times.append(ms_since(t0))
    return summary(times)


def measure_complete(engine, who, reps: int, rng: random.Random, case_ids: list[int]) -> dict:
    """Complete open tasks of randomly chosen cloned cases (also proves the clones are sound)."""
    times, failures = [], 0
    with Session(engine) as s:
        candidates = list(s.scalars(select(TaskModel.case_id).where(TaskModel.kind == "bpmn",
                                                                    TaskModel.case_id >= min(case_ids))
                                    .order_by(func.random()).limit(reps)))
    for case_id in candidates:
        with Session(engine, expire_on_commit=False) as s:
            task = s.scalar(select(TaskModel).where(TaskModel.case_id == case_id, TaskModel.kind == "bpmn").limit(1))
            data = synth_form(tasks.task_form(s, task), rng)
            task_id = task.id
            who = can_act_on(s, who, task_id)
        t0 = time.perf_counter()
        try:
            with Session(engine, expire_on_commit=False) as s:
                tasks.complete_task(s, task_id, data, who)
        except CaseError as exc:
            failures += 1
            log(f"  complete at size failed on case {case_id}: {exc.message}: {exc.details}")
            continue
        times.append(ms_since(t0))
    out = summary(times)
    out["failures"] = failures
    return out


def measure_case_view(engine, who, reps: int, rng: random.Random, case_ids: list[int]) -> dict:
    """Reading one case as its page would: the case, its open tasks, pending timers and history."""
    from engine.services import history, timers

    times = []
    for case_id in rng.sample(case_ids, min(reps, len(case_ids))):
        t0 = time.perf_counter()
        with Session(engine) as s:
            cases.get_case(s, case_id, who)
            cases.open_tasks(s, case_id)
            timers.pending_timers(s, case_id)
            history.list_events(s, case_id, who)
        times.append(ms_since(t0))
    return summary(times)


def check_clones(engine, case_ids: list[int], rng: random.Random, n: int = 5) -> dict:
    """history.verify_case (hash chain + replay) on a few clones: are they cases the engine stands behind?"""
    from engine.services import history
    from engine.services.users import SYSTEM

    out = {"verified": 0, "chain_ok": 0, "replay_ok": 0, "problems": []}
    for case_id in rng.sample(case_ids, min(n, len(case_ids))):
        with Session(engine) as s:
            result = history.verify_case(s, case_id, SYSTEM)
        out["verified"] += 1
        out["chain_ok"] += int(result.chain_ok)
        out["replay_ok"] += int(result.replay_ok)
        out["problems"] += [f"case {case_id}: {p}" for p in result.problems[:2]]
    out["problems"] = out["problems"][:6]
    return out


def counts(engine) -> dict:
    with Session(engine) as s:
        by_process = dict(s.execute(select(CaseModel.process_id, func.count()).group_by(CaseModel.process_id)).all())
        by_status = dict(s.execute(select(CaseModel.status, func.count()).group_by(CaseModel.status)).all())
        return {"cases": sum(by_status.values()), "by_status": by_status, "by_process": by_process,
                "open_tasks": s.scalar(select(func.count()).select_from(TaskModel)),
                "pending_timers": s.scalar(select(func.count()).select_from(TimerModel)
                                           .where(TimerModel.fired_at.is_(None))),
                "events": s.scalar(select(func.count()).select_from(CaseEventModel)),
                "org_units": s.scalar(select(func.count()).select_from(OrgUnitModel))}


# ---------------------------------------------------------------- the section

CENTER_CODE = "330106000"


def _directory(target: Target, cfg) -> tuple[object, str, str | None]:
    """A fresh database with the directory and the processes: (engine, 'real' | 'bench', note)."""
    engine, _url = fresh_database(target, "scale")
    real = real_process_files()
    if not real:
        note = "processes/ has no BPMN files yet; cases are spread over the bench's own processes"
    else:
        try:
            with Session(engine, expire_on_commit=False) as s:
                setup_directory(s, {**real, **bench_files()}, cfg.townships, cfg.villages)
            return engine, "real", None
        except Exception as exc:  # a colleague's half-written file must not stop the bench
            message = getattr(exc, "message", None) or str(exc)
            note = f"processes/ does not deploy ({type(exc).__name__}: {message[:300]}); " \
                   "cases are spread over the bench's own processes"
            engine.dispose()
            engine, _url = fresh_database(target, "scale")
    with Session(engine, expire_on_commit=False) as s:
        setup_directory(s, bench_files(), cfg.townships, cfg.villages)
    return engine, "bench", note


def _startable_real(engine, who, units: list[str]) -> tuple[list[str], str | None]:
    """Top-level real process ids that open a case; the bench's own when none does."""
    from engine import specs

    files = real_process_files()  # BPMN and DMN: the decision tables are given to the parse, as a deploy does
    defs = specs.parse_files({name: xml for name, xml in files.items() if name.endswith(".bpmn")},
                             decisions=specs.load_decision_tables(REAL_PROCESSES))
    called = {name for d in defs for name in d.called_processes}
    ok, broken = [], []
    for pid in [d.process_id for d in defs if d.process_id not in called]:
        try:
            with Session(engine, expire_on_commit=False) as s:
                cases.start_case(s, pid, {}, who, org_unit=units[0])
            ok.append(pid)
        except CaseError as exc:
            broken.append(f"{pid}: {exc.message}")
    if not ok:
        return BENCH_PROCESSES, "no process of processes/ opens a case (" + "; ".join(broken) + \
            "); cases are spread over the bench's own processes"
    return ok, ("some processes of processes/ do not open a case: " + "; ".join(broken)) if broken else None


def run(target: Target, cfg, results: dict) -> None:
    rng = random.Random(20260302)
    rt = configure_runtime()
    units = [CENTER_CODE] + [code for code, *_ in org_units(cfg.townships, cfg.villages)]
    engine, used, note = _directory(target, cfg)
    with Session(engine) as s:
        who_all = actor(s, "bench_all")
    process_ids = BENCH_PROCESSES
    if used == "real":
        process_ids, note = _startable_real(engine, who_all, units)
        if process_ids is BENCH_PROCESSES:
            used = "bench"
    if note:
        log(f"scale: NOTE {note}")
    log(f"scale: {cfg.scale_sample} sample cases through the services over {', '.join(process_ids)}")
    t0 = time.perf_counter()
    sample_ids = drive_sample(engine, process_ids, cfg.scale_sample, rng, who_all, units,
                              max_steps=8 if used == "real" else 4)
    with Session(engine) as s:
        who_all = actor(s, "bench_all")
    sample_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    clone_ids = clone.clone_cases(engine, sample_ids, cfg.scale_cases, rng, chunk=cfg.clone_chunk,
                                  closed_spread_days=cfg.closed_spread_days)
    clone_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyze(engine)
    analyze_s = time.perf_counter() - t0
    size_counts = counts(engine)
    db_bytes = database_bytes(engine)
    per_table = table_bytes(engine)
    log(f"scale: {size_counts['cases']:,} cases, {size_counts['open_tasks']:,} open tasks, "
        f"{db_bytes / 1e6:.1f} MB ({db_bytes / max(size_counts['cases'], 1):,.0f} B/case); measuring …")
    now = rt.clock.now()
    task_list = measure_task_list(engine, cfg.list_reps, rng, now, cfg.list_budget_s)
    open_process = process_ids[0]
    open_case = measure_open(engine, who_all, open_process, units, cfg.op_reps, rng)
    complete = measure_complete(engine, who_all, cfg.op_reps, rng, clone_ids or sample_ids)
    view = measure_case_view(engine, who_all, cfg.op_reps, rng, clone_ids or sample_ids)
    clone_check = check_clones(engine, clone_ids, rng) if clone_ids else None
    engine.dispose()
    results["scale"] = {
        "processes": process_ids, "process_source": used, "note": note,
        "sample_cases": len(sample_ids), "cloned_cases": len(clone_ids),
        "load_seconds": {"sample": round(sample_s, 1), "clone": round(clone_s, 1), "analyze": round(analyze_s, 1)},
        "counts": size_counts, "db_bytes": db_bytes,
        "db_bytes_per_case": round(db_bytes / max(size_counts["cases"], 1)),
        "table_bytes": per_table, "task_list": task_list, "open_case_process": open_process,
        "open_case": open_case, "complete_task": complete, "case_view": view, "clone_check": clone_check,
    }
