"""Intake (受理登记) is one command: cases.register_case opens the case and completes its registration task in
one transaction, so a registration that fails leaves no case behind."""
import pytest
from sqlalchemy import event, func, select

from engine.errors import InvalidData, TaskFailed
from engine.models import CaseEventModel, CaseModel
from engine.services import cases, history, processes
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES
from tests.support.cases import INTAKE



def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def intake_check(session, directory):
    processes.deploy(session, {"intake_check.bpmn": (FIXTURES / "engine" / "intake_check.bpmn").read_bytes()}, SYSTEM)
    session.commit()


def test_register_case_opens_and_completes_registration_in_one_commit(session, actor):
    commits = []
    event.listen(session, "after_commit", lambda s: commits.append(1))
    case = cases.register_case(session, "small_mediation", INTAKE, actor("clerk"))
    assert len(commits) == 1
    assert [t.spec_name for t in cases.open_tasks(session, case.id)] == ["mediate"]
    types = [e.type for e in history.list_events(session, case.id, actor("auditor"))]
    assert types[0] == "case_started" and "task_completed" in types
    assert history.verify_case(session, case.id, actor("auditor")).replay_ok


def test_register_case_failing_in_the_registration_leaves_no_case(session, actor, intake_check):
    # The form accepts 0 parties; the script after the registration task divides by it.
    with pytest.raises(TaskFailed):
        cases.register_case(session, "intake_check", {"party_name": "张三", "parties": 0}, actor("clerk"))
    session.rollback()
    assert _count(session, CaseModel) == 0 and _count(session, CaseEventModel) == 0
    case = cases.register_case(session, "intake_check", {"party_name": "张三", "parties": 2}, actor("clerk"))
    assert case.data["share"] == 50 and _count(session, CaseModel) == 1


def test_register_case_checks_the_form_before_writing(session, actor):
    with pytest.raises(InvalidData) as bad:
        cases.register_case(session, "small_mediation", {"channel": "walk_in"}, actor("clerk"))
    assert "party_name" in bad.value.details
    session.rollback()
    assert _count(session, CaseModel) == 0

