"""A script over its limits fails the command (issue 15, M1): a clear error naming the element, the case exactly
as before the command, and other users' writes go on; scripts whose sets or printed functions once made replay
depend on the process verify in any process (L6)."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import ProcessDefinitionError, TaskFailed
from engine.services import cases, history, processes, tasks
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES, ROOT
from tests.support.cases import intake

INTAKE = intake(amount=10)
JIEFEN = str(Path(sys.executable).parent / "jiefen")


def _deploy(session, script: str) -> None:
    """small_mediation with the script task `count` (named 计数) running `script`, as process sandbox_probe."""
    bpmn = (FIXTURES / "engine" / "small_mediation.bpmn").read_text(encoding="utf-8")
    bpmn = bpmn.replace('id="small_mediation"', 'id="sandbox_probe"')
    bpmn = bpmn.replace("<bpmn:script>rounds = 1</bpmn:script>", f"<bpmn:script>{escape(script)}</bpmn:script>")
    processes.deploy(session, {"sandbox_probe.bpmn": bpmn.encode()}, SYSTEM)
    session.commit()


def _snapshot(db_engine, case_id: int) -> dict:
    """Every stored row of the case, read on a connection of its own."""
    with db_engine.connect() as conn:
        return {table: [tuple(row) for row in conn.execute(
                    text(f"SELECT * FROM {table} WHERE {key} = :id ORDER BY 1"), {"id": case_id})]
                for table, key in (("cases", "id"), ("events", "case_id"), ("tasks", "case_id"),
                                   ("timers", "case_id"))}


# The payloads of security.md M1, with sizes only the task data knows (amount = 10), so deploy accepts them.
RUN_TIME_PAYLOADS = [
    pytest.param("n = 0\nwhile n >= 0:\n    n = n + 1", "CPU", id="endless-loop"),
    pytest.param("x = 10 ** 10 ** amount", "JIEFEN_SCRIPT_MEMORY_MB", id="power"),
    pytest.param("x = 'x' * 10 ** amount", "JIEFEN_SCRIPT_MEMORY_MB", id="text-times"),
    pytest.param("x = list(range(3 * 10 ** (amount - 3)))", "JIEFEN_SCRIPT_MEMORY_MB", id="list-range"),
    pytest.param("x = []\nfor i in range(10 ** amount):\n    x.append('y' * 1000)", "JIEFEN_SCRIPT_MEMORY_MB",
                 id="loop-append"),
]


@pytest.mark.parametrize("script, limit", RUN_TIME_PAYLOADS)
def test_a_script_over_its_limits_fails_the_command_and_leaves_the_case_as_it_was(
        session, db_engine, actor, script, limit):
    _deploy(session, script)
    case = cases.start_case(session, "sandbox_probe", {}, actor("clerk"))
    [intake] = cases.open_tasks(session, case.id)
    before = _snapshot(db_engine, case.id)
    clerk = actor("clerk")
    outcome: dict = {}

    def bad_command() -> None:
        with Session(db_engine, expire_on_commit=False, info=session.info) as own:
            try:
                tasks.complete_task(own, intake.id, INTAKE, clerk)
                outcome["result"] = "completed"
            except TaskFailed as exc:
                outcome["result"] = exc

    worker = threading.Thread(target=bad_command, daemon=True)
    started = time.monotonic()
    worker.start()
    time.sleep(0.2)  # the bad command holds the case (and on SQLite the write lock) by now
    other = cases.start_case(session, "small_mediation", {}, actor("clerk"))  # another user's write
    other_took = time.monotonic() - started
    worker.join(timeout=30)

    assert not worker.is_alive(), "the command never ended"
    error = outcome["result"]
    assert isinstance(error, TaskFailed), error
    assert "count" in error.message and "计数" in error.message and limit in error.message
    assert error.details["element_id"] == "count"
    assert other.id != case.id and other_took < 15
    assert _snapshot(db_engine, case.id) == before


@pytest.mark.parametrize("script, problem", [
    ("while True:\n    pass", "'while True' never ends"),
    ("x = 10**10**10", "10 ** 10 ** 10"),
    ("x = 'x' * 10**10", "'x' * 10 ** 10"),
    ("x = list(range(3*10**7))", "list(range(3 * 10 ** 7))"),
])
def test_deploy_refuses_what_can_be_seen_statically(session, directory, script, problem):
    with pytest.raises(ProcessDefinitionError) as caught:
        _deploy(session, script)
    [found] = [p for p in caught.value.problems if problem in p.message]
    assert found.element_id == "count"


DETERMINISM_SCRIPT = (
    "out = list({'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'})\n"
    "label = f'{legal_days!r}'\n"
    "named = '%(a)s' % {'a': legal_days}\n"
)


def test_a_case_whose_script_used_sets_and_printed_functions_verifies_in_other_processes(
        session, actor, database_url):
    _deploy(session, DETERMINISM_SCRIPT)
    case = cases.start_case(session, "sandbox_probe", {}, actor("clerk"))
    [intake] = cases.open_tasks(session, case.id)
    tasks.complete_task(session, intake.id, INTAKE, actor("clerk"))
    stored = cases.get_case(session, case.id, actor("clerk")).data
    assert stored["out"] == ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"]
    assert stored["label"] == stored["named"] == "<function legal_days>"
    result = history.verify_case(session, case.id, SYSTEM)
    assert (result.chain_ok, result.replay_ok, result.problems) == (True, True, [])

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JIEFEN_DATABASE_URL")}
    env.update({"DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)})
    for seed in ("1", "2"):  # two seeds that order these six strings differently in a plain set
        run = subprocess.run([JIEFEN, "verify", str(case.id)], cwd=ROOT, env={**env, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert json.loads(run.stdout)["replay_ok"] is True
