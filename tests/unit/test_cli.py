"""The `jiefen` console command, run as a subprocess the way an operator runs it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT
from tests.support import PASSWORD

# The console command runs against a SQLite file of its own (the `run` fixture sets DATABASE_URL), whatever the
# suite's database: the SQLite run covers it, and the PostgreSQL run (make test-pg) would only repeat it.
pytestmark = pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                                reason="runs on its own SQLite file; covered by the SQLite run")

JIEFEN = str(Path(sys.executable).parent / "jiefen")


@pytest.fixture
def run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JIEFEN_DATABASE_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"

    def _run(*args, ok=True):
        result = subprocess.run([JIEFEN, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if ok:
            assert result.returncode == 0, result.stderr
        return result
    return _run


def test_make_run_steps_init_db_then_demo_work_with_the_city_above_the_county(run, tmp_path):
    """`make run`: init-db creates the county as the top center, then the demo puts its city (市级) above it."""
    assert "330106000" in run("init-db").stdout
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}", JIEFEN_DEMO="1")
    env.pop("JIEFEN_DATABASE_URL", None)
    demo = subprocess.run([JIEFEN, "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0 and "demo loaded" in demo.stdout, demo.stderr[-2000:]
    orgs = run("orgs").stdout
    assert "330100000" in orgs and "330106000" in orgs


def test_operator_commands_end_to_end(run, tmp_path):
    assert "database ready" in run("init-db").stdout
    assert "database ready" in run("init-db").stdout  # idempotent
    out = run("deploy", str(FIXTURES / "engine" / "small_mediation.bpmn")).stdout
    assert out.startswith("small_mediation\tversion 1\tdeployed")
    assert "unchanged" in run("deploy", str(FIXTURES / "engine" / "small_mediation.bpmn")).stdout
    changed = tmp_path / "small_mediation.bpmn"
    changed.write_bytes((FIXTURES / "engine" / "small_mediation.bpmn").read_bytes().replace("小型".encode(), "中型".encode()))
    assert "version 2\tdeployed" in run("deploy", str(changed), "--note", "改名为中型调解").stdout
    import sqlite3
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        assert db.execute("SELECT note FROM process_versions WHERE version = 2").fetchone() == ("改名为中型调解",)
    roles = run("roles").stdout.splitlines()
    assert roles[0].split("\t")[0] in ("admin", "auditor") and any(r.startswith("intake_clerk") for r in roles)
    assert run("orgs").stdout.startswith("330106000\t")
    run("user", "add", "li", "--password", PASSWORD, "--role", "intake_clerk", "--role", "mediator")
    token = run("token", "li").stdout.strip()
    assert len(token) > 30
    bad = run("user", "add", "wang", "--password", PASSWORD, "--role", "astronaut", ok=False)
    assert bad.returncode == 2 and "astronaut" in bad.stderr and "Traceback" not in bad.stderr
    missing_org = run("user", "add", "zhao", "--password", PASSWORD, "--role", "mediator", "--org", "nowhere", ok=False)
    assert missing_org.returncode == 2 and "nowhere" in missing_org.stderr


def test_org_phone_sets_lists_and_clears_a_units_contact(run):
    run("init-db")
    assert run("org-phone", "330106000", "0571-8701 2345").stdout.strip().endswith("0571-8701 2345")
    assert run("orgs").stdout.splitlines()[0].endswith("\t0571-8701 2345")
    bad = run("org-phone", "330106000", "总机", ok=False)
    assert bad.returncode == 2 and "phone" in bad.stderr and "Traceback" not in bad.stderr
    missing = run("org-phone", "nowhere", "0571-1", ok=False)
    assert missing.returncode == 2 and "nowhere" in missing.stderr
    run("org-phone", "330106000")
    assert not run("orgs").stdout.splitlines()[0].endswith("2345")


def test_deploy_reports_every_problem_without_traceback(run, tmp_path):
    run("init-db")
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes((FIXTURES / "engine" / "small_mediation.bpmn").read_bytes()
                    .replace(b"result == 'agreed'", b"__import__('os').system('true')")
                    .replace(b'"=workdays(5)"', b'"${calendar.due()}"'))
    result = run("deploy", str(bad), ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "f5" in result.stderr and "mediate" in result.stderr


def test_deploy_takes_decision_tables_first_and_refuses_a_bad_cell(run, tmp_path):
    run("init-db")
    root = Path(__file__).resolve().parents[2] / "processes"
    out = run("deploy", str(root / "dispute_tier.dmn"), str(root)).stdout
    assert "dispute_tier (decision table)\tversion 1\tdeployed" in out and "dispute\tversion 1\tdeployed" in out
    bad = tmp_path / "dispute_tier.dmn"
    bad.write_bytes((root / "dispute_tier.dmn").read_bytes().replace(b"<text>&gt;= 30</text>", b"<text>&gt;= x.y</text>"))
    result = run("deploy", str(bad), ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "rule 2, input column '涉及人数'" in result.stderr


def test_calendar_recompute_reports_what_moved(run):
    run("init-db")
    assert run("calendar", "recompute", "--year", "2027").stdout.strip() == "0 case(s), 0 deadline(s) moved"
    assert run("calendar", "recompute", ok=False).returncode == 2  # --year is required


def test_calendar_due_prints_the_end_of_the_last_day(run):
    # 2026 国庆: Oct 1-7 off, Sat Oct 10 is a make-up workday; 3 working days after Sep 30: Oct 8, 9, 10
    assert run("calendar", "due", "2026-09-30", "--days", "15", "--unit", "legal").stdout.strip() == "2026-10-15T23:59:59+08:00"
    assert run("calendar", "due", "2026-09-30", "--days", "3", "--unit", "working").stdout.strip() == "2026-10-10T23:59:59+08:00"
    assert run("calendar", "due", "2026-09-28", "--days", "5", "--unit", "natural").stdout.strip() == "2026-10-03T23:59:59+08:00"
    computed = run("calendar", "due", "2031-01-21", "--days", "3", "--unit", "working")  # 春节 2031: 1-22 to 1-25
    assert computed.stdout.strip() == "2031-01-29T23:59:59+08:00" and "2031年放假安排尚未公布" in computed.stderr
    result = run("calendar", "due", "2100-01-05", "--days", "3", "--unit", "working", ok=False)
    assert result.returncode == 2 and "2100" in result.stderr
    known = run("calendar", "due", "2026-03-02", "--days", "30", "--unit", "legal")
    assert "provisional" not in known.stderr


def test_calendar_due_into_a_provisional_year_skips_its_statutory_holidays_and_says_so(run):
    # the shipped config/calendar.toml marks 2027 provisional: 元旦 is still known (issue 17 §3)
    result = run("calendar", "due", "2026-12-02", "--days", "30", "--unit", "legal")
    assert result.stdout.strip() == "2027-01-04T23:59:59+08:00"
    assert "provisional" in result.stderr and "2027" in result.stderr and "调休" in result.stderr
    assert run("calendar", "due", "2026-12-10", "--days", "60", "--unit", "legal").stdout.strip() == \
        "2027-02-09T23:59:59+08:00"  # 正月初三 is a holiday


def test_timers_run_due_and_verify(run, tmp_path):
    run("init-db")
    run("deploy", str(FIXTURES / "engine" / "timers.bpmn"))
    assert run("timers", "run-due", "--now", "2026-03-01T00:00:00+08:00").stdout.startswith("fired 0")
    result = run("verify", "1", ok=False)
    assert result.returncode == 2 and "not found" in result.stderr


def test_init_db_creates_the_default_sqlite_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JIEFEN_DATABASE_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'not-yet' / 'jiefen.sqlite3'}"
    result = subprocess.run([JIEFEN, "init-db"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "not-yet" / "jiefen.sqlite3").exists()


@pytest.mark.parametrize("args", [("orgs",), ("verify", "1"),
                                  ("user", "add", "li", "--password", "Jiefen-Test-Pass-2026", "--role", "mediator")])
def test_a_database_without_its_schema_says_to_run_init_db(run, args):
    result = run(*args, ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "jiefen init-db" in result.stderr


def test_an_unreachable_database_is_named_with_its_password_masked(run, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JIEFEN_DATABASE_URL")}
    env["DATABASE_URL"] = "postgresql://jiefen:s3cret-pw@127.0.0.1:1/jiefen"
    result = subprocess.run([JIEFEN, "orgs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "cannot reach the database postgresql+psycopg://jiefen:***@127.0.0.1:1/jiefen" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_a_bad_now_says_which_format(run):
    run("init-db")
    result = run("timers", "run-due", "--now", "next tuesday", ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--now" in result.stderr and "ISO 8601" in result.stderr


def test_stats_rebuild_recounts_and_says_how_many_cases(run):
    run("init-db")
    assert run("stats", "rebuild").stdout.strip() == "0 case(s) recounted / 已重新统计 0 件案件"


def test_init_db_seeds_the_settings_from_config_org_toml_once(run, tmp_path):
    """config/org.toml is the seed: init-db writes the settings it has no row for, recorded, and never again."""
    first = run("init-db").stdout
    assert "settings seeded from config/org.toml: ladder, lane_roles, group_case, ranking" in first
    assert "settings seeded" not in run("init-db").stdout
    import json
    import sqlite3
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        rows = dict(db.execute("SELECT key, value FROM settings").fetchall())
        assert set(rows) == {"ladder", "lane_roles", "group_case", "ranking"}
        assert json.loads(rows["lane_roles"])["调解员"] == "mediator"
        ladder = json.loads(rows["ladder"])
        assert ladder["tiers"]["major"]["steps"][0] == {"step": "prompt", "direction": "before", "amount": 3,
                                                        "unit": "days", "two_thirds": True}
        actions = [a for (a,) in db.execute("SELECT action FROM admin_events ORDER BY seq")]
        assert actions.count("setting_seeded") == 4
        assert db.execute("SELECT count(*) FROM setting_versions").fetchone() == (4,)
