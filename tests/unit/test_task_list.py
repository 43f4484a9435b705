"""The work queue: per-(role, org unit) index walks merged in list order, each task once, totals capped."""
from sqlalchemy import select, update

from engine import task_list
from engine.models import TaskCandidateModel, TaskModel
from engine.services import cases, tasks, timers
from tests.support import PASSWORD


def _open(session, actor, clock, n, org=None, hours=1, who="clerk"):
    opened = []
    for _ in range(n):
        case = cases.start_case(session, "small_mediation", {}, actor(who), org_unit=org)
        opened += cases.open_tasks(session, case.id)
        clock.advance(hours=hours)
    return opened


def _ids(page):
    return [t.id for t in page.items]


def test_pages_follow_the_due_order(session, actor, clock):
    opened = _open(session, actor, clock, 7)
    expected = [t.id for t in sorted(opened, key=lambda t: (t.due_at, t.created_at))]
    clerk = actor("clerk")
    first = tasks.list_tasks(session, clerk, sort="due", per_page=3)
    second = tasks.list_tasks(session, clerk, sort="due", per_page=3, page=2)
    last = tasks.list_tasks(session, clerk, sort="due", per_page=3, page=3)
    assert _ids(first) + _ids(second) + _ids(last) == expected
    assert (first.total, first.more) == (7, False)
    assert _ids(tasks.list_tasks(session, clerk, sort="-created")) == expected[::-1]
    assert _ids(tasks.list_tasks(session, clerk, sort="created", page=2, per_page=5)) == expected[5:]


def test_a_claimed_task_is_listed_once(session, actor, clock):
    # It is both a candidate task and assigned to the clerk: two walks find it, the page shows it once.
    opened = _open(session, actor, clock, 3)
    tasks.claim_task(session, opened[1].id, actor("clerk"))
    page = tasks.list_tasks(session, actor("clerk"))
    assert _ids(page) == [t.id for t in opened] and page.total == 3
    mine = tasks.list_tasks(session, actor("clerk"), assigned="me")
    assert _ids(mine) == [opened[1].id] and mine.total == 1
    assert _ids(tasks.list_tasks(session, actor("clerk"), assigned="none")) == [opened[0].id, opened[2].id]


def test_grants_in_two_units_merge_in_order(session, actor, clock, directory):
    directory.create_user(session, "clerk2", PASSWORD, ["intake_clerk"], ["330106000", "330106001"])
    county = _open(session, actor, clock, 2, hours=2)
    clock.advance(hours=-3)  # interleave: the township's tasks fall between the county's
    township = _open(session, actor, clock, 2, org="330106001", hours=2, who="clerk2")
    both = sorted(county + township, key=lambda t: (t.due_at, t.created_at))
    assert {t.org_unit_id for t in township} != {t.org_unit_id for t in county}
    assert _ids(tasks.list_tasks(session, actor("clerk2"))) == [t.id for t in both]
    assert _ids(tasks.list_tasks(session, actor("clerk"))) == [t.id for t in county]


def test_totals_stop_counting_at_the_cap(session, actor, clock, monkeypatch):
    _open(session, actor, clock, 5)
    monkeypatch.setattr(task_list, "COUNT_CAP", 3)  # the query builder counts (engine/task_list.py)
    page = tasks.list_tasks(session, actor("clerk"), per_page=2)
    assert (page.total, page.more, len(page.items)) == (3, True, 2)
    assert len(tasks.list_tasks(session, actor("clerk"), page=3, per_page=2).items) == 1  # pages go on past it


def test_overdue_and_warning_order(session, actor, clock):
    opened = _open(session, actor, clock, 3)
    # escalate the newest task furthest, the oldest one step: the warning sort puts level before due date
    for task, level in ((opened[2], 3), (opened[0], 1)):
        session.execute(update(TaskModel).where(TaskModel.id == task.id).values(warning_level=level))
        session.execute(update(TaskCandidateModel).where(TaskCandidateModel.task_id == task.id)
                        .values(warning_level=level))
    session.commit()
    clerk = actor("clerk")
    assert _ids(tasks.list_tasks(session, clerk, sort="warning")) == [opened[2].id, opened[0].id, opened[1].id]
    assert tasks.list_tasks(session, clerk, overdue=True).total == 0
    clock.advance(minutes=21 * 60 + 30)  # 24.5 h after the first opening: past its P1D deadline only
    assert _ids(tasks.list_tasks(session, clerk, overdue=True)) == [opened[0].id]


def test_escalation_moves_the_candidate_sort_key(session, actor, clock):
    [task] = _open(session, actor, clock, 1)
    clock.advance(days=2)
    timers.fire_due_timers(session, now=clock.now())
    level = session.scalar(select(TaskModel.warning_level).where(TaskModel.id == task.id))
    assert level >= 2
    assert set(session.scalars(select(TaskCandidateModel.warning_level)
                               .where(TaskCandidateModel.task_id == task.id))) == {level}


def test_an_actor_without_grants_lists_nothing(session, actor, clock):
    # Only the assigned-to-me walk is left (e.g. the system actor): the merged statement must still work.
    from engine.services.users import Actor

    _open(session, actor, clock, 2)
    page = tasks.list_tasks(session, Actor(username="nobody"))
    assert (page.items, page.total, page.more) == ([], 0, False)
