"""Shared pieces of the benchmark harness: statistics, databases, the bench directory, form data, machine facts."""
from __future__ import annotations

import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session as _OrmSession

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"            # ignored by git: databases, node_modules, logs, profiles
PROCESSES = BENCH / "processes"   # the bench's own BPMN files
REAL_PROCESSES = ROOT / "processes"
RESULTS = BENCH / "results"

LIFECYCLE_PROCESS = "bench_mediation"
LONG_PROCESS = "bench_long_case"
TIMER_PROCESS = "bench_timer"

# The lifecycle's form data, the same for every engine (jiefen validates it against the task's form).
INTAKE_DATA = {"party_name": "张三", "party_phone": "13800000000", "category": "labour", "amount": 12000,
               "accept": "yes"}
MEDIATE_DATA = {"result": "agreed", "agreement": "分期支付，三个月内付清"}

CENTER = ("330106000", "西湖区综治中心", "330106")
PASSWORD = "bench-password-1"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- statistics

def percentile(values, q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of a list of numbers; None for an empty list."""
    data = sorted(values)
    if not data:
        return None
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))


def summary(values) -> dict:
    """n, p50, p90, p95, p99, mean, min, max of a list of milliseconds (rounded for the report)."""
    values = list(values)
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p95": None, "p99": None, "mean": None, "min": None, "max": None}
    return {"n": len(values), "p50": rnd(percentile(values, 50)), "p90": rnd(percentile(values, 90)),
            "p95": rnd(percentile(values, 95)), "p99": rnd(percentile(values, 99)),
            "mean": rnd(sum(values) / len(values)), "min": rnd(min(values)), "max": rnd(max(values))}


def rnd(value, digits: int = 3):
    if value is None:
        return None
    if abs(value) >= 100:
        return round(value, 1)
    return round(value, digits)


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


# ---------------------------------------------------------------- the database under test

@dataclass
class Target:
    """Where the jiefen sections store their data: SQLite files under bench/.work, or one PostgreSQL database."""

    dialect: str            # sqlite | postgresql
    url: str | None = None  # PostgreSQL URL (the bench wipes its public schema)

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.dialect == "postgresql" else "SQLite (WAL, synchronous=FULL)"


def target_from_env(url: str | None = None) -> Target:
    """PostgreSQL when DATABASE_URL (or JIEFEN_DATABASE_URL, or --database-url) names one, else SQLite."""
    if url is None and (os.environ.get("DATABASE_URL") or os.environ.get("JIEFEN_DATABASE_URL")):
        from config.settings import database_url_from_env
        url = database_url_from_env()
    if url and url.startswith("postgres"):
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        from sqlalchemy.engine import make_url
        name = make_url(url).database or ""
        if "bench" not in name:
            raise SystemExit(f"bench: refusing to use PostgreSQL database {name!r}: the bench drops and recreates "
                             "schemas bench_* in it, so its name must contain 'bench' (createdb jiefen_bench)")
        return Target("postgresql", url)
    return Target("sqlite")


def sqlite_path(name: str) -> Path:
    return WORK / f"{name}.sqlite3"


def pg_schema(name: str) -> str:
    return f"bench_{name}"


def database_url(target: Target, name: str) -> str:
    """SQLite: bench/.work/<name>.sqlite3. PostgreSQL: the given database, schema bench_<name> (search_path),
    so every section keeps its own data for inspection after the run and no section touches `public`."""
    if target.dialect == "postgresql":
        from sqlalchemy.engine import make_url
        url = make_url(target.url).update_query_dict({"options": f"-csearch_path={pg_schema(name)}"})
        return url.render_as_string(hide_password=False)
    return f"sqlite:///{sqlite_path(name)}"


def fresh_database(target: Target, name: str, **engine_kwargs):
    """An empty database at the newest schema: a new SQLite file, or the PostgreSQL public schema recreated."""
    from sqlalchemy import text

    from engine.db import make_engine, upgrade_schema

    WORK.mkdir(parents=True, exist_ok=True)
    if target.dialect == "sqlite":
        path = sqlite_path(name)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    url = database_url(target, name)
    if target.dialect == "postgresql":
        admin = make_engine(target.url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {pg_schema(name)} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {pg_schema(name)}"))
        admin.dispose()
    engine = make_engine(url, **engine_kwargs)
    upgrade_schema(engine)
    return engine, url


def database_bytes(engine) -> int:
    """Bytes the jiefen tables take: SQLite file after a WAL checkpoint, or the relations' total size on PostgreSQL."""
    from sqlalchemy import text

    from engine.models import Base

    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar()
        return int(pages * size)
    total = 0
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            total += conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table.name}).scalar() or 0
    return int(total)


def table_bytes(engine) -> dict[str, int]:
    """Per-table size (PostgreSQL: table + indexes + toast; SQLite: dbstat when compiled in, else {})."""
    from sqlalchemy import text

    from engine.models import Base

    out: dict[str, int] = {}
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                out[table.name] = int(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table.name}).scalar() or 0)
        else:
            try:
                rows = conn.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").all()
            except Exception:  # dbstat is optional in SQLite builds
                return {}
            out = {name: int(size) for name, size in rows}
    return out


