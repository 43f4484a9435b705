"""The case row is written with Core statements (case_store.insert_case / case_update), not the unit of work:
the object the services return must still match the row, be clean, and a stale version must still conflict."""
import pytest
from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.orm.exc import StaleDataError

from engine import case_store, casework
from engine.models import CaseEventModel, CaseModel
from engine.services import cases, tasks
from tests.support.cases import INTAKE



def _row(session, case_id):
    return session.execute(select(CaseModel.__table__).where(CaseModel.id == case_id)).mappings().one()


def _statements(session):
    sent = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def _same_as_row(case, row):
    for column, value in row.items():
        got = getattr(case, column)
        if hasattr(got, "tzinfo") and got is not None and value is not None and value.tzinfo is None:
            got = got.replace(tzinfo=None)  # SQLite hands back naive UTC
        assert got == value, column


def test_started_case_is_persistent_clean_and_reads_without_sql(session, actor):
    case = cases.start_case(session, "small_mediation", {"channel": "phone"}, actor("clerk"))
    state = inspect(case)
    assert state.persistent and not state.modified and case not in session.dirty
    sent = _statements(session)
    values = {c.key: getattr(case, c.key) for c in CaseModel.__table__.c}
    assert case.org_unit.code == "330106000"
    assert sent == [], "every column of a new case must be loaded, not fetched lazily"
    assert values["lock_version"] == 2 and values["event_seq"] == 2  # inserted at 1, then saved once
    _same_as_row(case, _row(session, case.id))


def test_completing_a_task_writes_the_row_and_bumps_the_version(session, actor):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    [intake] = cases.open_tasks(session, case.id)
    done = tasks.complete_task(session, intake.id, INTAKE, actor("clerk"), lock_version=case.lock_version)
    assert done is case and case.lock_version == 3
    assert not inspect(case).modified
    assert case.data["party_name"] == "张三"
    _same_as_row(case, _row(session, case.id))


def test_an_unchanged_case_row_has_no_update_to_send(session, actor):
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    sent = _statements(session)
    assert case_store.case_update(case) is None
    assert sent == []


def test_completing_a_task_reads_the_case_task_rows_once(session, actor):
    # complete_task reads the task under the lock together with the case's other task rows, and hands them
    # to the pipeline instead of a second read (bench/README.md, "What the profile led to")
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    [intake] = cases.open_tasks(session, case.id)
    intake_id, clerk = intake.id, actor("clerk")
    session.expire_all()
    sent = _statements(session)
    tasks.complete_task(session, intake_id, INTAKE, clerk)
    reads = [s for s in sent if s.lstrip().startswith("SELECT tasks")]  # (PostgreSQL's lock finds the case via tasks)
    assert len(reads) == 1, reads
    assert not [s for s in sent if s.lstrip().startswith("SELECT task_candidates")], "candidates come with it"
    [mediate] = cases.open_tasks(session, case.id)
    assert mediate.spec_name == "mediate" and mediate.id != intake_id



def _intake_apply(ctx):
    [task] = casework.human_tasks(ctx.workflow)
    task.data.update(INTAKE)
    task.run()
    casework.run_engine(ctx.workflow)
    return task, {"spec_name": task.task_spec.name, "ordinal": 0, "data": INTAKE}


def test_a_command_on_a_stale_version_writes_none_of_its_rows(session, actor, clock):
    # The task, timer and history rows go out with the versioned UPDATE of the case row (one pipeline on
    # PostgreSQL): when that UPDATE finds a newer version, the command fails and its other rows go with it.
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    [intake] = cases.open_tasks(session, case.id)
    events = session.scalar(select(func.count()).select_from(CaseEventModel))
    locked = case_store.lock_case(session, case.id)
    table = CaseModel.__table__
    session.connection().execute(update(table).where(table.c.id == case.id).values(lock_version=99))
    with pytest.raises(StaleDataError):
        casework.execute(session, locked, "clerk", clock.now(), _intake_apply, "task_completed")
    session.rollback()
    assert [t.id for t in cases.open_tasks(session, case.id)] == [intake.id]
    assert session.scalar(select(func.count()).select_from(CaseEventModel)) == events
    row = _row(session, case.id)
    assert row["lock_version"] == case.lock_version and row["channel"] is None  # the intake's channel not written


@pytest.mark.committed_db  # counts the SQL sent, where savepoint mode adds SAVEPOINT and RELEASE
def test_a_command_sends_its_writes_after_its_reads(session, actor):
    # fastpath.run_writes can send the writes together only if no read comes between them
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    [intake] = cases.open_tasks(session, case.id)
    session.expire_all()
    sent = _statements(session)
    tasks.complete_task(session, intake.id, INTAKE, actor("clerk"))
    kinds = [s.lstrip().split()[0] for s in sent]
    first_write = next(i for i, k in enumerate(kinds) if k in ("INSERT", "DELETE"))  # (SQLite locks with an UPDATE)
    assert "SELECT" not in kinds[first_write:], sent
    assert kinds[-1] == "UPDATE" and sent[-1].lstrip().startswith("UPDATE cases")


def test_a_locked_case_is_the_rows_values_loaded_and_clean(session, actor, db_engine):
    """lock_case builds the objects from the row itself (case_store._case_of): nothing is left to load lazily,
    the object is clean, and a copy the session held already is refreshed from the row, not duplicated."""
    from sqlalchemy.orm import Session

    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    session.commit()
    with Session(db_engine, expire_on_commit=False, info=session.info) as other:
        locked = case_store.lock_case(other, case.id)
        sent = _statements(other)
        values = {c.key: getattr(locked, c.key) for c in CaseModel.__table__.c}
        assert locked.org_unit.code == "330106000" and locked.workflow_json
        assert sent == [], "every column and the org unit must come with the row"
        state = inspect(locked)
        assert state.persistent and not state.modified
        _same_as_row(locked, _row(other, case.id))
        assert values["lock_version"] == case.lock_version
        other.rollback()
    session.execute(update(CaseModel).where(CaseModel.id == case.id).values(category="changed elsewhere"))
    again = case_store.lock_case(session, case.id)
    assert again is case and case.category == "changed elsewhere" and not inspect(case).modified
    session.rollback()
