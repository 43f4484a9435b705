"""Re-measure the task list on the database the last scale section left (no reload of its cases).

    .venv/bin/python -m bench.tasklist [--reps 30] [--output PATH]     # DATABASE_URL for PostgreSQL
    .venv/bin/python -m bench.tasklist --explain [--output PATH]       # the plans instead of the timings

Loading 1,000,000 cases takes most of a --full run; a change to the list (an index, the query) can be
measured again on the same rows in minutes. The schema is upgraded first (migrations may add indexes).
Prints the same figures as the scale section's task list and writes them as JSON."""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

from sqlalchemy import delete, select
from bench.common import Session

from bench.common import analyze, configure_runtime, database_url, machine, target_from_env
from bench.scale import measure_task_list
from engine.db import make_engine, upgrade_schema
from engine.models import ApiTokenModel, CaseModel, MembershipModel, UserModel

LIST_USERS = ("list_user", "list_supervisor", "list_township_supervisor", "list_auditor")  # made by measure_task_list; made again here


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the measuring rounds")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--explain", action="store_true",
                        help="print each variant's statements with their plans (EXPLAIN QUERY PLAN on SQLite, "
                             "EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL) instead of timing them")
    args = parser.parse_args(argv)
    target = target_from_env()
    engine = make_engine(database_url(target, "scale"))
    rt = configure_runtime()
    with Session(engine) as s:
        cases = s.scalar(select(CaseModel.id).order_by(CaseModel.id.desc()).limit(1)) or 0
    if not cases:
        print("bench.tasklist: the scale database is empty; run the scale section first", file=sys.stderr)
        return 1
    upgrade_schema(engine)
    analyze(engine)
    with Session(engine) as s:
        ids = list(s.scalars(select(UserModel.id).where(UserModel.username.in_(LIST_USERS))))
        s.execute(delete(ApiTokenModel).where(ApiTokenModel.user_id.in_(ids)))
        s.execute(delete(MembershipModel).where(MembershipModel.user_id.in_(ids)))
        s.execute(delete(UserModel).where(UserModel.id.in_(ids)))
        s.commit()
    if args.explain:
        text = explain_task_list(engine, rt.clock.now())
        engine.dispose()
        print(text)
        if args.output:
            args.output.write_text(text + "\n", encoding="utf-8")
        return 0
    facts = machine()
    result = measure_task_list(engine, args.reps, random.Random(6), rt.clock.now(), args.budget)
    engine.dispose()
    facts["loadavg_end"] = os.getloadavg()[0]
    result = {"database": target.label, "cases": cases, "machine": facts, "task_list": result}
    text = json.dumps(result, indent=1, ensure_ascii=False, default=str)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


def _generic_plan(session, statement: str, parameters: dict) -> str:
    """The plan a statement psycopg has prepared (from its 5th run on a connection) may get once the server
    stops planning it per call: the generic plan, blind to the parameter values. An explicit PREPARE, so
    that plan_cache_mode applies (a statement sent with parameters is planned with their values)."""
    import re

    from psycopg import sql

    raw = session.connection().connection.dbapi_connection
    names: list[str] = []

    def number(match):
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    body = re.sub(r"%\((\w+)\)s", number, statement)
    values = ", ".join(sql.Literal(parameters[n]).as_string(raw) for n in names)
    conn = session.connection()
    conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql(f"PREPARE jiefen_explain AS {body}".replace("%%", "%"))
    try:
        explain = f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE jiefen_explain({values})"
        rows = conn.exec_driver_sql(explain.replace("%", "%%")).all()
    finally:
        conn.exec_driver_sql("DEALLOCATE jiefen_explain")
        conn.exec_driver_sql("RESET plan_cache_mode")
    return "\n".join(str(r[0]) for r in rows)


def explain_task_list(engine, now) -> str:
    """The statements list_tasks sends for each variant measure_task_list times (first choice of each
    random pick): the page, the count (none when the page ends the list) and the task rows, each followed
    by the database's plan for it with the same parameter values."""
    from sqlalchemy import event

    from bench.common import actor
    from bench.scale import _busiest_pair, _grant_user
    from engine.models import TaskCandidateModel, TaskModel
    from engine.services import tasks

    with Session(engine) as s:
        role, org_id, visible = _busiest_pair(s)
        _grant_user(s, "list_user", role, org_id)
        who = actor(s, "list_user")
        sample = s.execute(select(TaskModel.process_id, CaseModel.category, CaseModel.code)
                           .join(CaseModel, CaseModel.id == TaskModel.case_id)
                           .join(TaskCandidateModel, TaskCandidateModel.task_id == TaskModel.id)
                           .where(TaskCandidateModel.role == role, TaskCandidateModel.org_unit_id == org_id)
                           .limit(200)).all()
    process = sorted({r[0] for r in sample})[0]
    category = next(iter(sorted({r[1] for r in sample if r[1]})), None)
    code = sample[0][2]
    variants = {"due": dict(sort="due"), "process_created_desc": dict(process_id=process, sort="-created"),
                "overdue_warning": dict(overdue=True, sort="warning"),
                "unassigned_category": dict(assigned="none", category=category, sort="due"),
                "page_5": dict(sort="due", page=5), "search_code": dict(q=code[-8:], sort="due"),
                "search_whole_code": dict(q=code, sort="due")}
    pg = engine.dialect.name == "postgresql"
    out = [f"{engine.dialect.name}: ({role}, org unit {org_id}), {visible:,} candidate rows"]
    for name, kwargs in variants.items():
        sent: list[tuple[str, object]] = []

        def capture(_conn, _cursor, statement, parameters, _context, _many):
            sent.append((statement, parameters))

        with Session(engine) as s:
            event.listen(engine, "before_cursor_execute", capture)
            try:
                tasks.list_tasks(s, who, now=now, **kwargs)
            finally:
                event.remove(engine, "before_cursor_execute", capture)
            for i, (statement, parameters) in enumerate(sent):
                label = "page" if i == 0 else "count" if "count(" in statement[:80] else "task rows"
                prefix = "EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
                rows = s.connection().exec_driver_sql(prefix + statement, parameters).all()
                plan = "\n".join(str(r[0]) if pg else f"{r[1]:>4} {r[3]}" for r in rows)
                out.append(f"\n=== {name} {kwargs} — {label}\n{statement}\n{parameters}\n--- plan\n{plan}")
                if pg:
                    out.append("--- generic plan\n" + _generic_plan(s, statement, parameters))
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