def analyze(engine) -> None:
    """Fresh planner statistics after a bulk load (what an operator does after an import). On PostgreSQL a
    VACUUM too: until the visibility map is set, the lists' index-only scans visit the table (the code
    search at 1,000,000 cases: 23 ms p95 without it, 11 ms with it)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


# ---------------------------------------------------------------- runtime and directory

_bench_runtime = None  # the runtime of this bench process (one per process), bound to every bench Session


def configure_runtime(clock=None):
    """Build the bench process's runtime; every `bench.common.Session` made afterwards carries it."""
    global _bench_runtime
    from engine import runtime
    from engine.calendar import DEFAULT_CALENDAR_PATH
    from engine.clock import Clock

    settings = runtime.EngineSettings.from_files(str(ROOT / "config" / "org.toml"), str(DEFAULT_CALENDAR_PATH))
    _bench_runtime = runtime.Runtime(settings, clock or Clock())
    return _bench_runtime


class Session(_OrmSession):
    """sqlalchemy.orm.Session bound to the runtime configure_runtime built (engine.runtime.of reads it)."""

    def __init__(self, *args, **kwargs):
        from engine import runtime

        super().__init__(*args, **kwargs)
        if _bench_runtime is None:
            raise RuntimeError("bench: call configure_runtime() before opening a Session")
        runtime.bind(self, _bench_runtime)


def bench_files() -> dict[str, bytes]:
    from engine.services import processes
    return processes.read_directory(PROCESSES)


def real_process_files() -> dict[str, bytes]:
    from engine.services import processes
    if not REAL_PROCESSES.is_dir():
        return {}
    return processes.read_directory(REAL_PROCESSES)


def org_units(townships: int, villages: int) -> list[tuple[str, str, str, str]]:
    """(code, name, kind, parent code) of the units under the bench's county center."""
    out = []
    for t in range(1, townships + 1):
        tcode = f"{CENTER[0][:6]}{t:03d}"
        out.append((tcode, f"第{t}街道综治中心", "township", CENTER[0]))
        for v in range(1, villages + 1):
            out.append((f"{tcode}{v:03d}", f"第{t}街道第{v}社区调解室", "village", tcode))
    return out


def setup_directory(session, files: dict[str, bytes], townships: int = 1, villages: int = 0,
                    users_: dict[str, list[str]] | None = None) -> dict:
    """The county center, its units, the deployed processes, and users (username -> roles, at the center).

    Also creates `bench_all`, holding every non-built-in role in every unit (drives cases anywhere)."""
    from sqlalchemy import select

    from engine.models import MembershipModel, OrgUnitModel, RoleModel, UserModel
    from engine.services import processes, users
    from engine.services.users import SYSTEM

    users.init_directory(session, *CENTER)
    for code, name, kind, parent in org_units(townships, villages):
        users.add_org_unit(session, code, name, kind, parent)
    results = processes.deploy(session, files, SYSTEM) if files else []
    users.ensure_roles(session, {"intake_clerk": "窗口受理员", "mediator": "调解员", "revisit_staff": "回访员",
                                 "unit_head": "部门负责人", "supervisor": "督办岗"})
    session.commit()
    for name, roles in (users_ or {}).items():
        users.create_user(session, name, PASSWORD, roles)
    # bench_all: every role everywhere, inserted directly (create_user would hash and loop per pair)
    users.create_user(session, "bench_all", PASSWORD, ["intake_clerk"])
    user = session.scalar(select(UserModel).where(UserModel.username == "bench_all"))
    have = {(m.role_id, m.org_unit_id) for m in user.memberships}
    roles = session.scalars(select(RoleModel).where(RoleModel.builtin.is_(False))).all()
    units = session.scalars(select(OrgUnitModel)).all()
    for role in roles:
        for unit in units:
            if (role.id, unit.id) not in have:
                session.add(MembershipModel(user_id=user.id, role_id=role.id, org_unit_id=unit.id))
    session.commit()
    return {r.process_id: r.version for r in results}


def actor(session, name: str):
    from engine.services.users import load_actor
    return load_actor(session, name)


# ---------------------------------------------------------------- form data

# About this share of synthesised cases is 群体性 or 高风险 (engine/group_cases.py), as at a real center.
FLAGGED_SHARE = 0.04

