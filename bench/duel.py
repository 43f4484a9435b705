"""A duel: the jiefen lifecycle of two code versions, run in turns on one machine (before/after a change).

    .venv/bin/python bench/duel.py BASE [OTHER] [--slices 20] [--per-slice 20] [--database-url URL]

BASE and OTHER are git revisions (OTHER defaults to the working tree as it is). Each side gets a worker process
running its own code (a detached git worktree under bench/.work/duel/) on a database of its own; the workers
take turns at slices of `--per-slice` lifecycles, the order flipping every slice, so that both see the same
machine. On a machine whose speed drifts by tens of percent between runs (bench/README.md, fourth and sixth
passes) this shows a change of a few percent that back-to-back `--quick` runs cannot: it prints each side's
p50 per step and per lifecycle, and in how many slices OTHER was faster.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DUEL_DIR = ROOT / "bench" / ".work" / "duel"


def _worker(tag: str, url: str | None) -> None:
    """Runs inside a side's worktree: lifecycles on request, one JSON line of step times (ms) per slice."""
    from sqlalchemy.orm import Session as PlainSession

    from bench import common, lifecycle
    # A revision before the runtime travelled with the session (before issue 16) has no bench.common.Session:
    # its own code configured a process-wide runtime, so a plain session works there.
    Session = getattr(common, "Session", PlainSession)
    from bench.common import Target, actor

    target = Target("postgresql", url) if url else Target("sqlite")
    engine, _url = lifecycle.prepare_jiefen(target, f"duel_{tag}")
    with Session(engine) as s:
        clerk, mediator = actor(s, "clerk"), actor(s, "mediator1")
    for _ in range(10):  # warm-up: caches, prepared statements, the pool
        lifecycle.jiefen_lifecycle_once(engine, clerk, mediator)
    print("ready", flush=True)
    for line in sys.stdin:
        times = [lifecycle.jiefen_lifecycle_once(engine, clerk, mediator)[0] for _ in range(int(line))]
        print(json.dumps(times), flush=True)


def _checkout(revision: str) -> tuple[Path, str]:
    """A detached worktree of `revision` (reused when it exists), and its short commit id."""
    sha = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    path = DUEL_DIR / sha
    if not (path / "engine").is_dir():
        DUEL_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(path), sha], cwd=ROOT, check=True,
                       capture_output=True)
    return path, sha


def _spawn(tree: Path, tag: str, url: str | None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("DATABASE_URL", None)
    env.pop("JIEFEN_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", tag, "--database-url", url or "-"],
                            cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise SystemExit(f"duel: the worker for {tree} did not start (run `bench/duel.py --worker x` there to see why)")
    return proc


def _summary(times: list[list[float]]) -> dict:
    return {"lifecycle_ms_p50": round(statistics.median(sum(t) for t in times), 3),
            "steps_ms_p50": [round(statistics.median(t[i] for t in times), 3) for i in range(3)],
            "lifecycles": len(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?", help="git revision of the first side")
    parser.add_argument("other", nargs="?", default=None, help="git revision of the second side (default: the working tree)")
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--per-slice", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (a database whose name contains 'bench'); default SQLite")
    parser.add_argument("--worker", metavar="TAG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    url = None if args.database_url in (None, "-") else args.database_url
    if args.worker:
        if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
            sys.path.pop(0)  # this file's folder: the side's own bench package comes from PYTHONPATH
        _worker(args.worker, url)
        return 0
    if not args.base:
        parser.error("name the revision to compare with, e.g. HEAD~1")
    if url:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from bench.common import target_from_env
        url = target_from_env(url).url  # refuses a database whose name does not contain "bench"
    sides = [_checkout(args.base)]
    sides.append(_checkout(args.other) if args.other else (ROOT, "working tree"))
    procs = [_spawn(tree, tag, url) for (tree, _label), tag in zip(sides, ("a", "b"))]
    times: list[list[list[float]]] = [[], []]
    other_faster = 0
    try:
        for n in range(args.slices):
            slice_p50 = [0.0, 0.0]
            for i in ((0, 1) if n % 2 == 0 else (1, 0)):
                procs[i].stdin.write(f"{args.per_slice}\n")
                procs[i].stdin.flush()
                got = json.loads(procs[i].stdout.readline())
                times[i] += got
                slice_p50[i] = statistics.median(sum(t) for t in got)
            other_faster += slice_p50[1] < slice_p50[0]
    finally:
        for proc in procs:
            proc.stdin.close()
            proc.wait(timeout=60)
    database = "PostgreSQL" if url else "SQLite (WAL, synchronous=FULL)"
    result = {"database": database, "slices": args.slices, "per_slice": args.per_slice,
              "sides": [{"code": label, **_summary(t)} for (_tree, label), t in zip(sides, times)],
              "other_faster_in_slices": other_faster}
    for side in result["sides"]:
        print(f"{side['code']:>14}: lifecycle p50 {side['lifecycle_ms_p50']:.3f} ms, steps p50 "
              f"{' / '.join(f'{x:.3f}' for x in side['steps_ms_p50'])} ms ({side['lifecycles']} lifecycles)")
    print(f"{sides[1][1]} faster in {other_faster} of {args.slices} slices ({database})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
