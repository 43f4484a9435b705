"""fastpath.run_writes: a command's buffered writes, in order, with their row counts (one pipeline on PostgreSQL)."""
import pytest
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.fastpath import run_writes
from engine.models import OrgUnitModel, RoleModel

ROLES = RoleModel.__table__
_RENAME = update(ROLES).where(ROLES.c.name == bindparam("old")).values(title=bindparam("title"))


def _titles(session):
    return dict(session.execute(select(ROLES.c.name, ROLES.c.title).where(ROLES.c.name.like("w_%"))).all())


@pytest.fixture(params=["pipeline", "one by one"])
def mode(request, session, monkeypatch):
    """On PostgreSQL, both ways run_writes sends: a pipeline, and one by one where libpq has no pipeline mode."""
    if request.param == "one by one":
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite always sends one by one")
        import psycopg
        monkeypatch.setattr(psycopg.Pipeline, "is_supported", classmethod(lambda cls: False))
    return request.param


def test_writes_run_in_order_and_report_each_row_count(session, mode):
    counts = run_writes(session, [
        (insert(ROLES).inline(), [{"name": "w_a", "title": "A"}, {"name": "w_b", "title": "B"}, {"name": "w_c", "title": "C"}]),
        (_RENAME, {"old": "w_a", "title": "A2"}),
        (_RENAME, {"old": "w_nobody", "title": "-"}),
        (delete(ROLES).where(ROLES.c.name == bindparam("n")), [{"n": "w_b"}, {"n": "w_c"}]),
        (delete(ROLES).where(ROLES.c.name == "w_gone"), {}),
        (_RENAME, {"old": "w_a", "title": "A3"}),  # sees the earlier rename's row: order is kept
    ])
    assert counts == [None, 1, 0, None, 0, 1]  # matched rows of each single UPDATE or DELETE
    assert _titles(session) == {"w_a": "A3"}
    session.rollback()


def test_one_write_alone_and_none(session):
    assert run_writes(session, []) == []
    assert run_writes(session, [(insert(ROLES).inline(), {"name": "w_x", "title": "X"})]) == [None]
    assert run_writes(session, [(_RENAME, {"old": "w_x", "title": "Y"})]) == [1]
    session.rollback()


def test_a_failing_write_raises_the_sqlalchemy_error_and_keeps_nothing(session, mode):
    session.execute(insert(ROLES), {"name": "w_taken", "title": "T"})
    session.commit()
    with pytest.raises(IntegrityError) as failed:
        run_writes(session, [
            (insert(ROLES).inline(), {"name": "w_new", "title": "N"}),
            (insert(ROLES).inline(), {"name": "w_taken", "title": "again"}),  # unique name
            (_RENAME, {"old": "w_taken", "title": "changed"}),
        ])
    assert "w_taken" in str(failed.value) or "unique" in str(failed.value).lower()
    session.rollback()
    assert _titles(session) == {"w_taken": "T"}


def test_a_foreign_key_violation_in_the_batch_fails_the_batch(session):
    units = OrgUnitModel.__table__
    with pytest.raises(IntegrityError):
        run_writes(session, [
            (insert(ROLES).inline(), {"name": "w_fk", "title": "F"}),
            (insert(units).inline(), {"code": "w_unit", "name": "x", "kind": "county", "level": 1, "area_code": "1",
                                      "presence": None, "parent_id": 987654, "path": "/"}),
        ])
    session.rollback()
    assert _titles(session) == {}


def test_a_lost_server_connection_during_the_writes_is_invalidated(session, lose_server_connection):
    from sqlalchemy.exc import DBAPIError

    lose_server_connection()
    with pytest.raises(DBAPIError) as lost:
        run_writes(session, [(_RENAME, {"old": "w_a", "title": "A"}), (_RENAME, {"old": "w_b", "title": "B"})])
    assert lost.value.connection_invalidated
    session.rollback()
    assert run_writes(session, [(_RENAME, {"old": "w_a", "title": "A"}), (_RENAME, {"old": "w_b", "title": "B"})]) \
        == [0, 0]
    session.rollback()
