"""The work queue's filters read copies on task_candidates (assignee, process, category, case code, title):
the copies stay right through every command, and every filter / sort / page gives what a plain query over
tasks and cases gives."""
import itertools

from sqlalchemy import select, update

from engine.models import NO_DUE_DATE, CaseModel, TaskCandidateModel, TaskModel
from engine.services import cases, processes, tasks, timers
from engine.services.users import SYSTEM, Actor
from tests.support import PASSWORD
from tests.support.task_lists import passes_filters

# The classifying desk both processes share: its form sets the case's category.
CLASSIFY = b"""    <bpmn:userTask id="classify" name="\xe5\x88\x86\xe7\xb1\xbb" camunda:candidateGroups="intake_clerk"
                   camunda:dueDate="%s">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="category" label="category" type="string" />
        </camunda:formData>
      </bpmn:extensionElements>
    </bpmn:userTask>
"""

# Two desks at once: classifying sets the case's category while the review is still open.
TWO_DESKS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_two_desks" targetNamespace="http://jiefen.example/test">
  <bpmn:process id="two_desks" name="two desks" isExecutable="true" camunda:candidateStarterGroups="intake_clerk">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork" />
    <bpmn:parallelGateway id="fork" />
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="classify" />
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="review" />
""" + CLASSIFY % b"P3D" + b"""    <bpmn:userTask id="review" name="\xe5\xa4\x8d\xe6\xa0\xb8" camunda:candidateGroups="intake_clerk" />
    <bpmn:sequenceFlow id="f4" sourceRef="classify" targetRef="join" />
    <bpmn:sequenceFlow id="f5" sourceRef="review" targetRef="join" />
    <bpmn:parallelGateway id="join" />
    <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end" />
    <bpmn:endEvent id="end" name="done" />
  </bpmn:process>
