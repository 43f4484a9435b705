"""An end event marked jiefen.open_case opens a linked case in the same transaction."""
from engine.services import cases, history, processes, tasks, users
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES
from tests.support import PASSWORD


def test_relapse_opens_a_linked_repeat_case(session, directory, actor):
    processes.deploy(session, {"revisit.bpmn": (FIXTURES / "engine" / "revisit.bpmn").read_bytes()}, SYSTEM)
    users.create_user(session, "revisit", PASSWORD, ["revisit_staff"])
    source = cases.start_case(session, "revisit_demo", {"party_name": "李四"}, actor("revisit"))
    [task] = cases.open_tasks(session, source.id)
    tasks.complete_task(session, task.id, {"relapse": True}, actor("revisit"))
    session.expire_all()
    source = cases.get_case(session, source.id, SYSTEM)
    assert source.status == "closed" and source.outcome == "反弹重新立案"
    [linked_event] = [e for e in history.list_events(session, source.id, SYSTEM) if e.type == "case_linked"]
    linked = cases.get_case(session, linked_event.payload["case_id"], SYSTEM)
    assert linked.linked_case_id == source.id and linked.link_kind == "relapse"
    assert linked.data["repeat"] is True and linked.data["party_name"] == "李四"
    assert [t.spec_name for t in cases.open_tasks(session, linked.id)] == ["intake"]
    assert history.verify_case(session, source.id, SYSTEM).replay_ok


def test_stable_revisit_opens_nothing(session, directory, actor):
    processes.deploy(session, {"revisit.bpmn": (FIXTURES / "engine" / "revisit.bpmn").read_bytes()}, SYSTEM)
    users.create_user(session, "revisit", PASSWORD, ["revisit_staff"])
    source = cases.start_case(session, "revisit_demo", {}, actor("revisit"))
    [task] = cases.open_tasks(session, source.id)
    tasks.complete_task(session, task.id, {"relapse": False}, actor("revisit"))
    assert not [e for e in history.list_events(session, source.id, SYSTEM) if e.type == "case_linked"]
