"""Re-measure the task list on the database the last scale section left (no reload of its cases).

    .venv/bin/python -m bench.tasklist [--reps 30] [--output PATH]     # DATABASE_URL for PostgreSQL

Loading 1,000,000 cases takes most of a --full run; a change to the list (an index, the query) can be
measured again on the same rows in minutes. The schema is upgraded first (migrations may add indexes).
Prints the same figures as the scale section's task list and writes them as JSON."""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bench.common import analyze, configure_runtime, database_url, target_from_env
from bench.scale import measure_task_list
from engine.db import make_engine, upgrade_schema
from engine.models import ApiTokenModel, CaseModel, MembershipModel, UserModel

LIST_USERS = ("list_user", "list_supervisor")  # made by measure_task_list; made again here


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the measuring rounds")
    parser.add_argument("--output", type=Path)
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
    result = measure_task_list(engine, args.reps, random.Random(6), rt.clock.now(), args.budget)
    engine.dispose()
    result = {"database": target.label, "cases": cases, "task_list": result}
    text = json.dumps(result, indent=1, ensure_ascii=False, default=str)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
