"""Versioning across call activities: a changed called process gives its callers a new version too."""
from engine.services import processes
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES

PARENT = (FIXTURES / "bpmn" / "good.bpmn").read_bytes()
CHILD = (FIXTURES / "bpmn" / "good_child.bpmn").read_bytes()


def _versions(session):
    return {row.process_id: row.version for row in processes.list_processes(session)}


def test_changed_called_process_re_versions_its_callers(session, directory):
    processes.deploy(session, {"good_child.bpmn": CHILD}, SYSTEM)
    processes.deploy(session, {"good.bpmn": PARENT}, SYSTEM)
    assert _versions(session)["good_dispute"] == 1
    # identical content again: nothing new
    assert not any(r.created for r in processes.deploy(session, {"good.bpmn": PARENT, "good_child.bpmn": CHILD}, SYSTEM))
    changed_child = CHILD.replace("申请司法确认".encode(), "申请确认".encode())
    results = processes.deploy(session, {"good_child.bpmn": changed_child}, SYSTEM)
    assert {(r.process_id, r.version, r.created) for r in results} == {("good_confirmation", 2, True),
                                                                       ("good_dispute", 2, True)}
    latest = processes.active_version(session, "good_dispute")
    loaded = processes.load_version(session, latest.id)
    assert loaded.subprocess_specs["good_confirmation"].task_specs["apply"].bpmn_name == "申请确认"
    assert not any(r.created for r in processes.deploy(session, {"good.bpmn": PARENT}, SYSTEM))


def test_a_caller_deployed_with_its_called_process_records_it_whatever_the_file_order(session, directory):
    """The caller listed first in one batch with a new called process: it records the called version, so
    deploying the same files again is a no-op (it used to make a needless second caller version)."""
    first = processes.deploy(session, {"good.bpmn": PARENT, "good_child.bpmn": CHILD}, SYSTEM)
    assert [r.process_id for r in first] == ["good_confirmation", "good_dispute"]  # called first
    caller = processes.active_version(session, "good_dispute")
    assert caller.meta["called_versions"] == {"good_confirmation": processes.active_version(
        session, "good_confirmation").sha256}
    again = processes.deploy(session, {"good.bpmn": PARENT, "good_child.bpmn": CHILD}, SYSTEM)
    assert not any(r.created for r in again)
    assert {k: v for k, v in _versions(session).items() if k.startswith("good_")} == {"good_dispute": 1,
                                                                                 "good_confirmation": 1}