</bpmn:definitions>
"""


def _copies(session) -> dict:
    """{(task, role, unit): the copied columns} as stored on task_candidates."""
    C = TaskCandidateModel
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in session.execute(
        select(C.task_id, C.role, C.org_unit_id, C.assignee, C.process_id, C.category, C.case_code, C.title))}


def _truth(session) -> dict:
    """The same, read from the task and case rows themselves."""
    C, T, K = TaskCandidateModel, TaskModel, CaseModel
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in session.execute(
        select(C.task_id, C.role, C.org_unit_id, T.assignee, T.process_id, K.category, K.code, T.title)
        .join(T, T.id == C.task_id).join(K, K.id == T.case_id))}


def _assert_copies_right(session):
    session.expire_all()
    stored = _copies(session)
    assert stored and stored == _truth(session)
    return stored


def _deploy_two_desks(session):
    processes.deploy(session, {"two_desks.bpmn": TWO_DESKS}, SYSTEM)


def _task(session, case_id, spec_name):
    return next(t for t in cases.open_tasks(session, case_id) if t.spec_name == spec_name)


def test_copies_follow_claim_unclaim_a_category_change_and_the_case_closing(session, actor):
    _deploy_two_desks(session)
    clerk = actor("clerk")
    case = cases.start_case(session, "two_desks", {}, clerk)
    review = _task(session, case.id, "review")
    stored = _assert_copies_right(session)
    assert {v[2] for v in stored.values()} == {None}  # no category yet
    assert {v[3] for v in stored.values()} == {case.code} and {v[1] for v in stored.values()} == {"two_desks"}

    tasks.claim_task(session, review.id, clerk)
    stored = _assert_copies_right(session)
    assert [v[0] for k, v in stored.items() if k[0] == review.id] == ["clerk"]
    tasks.unclaim_task(session, review.id, clerk)
    stored = _assert_copies_right(session)
    assert [v[0] for k, v in stored.items() if k[0] == review.id] == [None]

    # Completing the other desk sets the category: the still-open review's rows follow.
    tasks.complete_task(session, _task(session, case.id, "classify").id, {"category": "labour"}, clerk)
    stored = _assert_copies_right(session)
    assert list(stored) == [(review.id, "intake_clerk", review.org_unit_id)]
    assert stored[(review.id, "intake_clerk", review.org_unit_id)][2] == "labour"
    assert _ids(tasks.list_tasks(session, clerk, category="labour")) == [review.id]

    tasks.complete_task(session, review.id, {}, clerk)
    assert session.get(CaseModel, case.id).status == "closed"
    assert _copies(session) == {}


def test_a_supervision_follow_up_carries_the_copies(session, actor, clock):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    clock.advance(days=4)  # past the intake's P1D deadline and the 督办 step a day after it
    timers.fire_due_timers(session, now=clock.now())
    follow = session.scalar(select(TaskModel).where(TaskModel.case_id == case.id, TaskModel.kind == "supervision",
                                                    TaskModel.spec_name == "supervision_notice"))  # (and a 催办)
    assert follow is not None
    stored = _assert_copies_right(session)
    row = next(v for k, v in stored.items() if k[0] == follow.id)
    assert row == (None, "small_mediation", None, case.code, follow.title)
    head = actor("head")
    assert follow.id in _ids(tasks.list_tasks(session, head, q=case.code))
    assert follow.id in _ids(tasks.list_tasks(session, head, q="督办单"))


# Classifying opens the next desk: nothing from before stays open but a supervision follow-up.
CLASSIFY_THEN_MEDIATE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_classify_then_mediate" targetNamespace="http://jiefen.example/test">
  <bpmn:process id="classify_then_mediate" isExecutable="true" camunda:candidateStarterGroups="intake_clerk">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="classify" />
""" + CLASSIFY % b"P1D" + b"""    <bpmn:sequenceFlow id="f2" sourceRef="classify" targetRef="mediate" />
    <bpmn:userTask id="mediate" name="\xe8\xb0\x83\xe8\xa7\xa3" camunda:candidateGroups="intake_clerk" />
    <bpmn:sequenceFlow id="f3" sourceRef="mediate" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_category_change_reaches_a_supervision_follow_up_left_open(session, actor, clock):
    processes.deploy(session, {"classify_then_mediate.bpmn": CLASSIFY_THEN_MEDIATE}, SYSTEM)
    clerk = actor("clerk")
    case = cases.start_case(session, "classify_then_mediate", {}, clerk)
    clock.advance(days=4)  # past the P1D deadline and its 督办 step: a follow-up task for the unit head
    timers.fire_due_timers(session, now=clock.now())
    follow = session.scalar(select(TaskModel).where(TaskModel.case_id == case.id, TaskModel.kind == "supervision",
                                                    TaskModel.spec_name == "supervision_notice"))  # (and a 催办)
    assert follow is not None
    tasks.complete_task(session, _task(session, case.id, "classify").id, {"category": "labour"}, clerk)
    stored = _assert_copies_right(session)
    assert {k[0] for k in stored} == {follow.id, _task(session, case.id, "mediate").id}
    assert {v[2] for v in stored.values()} == {"labour"}


def _ids(page):
    return [t.id for t in page.items]


# ---------------------------------------------------------------- every filter against a plain reference

def _reference(session, who: Actor, now, *, overdue, assigned, process_id, category, q, sort) -> list[str]:
    """The list as a straightforward query over tasks and cases would give it, filtered and sorted in Python."""
    grants = {(g.role, g.org_unit_id) for g in who.grants}
    candidates = {}
    for task_id, role, org in session.execute(select(TaskCandidateModel.task_id, TaskCandidateModel.role,
                                                     TaskCandidateModel.org_unit_id)):
        candidates.setdefault(task_id, set()).add((role, org))
    rows = session.execute(select(TaskModel, CaseModel).join(CaseModel, CaseModel.id == TaskModel.case_id)).all()
    filters = dict(overdue=overdue, assigned=assigned, process_id=process_id, category=category, q=q)
    out = [task for task, case in rows
           if (task.assignee == who.username or candidates.get(task.id, set()) & grants)
           and passes_filters(task, case, who, now, **filters)]

    def due(t):
        return t.due_at or NO_DUE_DATE

    key = {"due": lambda t: (due(t), t.created_at, t.id), "-due": lambda t: (due(t), t.created_at, t.id),
           "created": lambda t: (t.created_at, t.id), "-created": lambda t: (t.created_at, t.id),
           "warning": lambda t: (-t.warning_level, due(t), t.id)}[sort]
    ordered = sorted(out, key=key, reverse=sort.startswith("-"))
    return [t.id for t in sorted(ordered, key=lambda t: -t.priority)]  # 群体性 / 高风险 first (a stable sort)


def test_every_filter_sort_and_page_matches_a_plain_query(session, actor, clock, directory):
    _deploy_two_desks(session)
    directory.create_user(session, "clerk2", PASSWORD, ["intake_clerk"], ["330106000", "330106001"])
    clerk, clerk2 = actor("clerk"), actor("clerk2")
    opened = []
    for i in range(6):
        process_id = "two_desks" if i % 2 else "small_mediation"
        case = cases.start_case(session, process_id, {}, clerk2, org_unit="330106001" if i % 3 == 2 else None)
        opened.append(case)
        clock.advance(hours=5)
    # categories on some cases (through the command pipeline), claims by two users, escalation levels
    for case in opened[1::2][:2]:
        tasks.complete_task(session, _task(session, case.id, "classify").id, {"category": "labour"}, clerk)
    listed = [t for c in opened for t in cases.open_tasks(session, c.id)]
    tasks.claim_task(session, listed[0].id, clerk)
    tasks.claim_task(session, listed[2].id, clerk2)
    # the last case keeps both desks open: its review (no deadline, so last by due date) is escalated
    for task, level in ((listed[1], 2), (listed[3], 4), (_task(session, opened[5].id, "review"), 1)):
        session.execute(update(TaskModel).where(TaskModel.id == task.id).values(warning_level=level))
        session.execute(update(TaskCandidateModel).where(TaskCandidateModel.task_id == task.id)
                        .values(warning_level=level))
    # one case in the middle is 群体性 / 高风险: its tasks come first in every order (the copies as the engine
    # writes them when a case is flagged: task_index.priority_changed)
    session.execute(update(TaskModel).where(TaskModel.case_id == opened[2].id).values(priority=1))
    session.execute(update(TaskCandidateModel).where(TaskCandidateModel.task_id.in_(
        select(TaskModel.id).where(TaskModel.case_id == opened[2].id))).values(priority=1))
    session.commit()
    _assert_copies_right(session)
    clock.advance(hours=10)
    now = clock.now()
    code = opened[1].code
    searches = [None, code, code[-8:], opened[5].code, "调解", "复核", "no such thing"]
    combos = itertools.product([False, True], [None, "me", "none"], [None, "two_desks"], [None, "labour"], searches)
    seen_nonempty = 0
    for who in (clerk, clerk2, Actor(username="clerk")):
        for overdue, assigned, process_id, category, q in combos if who is clerk else itertools.product(
                [False, True], [None, "none"], [None, "small_mediation"], [None], searches):
            filters = dict(overdue=overdue, assigned=assigned, process_id=process_id, category=category, q=q)
            for sort in tasks.SORTS:
                expected = _reference(session, who, now, sort=sort, **filters)
                seen_nonempty += bool(expected)
                for page in (1, 2):
                    got = tasks.list_tasks(session, who, sort=sort, page=page, per_page=3, now=now, **filters)
                    assert _ids(got) == expected[(page - 1) * 3:page * 3], (who.username, sort, page, filters)
                    assert (got.total, got.more) == (len(expected), False), (who.username, sort, filters)
    assert seen_nonempty > 200  # the combinations above do find tasks, not just agree on empty lists


def test_a_whole_case_code_is_a_lookup_of_that_case(session, actor):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    other = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    assert tasks._search_kind(case.code) == "code" and tasks._search_kind(case.code[:-1]) == "like"
    assert tasks._search_kind("  ") is None
    clerk = actor("clerk")
    own, others = ([t.id for t in cases.open_tasks(session, c.id)] for c in (case, other))
    assert _ids(tasks.list_tasks(session, clerk, q=f" {case.code} ")) == own
    assert _ids(tasks.list_tasks(session, clerk, q=other.code[:-1])) == others
    # a case the user has no task of lists nothing, as before
    assert tasks.list_tasks(session, actor("mediator1"), q=case.code).total == 0
    admin = actor("admin")
    assert _ids(tasks.list_tasks(session, admin, scope="all", q=case.code)) == \
        [t.id for t in cases.open_tasks(session, case.id)]


def test_the_flagged_walk_with_a_process_or_category_filter_reads_only_flagged_rows(session, actor):
    """群体性 / 高风险 first: the list's flagged walk with a process (newest first) or a category filter reads the
    partial indexes of the flagged rows (migration 0039); it took the queue's process or category index and read
    every row of the queue's process or category to test the flag (36 ms at 1,000,000 cases)."""
    import pytest
    from sqlalchemy import insert, text

    from engine import task_list

    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's plan (PostgreSQL's planner costs the same partial indexes)")
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    task = cases.open_tasks(session, case.id)[0]
    row = session.execute(select(TaskCandidateModel.__table__).where(TaskCandidateModel.task_id == task.id)).first()
    base = dict(row._mapping)
    task_row = dict(session.execute(select(TaskModel.__table__).where(TaskModel.id == task.id)).first()._mapping)
    session.execute(insert(TaskModel.__table__), [dict(task_row, id=f"plain-{i}", priority=int(i < 5))
                                                  for i in range(3000)])
    session.execute(insert(TaskCandidateModel.__table__), [
        dict({k: v for k, v in base.items() if k != "id"}, task_id=f"plain-{i}", process_id="small_mediation",
             category="labour", priority=int(i < 5)) for i in range(3000)])
    session.commit()
    session.execute(text("ANALYZE"))
    for sort, filters, index in (("-created", {"process_id": "small_mediation"}, "ix_task_candidates_flagged_process"),
                                 ("due", {"category": "labour"}, "ix_task_candidates_flagged_category")):
        shape = task_list._shape({"overdue": False, "assigned": None, "q": None, "process_id": None, "category": None,
                                  "username": "clerk", **filters})
        page, _count = task_list._build_mine(1, sort, shape)
        params = {**filters, "username": "clerk", "walk": 50, "offset": 0, "per_page": 50, "cap": 1001,
                  "now": None, "role_0": base["role"], "org_0": base["org_unit_id"]}
        compiled = page.compile(session.get_bind())
        values = compiled.construct_params(params)
        plan = " ".join(str(r[-1]) for r in session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), tuple(values[k] for k in compiled.positiontup)))
        assert index in plan, (sort, filters, plan)
    session.rollback()
