"""Migrating running cases between process versions (issue 19 §4), through the service: the dry run's plan and
refusals, the move keeping every due date and timer moment, the new version's path after it, verify."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import Forbidden, InvalidData
from engine.models import CaseEventModel, CaseModel, TaskCandidateModel, TaskModel, TimerModel
from engine.services import cases, history, migration, processes, tasks
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES
from tests.support.cases import registered

XML = (FIXTURES / "engine" / "small_mediation.bpmn").read_text(encoding="utf-8")
REVIEW = """<bpmn:sequenceFlow id="f4" sourceRef="mediate" targetRef="review" />
    <bpmn:userTask id="review" name="复核" camunda:candidateGroups="mediator">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="review_ok" label="复核意见" type="boolean" />
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4b" sourceRef="review" targetRef="gw" />"""
# v2: a review step after the mediation, the mediation renamed, its 30-day timer made 60 days
V2 = (XML.replace('<bpmn:sequenceFlow id="f4" sourceRef="mediate" targetRef="gw" />', REVIEW)
      .replace('name="调解" camunda:candidateGroups', 'name="调解（含复核）" camunda:candidateGroups')
      .replace("legal_days(30)", "legal_days(60)"))
# v3: the mediation step's id changed (a mapping is needed), and the intake removed (a passed step)
V_RENAMED = XML.replace('"mediate"', '"mediation"').replace("mediate.", "mediation.")
V_NO_INTAKE = (V_RENAMED.replace('<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="intake" />',
                           '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="count" />'))


def _deploy(session, xml: str, note: str = "v") -> int:
    return processes.deploy(session, {"small_mediation.bpmn": xml.encode("utf-8")}, SYSTEM, note)[0].version


def _rows(session, case_id):
    task_rows = {r.id: (r.spec_name, r.title, r.due_at) for r in session.scalars(
        select(TaskModel).where(TaskModel.case_id == case_id))}
    timer_rows = sorted((r.kind, r.ref, r.due_at) for r in session.scalars(
        select(TimerModel).where(TimerModel.case_id == case_id, TimerModel.fired_at.is_(None))))
    return task_rows, timer_rows


def test_a_case_moves_with_its_due_dates_and_timers_unchanged_and_follows_the_new_path(session, actor, clock):
    clerk, admin = actor("clerk"), actor("admin")
    case = registered(session, clerk)
    before_tasks, before_timers = _rows(session, case.id)
    assert any(kind == "bpmn" for kind, _ref, _due in before_timers)  # the 30 legal days and the 25-day reminder
    clock.advance(days=3)
    assert _deploy(session, V2) == 2

    preview = migration.migrate_cases(session, "small_mediation", 1, 2, admin, dry_run=True)
    [planned] = preview.cases
    assert planned.movable and planned.code == case.code
    moves = {(s.kind, s.from_name, s.to_name) for s in planned.steps}
    assert ("task", "调解", "调解（含复核）") in moves and ("timer", "调解期满", "调解期满") in moves
    assert session.get(CaseModel, case.id).process_version_id == case.process_version_id  # a dry run writes nothing

    report = migration.migrate_cases(session, "small_mediation", 1, 2, admin, dry_run=False, note="加复核")
    assert report.migrated == 1 and report.cases[0].migrated
    moved = session.get(CaseModel, case.id)
    assert processes.version_number(session, moved.process_version_id) == 2
    after_tasks, after_timers = _rows(session, case.id)
    assert after_timers == before_timers  # the 30-day timer keeps its moment (v2 says 60: not re-armed)
    [(task_id, (spec_name, title, due))] = after_tasks.items()
    assert (task_id, due) == (next(iter(before_tasks)), next(iter(before_tasks.values()))[2])
    assert (spec_name, title) == ("mediate", "调解（含复核）")
    assert {c.title for c in session.scalars(select(TaskCandidateModel).where(
        TaskCandidateModel.task_id == task_id))} == {"调解（含复核）"}
    event = session.scalars(select(CaseEventModel).where(CaseEventModel.case_id == case.id)
                            .order_by(CaseEventModel.seq.desc())).first()
    assert event.type == "case_migrated" and event.actor == "admin"
    assert (event.payload["command"]["from_version"], event.payload["command"]["to_version"],
            event.payload["command"]["note"]) == (1, 2, "加复核")
    audit = processes.process_audit(session, admin, "small_mediation")[0]
    assert (audit.action, audit.version, audit.actor) == ("migrated", 2, "admin") and case.code in audit.note

    # the new version's path: after the mediation comes v2's review
    tasks.complete_task(session, task_id, {"result": "agreed"}, actor("mediator1"))
    [review] = cases.open_tasks(session, case.id)
    assert review.spec_name == "review" and review.title == "复核"
    check = history.verify_case(session, case.id, admin)
    assert check.chain_ok and check.replay_ok, check.problems
    tasks.complete_task(session, review.id, {"review_ok": True}, actor("mediator1"))
    assert session.get(CaseModel, case.id).outcome == "已化解"
    check = history.verify_case(session, case.id, admin)
    assert check.chain_ok and check.replay_ok, check.problems


