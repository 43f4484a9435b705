"""verify: a tampered history breaks the chain; a tampered workflow fails the replay."""
import json

from sqlalchemy import delete, func, select, update

from engine.models import CaseEventModel, CaseModel
from engine.services import cases, history, tasks
from engine.services.users import SYSTEM
from tests.support.cases import registered



def _case(session, actor):
    return registered(session, actor("clerk"))


def test_untouched_case_verifies(session, actor):
    case = _case(session, actor)
    result = history.verify_case(session, case.id, SYSTEM)
    assert (result.chain_ok, result.replay_ok, result.problems) == (True, True, [])


def test_edited_event_breaks_the_chain(session, actor):
    case = _case(session, actor)
    first = session.scalar(select(CaseEventModel).where(CaseEventModel.case_id == case.id, CaseEventModel.seq == 1))
    payload = dict(first.payload)
    payload["command"] = dict(payload["command"], data={"party_name": "李四"})
    session.execute(update(CaseEventModel).where(CaseEventModel.id == first.id).values(payload=payload))
    session.commit()
    session.expire_all()
    result = history.verify_case(session, case.id, SYSTEM)
    assert not result.chain_ok and result.first_broken_seq == 1
    assert any(p.startswith("event 1 (case_started): its content hashes to") and "the row was changed" in p
               for p in result.problems), result.problems


def test_edited_workflow_fails_the_replay(session, actor):
    case = _case(session, actor)
    stored = json.loads(session.scalar(select(CaseModel.workflow_json).where(CaseModel.id == case.id)))
    for task in stored["tasks"].values():
        if task.get("data", {}).get("party_name") or task.get("delta", {}).get("updates", {}).get("party_name"):
            task.setdefault("delta", {}).setdefault("updates", {})["party_name"] = "王五"
            task["data"] = {**task.get("data", {}), "party_name": "王五"} if task.get("data") else task.get("data", {})
    session.execute(update(CaseModel).where(CaseModel.id == case.id).values(workflow_json=json.dumps(stored)))
    session.commit()
    session.expire_all()
    result = history.verify_case(session, case.id, SYSTEM)
    assert result.chain_ok and not result.replay_ok


def test_removed_last_events_break_the_chain(session, actor):
    # Deleting the newest events leaves a chain that verifies on its own; the tail on the case row catches it.
    case = _case(session, actor)
    last = session.scalar(select(CaseModel.event_seq).where(CaseModel.id == case.id))
    assert last == session.scalar(select(func.max(CaseEventModel.seq)).where(CaseEventModel.case_id == case.id))
    session.execute(delete(CaseEventModel).where(CaseEventModel.case_id == case.id, CaseEventModel.seq >= last - 1))
    session.commit()
    session.expire_all()
    result = history.verify_case(session, case.id, SYSTEM)
    assert not result.chain_ok and any(f"records event {last}" in p for p in result.problems)
    assert result.first_broken_seq == last - 1  # the first of the removed ones


def test_a_removed_event_in_the_middle_is_named(session, actor):
    case = _case(session, actor)
    session.execute(delete(CaseEventModel).where(CaseEventModel.case_id == case.id, CaseEventModel.seq == 2))
    session.commit()
    session.expire_all()
    result = history.verify_case(session, case.id, SYSTEM)
    assert result.first_broken_seq == 2 and not result.chain_ok
    assert result.problems[0] == "event 2: missing (the history goes on at event 3)"


def test_an_intact_case_has_no_broken_link_and_the_replay_keeps_each_step(session, actor):
    case = _case(session, actor)
    assert history.verify_case(session, case.id, SYSTEM).first_broken_seq is None
    replay = history.audit_replay(session, case.id, SYSTEM)
    events = history.list_events(session, case.id, SYSTEM)
    assert [s.seq for s in replay.steps] == [e.seq for e in events]
    first, last = replay.steps[0], replay.steps[-1]
    assert first.active == ["intake"] and first.completed[:1] == ["start"]
    assert "intake" in last.completed and last.data.get("party_name") == "张三"
    assert "party_name" not in first.data or first.data["party_name"] != "张三"


def test_only_auditors_and_administrators_open_the_audit_replay(session, actor):
    import pytest

    from engine.errors import Forbidden

    case = _case(session, actor)
    with pytest.raises(Forbidden):
        history.audit_replay(session, case.id, actor("clerk"))
    assert history.audit_replay(session, case.id, actor("auditor")).verification.replay_ok


def test_claim_moves_the_tail_but_not_the_lock_version(session, actor):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    before = session.execute(select(CaseModel.lock_version, CaseModel.event_seq).where(CaseModel.id == case.id)).one()
    [intake] = cases.open_tasks(session, case.id)
    tasks.claim_task(session, intake.id, actor("clerk"))
    after = session.execute(select(CaseModel.lock_version, CaseModel.event_seq).where(CaseModel.id == case.id)).one()
    assert after == (before[0], before[1] + 1)
    assert history.verify_case(session, case.id, SYSTEM).chain_ok
