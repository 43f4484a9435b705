"""`jiefen incidents` (list, retry, resolve) and `jiefen timers run-due` with failing timers, run as an operator
runs them (subprocesses on a SQLite file)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from engine import runtime
from engine.calendar import DEFAULT_CALENDAR_PATH
from engine.clock import Clock
from engine.db import make_engine
from engine.services import cases
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES, ROOT, START
from tests.support import PASSWORD

# The console command runs against a SQLite file of its own (the `run` fixture sets DATABASE_URL), whatever the
# suite's database: the SQLite run covers it, and the PostgreSQL run (make test-pg) would only repeat it.
pytestmark = pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                                reason="runs on its own SQLite file; covered by the SQLite run")

JIEFEN = str(Path(sys.executable).parent / "jiefen")


@pytest.fixture
def run(tmp_path):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JIEFEN_DATABASE_URL")}
    base["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"

    def _run(*args, ok=True, **env):
        result = subprocess.run([JIEFEN, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True,
                                timeout=120)
        if ok:
            assert result.returncode == 0, result.stderr
        return result
    return _run


def test_failing_timers_become_incidents_an_operator_lists_resolves_and_retries(run, tmp_path):
    run("init-db")
    run("deploy", str(FIXTURES / "engine" / "timer_faults.bpmn"))
    # the process's reply task needs somebody to answer it (a role nobody holds is refused: engine/routing.py)
    run("user", "add", "li", "--password", PASSWORD, "--role", "mediator")
    rt = runtime.Runtime(runtime.EngineSettings.from_files(None, str(DEFAULT_CALENDAR_PATH)), Clock(fixed=START))
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    with Session(engine, info={runtime.INFO_KEY: rt}) as session:
        first, second = (cases.start_case(session, "calendar_fault", {}, SYSTEM).id for _ in range(2))
    engine.dispose()

    # the timers fall due in 2028; the script after them counts working days in 2100, a year nobody knows
    drained = run("timers", "run-due", "--now", "2028-12-01T00:00:00+08:00", JIEFEN_TIMER_MAX_ATTEMPTS="1")
    assert drained.stdout.startswith("fired 0, skipped 0, failed 2") and "incidents 2" in drained.stdout
    listed = run("incidents").stdout.splitlines()
    assert [line.split("\t")[:4] for line in listed] == [["1", f"case {first}", "等待1000日", "cf_due"],
                                                        ["2", f"case {second}", "等待1000日", "cf_due"]]
    assert all("no holiday data for the year 2100" in line and "\topen\t" in line for line in listed)

    again = run("incidents", "retry", "1", ok=False)
    assert again.returncode == 2 and "2100" in again.stderr and "Traceback" not in again.stderr
    assert run("incidents", "resolve", "1", ok=False).returncode == 2  # --note is required
    assert run("incidents", "resolve", "1", "--note", "当事人撤回，另案处理").stdout.strip() == "incident 1 resolved"

    # the operator adds 2100 to the calendar; the retry fires the timer and resolves the incident
    calendar = tmp_path / "calendar.toml"
    calendar.write_text("[years.2100]\nprovisional = true\n", encoding="utf-8")
    retried = run("incidents", "retry", "2", "--note", "已补录2100年日历", JIEFEN_CALENDAR_FILE=str(calendar))
    assert retried.stdout.strip() == "incident 2 retried: the timer fired; resolved"
    history = [line.split("\t") for line in run("incidents", "--all").stdout.splitlines()]
    assert [row[6] for row in history] == ["resolved by system", "retried by system"]
    assert run("verify", str(second), JIEFEN_CALENDAR_FILE=str(calendar)).returncode == 0
