from engine.services import cases, history, tasks


def test_open_complete_verify(session, actor, clock):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    assert case.status == "open"
    [intake] = cases.open_tasks(session, case.id)
    assert intake.spec_name == "intake"
    case = tasks.complete_task(session, intake.id, {"channel": "walk_in", "party_name": "张三", "handling_dept": "mediator"},
                               actor("clerk"))
    [mediate] = cases.open_tasks(session, case.id)
    assert mediate.spec_name == "mediate" and mediate.roles == ["mediator"]
    clock.advance(hours=2)
    case = tasks.complete_task(session, mediate.id, {"result": "agreed"}, actor("mediator1"))
    assert case.status == "closed" and case.outcome == "已化解"
    v = history.verify_case(session, case.id, actor("auditor"))
    assert v.chain_ok and v.replay_ok, v.problems
