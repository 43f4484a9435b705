"""Scopes "supervised" and "all": index walks over tasks in list order give what a plain query over tasks,
org units and cases gives, for every sort, page and filter; a supervisor sees their unit and below only."""
import itertools

from sqlalchemy import select, update

from engine import task_list
from engine.models import NO_DUE_DATE, CaseModel, OrgUnitModel, TaskModel
from engine.services import cases, tasks, timers
from engine.services.users import SUPERVISORY_ROLES
from tests.support import PASSWORD
from tests.support.task_lists import passes_filters
from tests.unit.test_task_list_filters import _deploy_two_desks, _task

UNITS = ("330106000", "330106001", "330106001001", "330106002")  # county, township, its village, a sibling


def _reference(session, who, now, *, scope, overdue, assigned, process_id, category, q, sort) -> list[str]:
    """The list filtered and sorted in Python from every task row with its unit's path and its case."""
    paths = [g.org_path for g in who.grants if g.role in SUPERVISORY_ROLES]
    rows = session.execute(select(TaskModel, OrgUnitModel.path, CaseModel)
                           .join(OrgUnitModel, OrgUnitModel.id == TaskModel.org_unit_id)
                           .join(CaseModel, CaseModel.id == TaskModel.case_id)).all()
    filters = dict(overdue=overdue, assigned=assigned, process_id=process_id, category=category, q=q)
    out = [task for task, path, case in rows
           if (scope != "supervised" or any(path.startswith(p) for p in paths))
           and passes_filters(task, case, who, now, **filters)]

    def due(t):
        return t.due_at or NO_DUE_DATE

    out.sort(key=lambda t: t.id)  # the last key of every sort, ascending; the sorts below are stable
    if sort in ("due", "-due"):
        out.sort(key=lambda t: (due(t), t.created_at), reverse=sort == "-due")
    elif sort in ("created", "-created"):
        out.sort(key=lambda t: t.created_at, reverse=sort == "-created")
    else:
        out.sort(key=lambda t: (-t.warning_level, due(t)))
    out.sort(key=lambda t: -t.priority)  # 群体性 / 高风险 first, in every order
    return [t.id for t in out]


def _ids(page):
    return [t.id for t in page.items]


def _open_everywhere(session, actor, clock, directory):
    """Cases in every unit (two desks: one task without a deadline, both created at one moment), claims,
    a category, escalation levels and a supervision follow-up. Returns the cases."""
    _deploy_two_desks(session)
    directory.add_org_unit(session, "330106002", "灵隐街道综治中心", "township", "330106000")
    directory.create_user(session, "clerk_all", PASSWORD, ["intake_clerk"], list(UNITS))
    clerk = actor("clerk_all")
    opened = []
    for i in range(12):
        process_id = "two_desks" if i % 2 else "small_mediation"
        opened.append(cases.start_case(session, process_id, {}, clerk, org_unit=UNITS[i % 4]))
        clock.advance(hours=3)
    tasks.complete_task(session, _task(session, opened[1].id, "classify").id, {"category": "labour"}, clerk)
    listed = [t for c in opened for t in cases.open_tasks(session, c.id)]
    tasks.claim_task(session, listed[0].id, clerk)
    tasks.claim_task(session, listed[5].id, clerk)
    for task, level in ((listed[2], 2), (listed[6], 4), (listed[7], 2)):
        session.execute(update(TaskModel).where(TaskModel.id == task.id).values(warning_level=level))
    # three tasks tied on every key but their id (the id breaks the tie ascending in every sort)
    tied = [listed[3].id, listed[8].id, listed[11].id]
    session.execute(update(TaskModel).where(TaskModel.id.in_(tied)).values(
        due_at=listed[8].due_at, due_sort=listed[8].due_at, created_at=listed[8].created_at, warning_level=1))
    # two cases are 群体性 / 高风险 (one of them a tied task's): their tasks come first in every order
    for case in (opened[3], opened[6]):
        session.execute(update(TaskModel).where(TaskModel.case_id == case.id).values(priority=1))
        session.execute(update(CaseModel).where(CaseModel.id == case.id).values(priority=1))
    session.commit()
    clock.advance(days=4)  # past the small mediations' deadlines: overdue tasks and 督办 follow-ups
    timers.fire_due_timers(session, now=clock.now())
    return opened