def synth_form(form: list[dict], rng: random.Random, fixed: dict | None = None) -> dict:
    """Valid data for a task form: the given values, then a plausible value for every other writable field."""
    fixed = fixed or {}
    out = {}
    for field in form:
        if field.get("readonly") or field.get("group"):  # a repeatable group (jiefen.group): optional, left out
            continue
        fid = field["id"]
        if fid in fixed:
            out[fid] = fixed[fid]
            continue
        if not field.get("required") and rng.random() < 0.3:
            continue
        kind = (field.get("type") or "string").lower()
        if kind == "enum":
            values = [value for value, *_ in field.get("enum") or []]  # unit options carry their roles too
            if field.get("multiple"):  # jiefen.multiple: a list of distinct choices
                out[fid] = rng.sample(values, k=min(len(values), rng.randint(1 if field.get("required") else 0, 2)))
            elif values:
                out[fid] = rng.choice(values)
            # no choices offered here (jiefen.options depend on the case and none fit): leave it out
        elif fid == "people_involved" and kind in ("long", "integer"):
            # A center's cases involve a few people; a few percent are 群体性 (≥ 10 by default): a uniform draw
            # up to 100,000 flagged 88% of the bench's cases and made every list's flagged part its whole.
            lo = int(field["min"]) if field.get("min") is not None else 1
            out[fid] = rng.randint(10, 60) if rng.random() < FLAGGED_SHARE / 2 else rng.randint(max(lo, 1), 6)
        elif fid == "high_risk" and kind == "boolean":
            out[fid] = rng.random() < FLAGGED_SHARE / 2  # 高风险: rare, as above
        elif kind in ("long", "integer"):
            lo = int(field["min"]) if field.get("min") is not None else 0
            hi = int(field["max"]) if field.get("max") is not None else lo + 100_000
            out[fid] = rng.randint(lo, max(lo, min(hi, lo + 100_000)))
        elif kind == "double":
            lo = float(field["min"]) if field.get("min") is not None else 0.0
            out[fid] = round(lo + rng.random() * 1000, 2)
        elif kind == "boolean":
            out[fid] = rng.random() < 0.5
        elif kind == "date":
            # The day of entry is China's (engine/forms.py checks min/max such as `today` against it), and a
            # bound like min="today" must hold: an evening run in UTC is already tomorrow in Beijing.
            from engine import clock, form_rules
            today = datetime.now(timezone.utc).astimezone(clock.CHINA_TZ).date()
            day = today
            low = form_rules.date_bound(field.get("min"))
            if low is not None:
                day = max(day, form_rules.bound_date(low, today))
            out[fid] = day.isoformat()
        elif field.get("phone"):  # a `phone` constraint (engine/form_rules.py)
            out[fid] = f"138{rng.randint(0, 99_999_999):08d}"
        else:
            text = rng.choice(["张三", "李四与王五", "邻里漏水纠纷", "工资拖欠", "13800000000", "基准数据"])
            minlen = int(field.get("minlength") or 1)
            while len(text) < minlen:
                text += "。基准数据"
            if field.get("maxlength"):
                text = text[: int(field["maxlength"])]
            out[fid] = text
    return out


# ---------------------------------------------------------------- machine facts

def _run(cmd: list[str], cwd: Path | None = None, timeout: float = 10) -> str | None:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine() -> dict:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    import sqlite3

    import sqlalchemy
    from importlib.metadata import version as pkg_version

    commit = _run(["git", "rev-parse", "--short", "HEAD"], ROOT)
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], ROOT)
    return {
        "hostname": platform.node(), "os": f"{platform.system()} {platform.release()}", "cpu": cpu,
        "cores": os.cpu_count(), "memory_gib": mem_gib, "python": platform.python_version(),
        "spiffworkflow": pkg_version("SpiffWorkflow"), "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version, "node": _run(["node", "--version"]),
        "git_commit": commit, "git_dirty": bool(dirty),
        "loadavg_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def database_facts(target: Target) -> dict:
    facts = {"dialect": target.dialect, "label": target.label}
    if target.dialect == "postgresql":
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from engine.db import server_settings
        engine = create_engine(target.url)
        with engine.connect() as conn:
            facts["version"] = conn.execute(text("SHOW server_version")).scalar()
            facts["synchronous_commit"] = conn.execute(text("SHOW synchronous_commit")).scalar()
            facts["fsync"] = conn.execute(text("SHOW fsync")).scalar()
            facts["shared_buffers"] = conn.execute(text("SHOW shared_buffers")).scalar()
        facts.update(server_settings(engine))  # autovacuum, track_counts: what jiefen serve warns about
        engine.dispose()
        url = make_url(target.url)
        facts["url"] = url.render_as_string(hide_password=True)
    else:
        import sqlite3
        facts["version"] = sqlite3.sqlite_version
        facts["journal_mode"] = "wal"
        facts["synchronous"] = "FULL"
        facts["path"] = str(WORK.relative_to(ROOT)) + "/*.sqlite3"
    return facts


def which(name: str) -> str | None:
    return shutil.which(name)


@contextmanager
def section(name: str, results: dict):
    """Run one section; a failure is recorded in the results instead of ending the whole run."""
    t0 = time.perf_counter()
    log(f"— {name} —")
    try:
        yield
    except KeyboardInterrupt:
        raise
    except SystemExit:
        raise
    except BaseException as exc:  # keep the other sections' figures
        import traceback
        traceback.print_exc()
        results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        log(f"{name} FAILED: {exc}")
    finally:
        results.setdefault("section_seconds", {})[name] = round(time.perf_counter() - t0, 1)


def dump_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def stop_process(proc, fh) -> None:
    """Stop a server or worker the bench started (terminate, then kill), and close its log."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    fh.close()