def test_refusals_name_the_reason_and_leave_the_case_untouched(session, actor):
    clerk, admin = actor("clerk"), actor("admin")
    case = registered(session, clerk)
    fresh = cases.start_case(session, "small_mediation", {}, clerk)  # still at the intake
    _deploy(session, V_RENAMED)
    report = migration.migrate_cases(session, "small_mediation", 1, 2, admin, dry_run=False)
    by_id = {c.case_id: c for c in report.cases}
    assert not by_id[case.id].migrated
    assert [(r.id, r.params["name"]) for r in by_id[case.id].reasons] == [("migration.open_step_removed", "调解")]
    assert by_id[fresh.id].migrated  # its open step (intake) is in v2 unchanged
    assert processes.version_number(session, session.get(CaseModel, case.id).process_version_id) == 1

    mapped = migration.migrate_cases(session, "small_mediation", 1, 2, admin, dry_run=True,
                                     task_mapping={"mediate": "mediation"})
    [plan] = mapped.cases
    assert plan.movable and [(s.from_id, s.to_id) for s in plan.steps if s.kind == "task"] == [("mediate", "mediation")]
    for bad in ({"nope": "mediation"}, {"mediate": "nope"}, {"mediate": "count"}):
        with pytest.raises(InvalidData) as refused:
            migration.migrate_cases(session, "small_mediation", 1, 2, admin, task_mapping=bad)
        assert "task_mapping" in refused.value.details
    moved = migration.migrate_cases(session, "small_mediation", 1, 2, admin, dry_run=False,
                                    task_mapping={"mediate": "mediation"})
    assert moved.migrated == 1
    [task] = cases.open_tasks(session, case.id)
    assert task.spec_name == "mediation"
    check = history.verify_case(session, case.id, admin)
    assert check.chain_ok and check.replay_ok, check.problems

    _deploy(session, V_NO_INTAKE)  # v3 has no intake: one case has passed it, the other is at it
    passed = {c.case_id: c for c in migration.migrate_cases(session, "small_mediation", 2, 3, admin).cases}
    assert [(r.id, r.params["name"]) for r in passed[case.id].reasons] == [("migration.passed_step_removed", "受理登记")]
    assert [(r.id, r.params["name"]) for r in passed[fresh.id].reasons] == [("migration.open_step_removed", "受理登记")]


def test_who_may_and_bad_requests(session, actor):
    registered(session, actor("clerk"))
    _deploy(session, V2)
    for who in ("clerk", "auditor", "super"):
        with pytest.raises(Forbidden):
            migration.migrate_cases(session, "small_mediation", 1, 2, actor(who))
    admin = actor("admin")
    with pytest.raises(InvalidData):
        migration.migrate_cases(session, "small_mediation", 2, 2, admin)
    with pytest.raises(InvalidData):
        migration.migrate_cases(session, "small_mediation", 1, 2, admin, case_ids=[999999])
