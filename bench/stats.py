"""The statistics (issue 18 §2): a year's figures over the database the scale section left.

The budget: p95 ≤ 500 ms for a year at 1,000,000 cases. A director (the supervisor role at the top center) asks
for the year ending today grouped by unit (every township rolled up), by category and by month. A fresh session
per call, as a request has. The daily counters are recounted from the cloned cases' history first when they
do not count every case (engine/stats.rebuild: cloned rows bypass the commands that keep them). Run after the scale
section (`--only scale,ledger,stats`); alone it measures whatever that left."""
from __future__ import annotations

import time
from datetime import timedelta

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
from engine.clock import CHINA_TZ
from engine.db import make_engine, upgrade_schema
from engine.models import CaseModel, OrgUnitModel, StatsDailyModel, UserModel

DIRECTOR = "ledger_director"  # the ledger section's director, made here when that section did not run


def run(target, cfg, results: dict) -> None:
    from engine import stats as stats_defs
    from engine.services import stats, users

    rt = configure_runtime()
    engine = make_engine(database_url(target, "scale"))
    upgrade_schema(engine)
    with Session(engine) as s:
        cases = s.scalar(select(func.count()).select_from(CaseModel)) or 0
        counted = s.scalar(select(func.sum(StatsDailyModel.received))) or 0
    if not cases:
        raise RuntimeError("the scale database is empty: run the scale section first (--only scale,stats)")
    rebuild_s = None
    if counted < cases:  # the sample's commands counted themselves; the clones were inserted around them
        log(f"stats: recounting the daily counters from the history of {cases:,} cases …")
        t0 = time.perf_counter()
        with Session(engine) as s:
            stats_defs.rebuild(s)
            s.commit()
        rebuild_s = round(time.perf_counter() - t0, 1)
        log(f"stats: recounted in {rebuild_s} s")
    analyze(engine)
    with Session(engine) as s:
        daily = s.scalar(select(func.count()).select_from(StatsDailyModel)) or 0
        top = s.scalar(select(OrgUnitModel).where(OrgUnitModel.parent_id.is_(None)))
        if s.scalar(select(UserModel.id).where(UserModel.username == DIRECTOR)) is None:
            users.create_user(s, DIRECTOR, PASSWORD, ["supervisor"], [top.code])
        who = actor(s, DIRECTOR)
    now = rt.clock.now()
    end = now.astimezone(CHINA_TZ).date()
    start = end - timedelta(days=364)
    reps = max(cfg.list_reps, 20)
    out: dict = {"cases": cases, "daily_rows": daily, "rebuild_seconds": rebuild_s,
                 "period": [start.isoformat(), end.isoformat()]}
    for group_by in ("org_unit", "category", "month", "dept"):
        times = []
        for i in range(reps + 2):
            with Session(engine) as s:
                t0 = time.perf_counter()
                result = stats.get_stats(s, who, start, end, group_by, None, now=now)
                elapsed = (time.perf_counter() - t0) * 1000
            if i >= 2:
                times.append(elapsed)
        out[f"year_by_{group_by}"] = {**summary(times), "received": result.total["received"],
                                      "closed": result.total["closed"], "groups": len(result.groups)}
        log(f"stats: a year by {group_by}: p95 {out[f'year_by_{group_by}']['p95']} ms over {cases:,} cases "
            f"({daily:,} daily rows; received {result.total['received']:,}, closed {result.total['closed']:,})")
    engine.dispose()
    results["stats"] = out
