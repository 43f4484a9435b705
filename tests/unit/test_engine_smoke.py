from engine.services import cases, history, tasks
from tests.support.cases import INTAKE


def test_open_complete_verify(session, actor, clock):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    assert case.status == "open"
    [intake] = cases.open_tasks(session, case.id)
    assert intake.spec_name == "intake"
    case = tasks.complete_task(session, intake.id, INTAKE, actor("clerk"))
    [mediate] = cases.open_tasks(session, case.id)
    assert mediate.spec_name == "mediate" and mediate.roles == ["mediator"]
    clock.advance(hours=2)
    case = tasks.complete_task(session, mediate.id, {"result": "agreed"}, actor("mediator1"))
    assert case.status == "closed" and case.outcome == "已化解"
    v = history.verify_case(session, case.id, actor("auditor"))
    assert v.chain_ok and v.replay_ok, v.problems


def test_lookup_case_needs_the_matching_phone(session, actor):
    case = cases.start_case(session, "small_mediation", {"party_phone": "138-0000-0000"}, actor("clerk"))
    assert cases.lookup_case(session, case.code.lower(), "13800000000").id == case.id
    assert cases.lookup_case(session, case.code, "13900000000") is None
    assert cases.lookup_case(session, "330106000000000000", "13800000000") is None
    assert cases.lookup_case(session, case.code, "") is None


def test_start_roles_include_the_first_task_lane_when_it_has_no_groups(rt):
    meta = {"start_roles": ["hotline"], "first_user_tasks": ["register"],
            "user_tasks": {"register": {"candidate_groups": [], "candidate_groups_expr": None, "lane": "窗口受理员"}}}
    rt.settings.lane_roles = {"窗口受理员": "intake_clerk"}
    assert cases.start_roles(meta, rt) == {"hotline", "intake_clerk"}