def test_supervised_and_all_match_a_plain_query_for_every_sort_filter_and_page(session, actor, clock, directory):
    opened = _open_everywhere(session, actor, clock, directory)
    for code, unit in (("sup_town", "330106001"), ("sup_village", "330106001001"), ("sup_two", "330106002")):
        directory.create_user(session, code, PASSWORD, ["supervisor"], [unit] if code != "sup_two"
                              else ["330106001001", "330106002"])
    now = clock.now()
    assert session.scalar(select(TaskModel.id).where(TaskModel.kind == "supervision").limit(1))
    assert session.scalar(select(TaskModel.id).where(TaskModel.due_at.is_(None)).limit(1))
    code = opened[1].code
    who_all = [("super", "supervised"), ("sup_town", "supervised"), ("sup_village", "supervised"),
               ("sup_two", "supervised"), ("admin", "all"), ("auditor", "all")]
    seen_nonempty = 0
    for name, scope in who_all:
        who = actor(name)
        for overdue, assigned, process_id, category, q in itertools.product(
                [False, True], [None, "none"], [None, "two_desks"], [None, "labour"],
                [None, code, code[-8:], "复核"]):
            filters = dict(overdue=overdue, assigned=assigned, process_id=process_id, category=category, q=q)
            for sort in tasks.SORTS:
                expected = _reference(session, who, now, scope=scope, sort=sort, **filters)
                seen_nonempty += bool(expected)
                for page in (1, 2, 3):
                    got = tasks.list_tasks(session, who, scope=scope, sort=sort, page=page, per_page=4, now=now,
                                           **filters)
                    assert _ids(got) == expected[(page - 1) * 4:page * 4], (name, sort, page, filters)
                    assert (got.total, got.more) == (len(expected), False), (name, sort, page, filters)
    assert seen_nonempty > 300
    # "assigned to me": this supervisor claimed nothing
    assert tasks.list_tasks(session, actor("super"), scope="supervised", assigned="me", now=now).total == 0


def test_a_township_supervisor_sees_their_township_and_its_villages_only(session, actor, clock, directory):
    _open_everywhere(session, actor, clock, directory)
    directory.create_user(session, "sup_town", PASSWORD, ["supervisor"], ["330106001"])
    units = dict(session.execute(select(OrgUnitModel.id, OrgUnitModel.code)).all())
    listed = tasks.list_tasks(session, actor("sup_town"), scope="supervised", per_page=200)
    assert {units[t.org_unit_id] for t in listed.items} == {"330106001", "330106001001"}
    everything = tasks.list_tasks(session, actor("super"), scope="supervised", per_page=200)
    assert {units[t.org_unit_id] for t in everything.items} == set(UNITS)
    assert everything.total == session.query(TaskModel).count() > listed.total


def test_supervised_totals_stop_counting_at_the_cap(session, actor, clock, directory, monkeypatch):
    _open_everywhere(session, actor, clock, directory)
    monkeypatch.setattr(task_list, "COUNT_CAP", 5)
    n = session.query(TaskModel).count()
    assert n > 7
    for scope, name in (("supervised", "super"), ("all", "admin")):
        for sort in tasks.SORTS:
            page = tasks.list_tasks(session, actor(name), scope=scope, sort=sort, per_page=2)
            assert (page.total, page.more, len(page.items)) == (5, True, 2)
            # a last page past the cap still knows there are more; one past the end counts
            last = tasks.list_tasks(session, actor(name), scope=scope, sort=sort, per_page=n - 1, page=2)
            assert (len(last.items), last.total, last.more) == (1, 5, True)
            beyond = tasks.list_tasks(session, actor(name), scope=scope, sort=sort, per_page=n, page=3)
            assert (beyond.items, beyond.total, beyond.more) == ([], 5, True)
    monkeypatch.setattr(task_list, "COUNT_CAP", n)
    page = tasks.list_tasks(session, actor("super"), scope="supervised", per_page=2)
    assert (page.total, page.more) == (n, False)


def test_every_task_row_carries_its_due_sort_key(session, actor, clock, directory):
    # Written by the command pipeline (sync_tasks) and the supervision ladder alike.
    _open_everywhere(session, actor, clock, directory)
    rows = session.execute(select(TaskModel.kind, TaskModel.due_at, TaskModel.due_sort)).all()
    assert {kind for kind, _, _ in rows} == {"bpmn", "supervision"}
    assert any(due is None for _, due, _ in rows)
    assert all(due_sort == (due or NO_DUE_DATE) for _, due, due_sort in rows)


def test_the_walks_send_their_limit_and_offset_in_the_sql(session, actor, clock, directory):
    # A LIMIT parameter left PostgreSQL's generic plan blind to the page size: it sorted the whole subtree.
    from sqlalchemy import event

    _open_everywhere(session, actor, clock, directory)
    sent = []
    engine = session.get_bind()

    def capture(_conn, _cursor, statement, _parameters, _context, _many):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        for sort in ("due", "warning"):
            tasks.list_tasks(session, actor("super"), scope="supervised", sort=sort, page=3, per_page=7)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    pages = [s for s in sent if "ORDER BY" in s and "count(" not in s.lower()]
    assert len(pages) == 2 and all("LIMIT 7 OFFSET 14" in s for s in pages)
    assert pages[0].count("LIMIT 21") == 2  # the list's own walk and the walk of its 群体性 / 高风险 tasks
    assert pages[1].count("LIMIT 21") == len(tasks.WARNING_LEVELS) + 1  # a walk per level, and the flagged one
