"""The case ledger (台账, issue 18 §1): a director's page over the database the scale section left.

The variant the issue budgets (p95 ≤ 50 ms at 1,000,000 cases): every unit below the center, open, overdue,
sorted by due date, 50 a page — plus the unfiltered first page, a code search and the 群体性 / 高风险 cases below. A fresh session per call, as a
request has. Run after the scale section (`--only scale,ledger`); alone it measures whatever that left."""
from __future__ import annotations

import random
import time

from sqlalchemy import func, select

from bench.common import (
    PASSWORD,
    Session,
    actor,
    analyze,
    configure_runtime,
    database_url,
    log,
    summary,
)
from engine.db import make_engine, upgrade_schema
from engine.models import CaseModel, OrgUnitModel, UserModel

DIRECTOR = "ledger_director"


def run(target, cfg, results: dict) -> None:
    from engine import case_list
    from engine.services import ledger, users

    rt = configure_runtime()
    engine = make_engine(database_url(target, "scale"))
    with Session(engine) as s:
        cases = s.scalar(select(func.count()).select_from(CaseModel)) or 0
    if not cases:
        raise RuntimeError("the scale database is empty: run the scale section first (--only scale,ledger)")
    upgrade_schema(engine)  # migrations may add what the ledger reads
    analyze(engine)
    rng = random.Random(20261203)
    with Session(engine) as s:
        top = s.scalar(select(OrgUnitModel).where(OrgUnitModel.parent_id.is_(None)))
        if s.scalar(select(UserModel.id).where(UserModel.username == DIRECTOR)) is None:
            users.create_user(s, DIRECTOR, PASSWORD, ["supervisor"], [top.code])
        who, top_code = actor(s, DIRECTOR), top.code
        codes = list(s.scalars(select(CaseModel.code).order_by(CaseModel.id.desc()).limit(200)))
    now = rt.clock.now()
    variants = {
        "below_open_overdue_by_due": lambda: ledger.LedgerFilters(org_unit=top_code, include_sub=True, status="open",
                                                                 overdue=True, sort="due"),
        "all_newest": lambda: ledger.LedgerFilters(),
        "code_search": lambda: ledger.LedgerFilters(q=rng.choice(codes)),
        # 群体性 / 高风险 only (a few percent of the cases), newest first: the partial index ix_cases_flagged
        "below_high_risk_newest": lambda: ledger.LedgerFilters(org_unit=top_code, include_sub=True, high_risk=True),
    }
    # The same page read the generic way (every matching case sorted by its earliest due date), for comparison
    # with the walk over the tasks' due index that serves it (engine/case_list.overdue_page).
    variants["below_open_overdue_by_due_sorted"] = variants["below_open_overdue_by_due"]
    reps = max(cfg.list_reps, 20)
    out: dict = {"cases": cases}
    for name, make in variants.items():
        times, totals = [], []
        walks = case_list.walks_due_index
        if name.endswith("_sorted"):
            case_list.walks_due_index = lambda filters: False
        try:
            for i in range(reps + 2):
                with Session(engine) as s:
                    t0 = time.perf_counter()
                    page = ledger.list_cases(s, who, make(), page=1, per_page=50, now=now)
                    elapsed = (time.perf_counter() - t0) * 1000
                if i >= 2:  # two warm-up calls: caches of loaded versions and statements
                    times.append(elapsed)
                    totals.append(page.total)
        finally:
            case_list.walks_due_index = walks
        out[name] = {**summary(times), "total": max(totals), "total_capped": page.more}
        log(f"ledger: {name}: p95 {out[name]['p95']} ms over {cases:,} cases (total {max(totals)})")
    engine.dispose()
    results["ledger"] = out
