"""engine/fastpath.py is the one module that uses SQLAlchemy's private attributes (SQLAlchemy < 2.1 is pinned).
Each one it uses is checked here to exist and behave as the fast path expects, so an upgrade fails here, by
name, rather than somewhere in a case command; and an ast scan keeps every other engine module off them."""
from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import bindparam, create_engine, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from engine import fastpath
from engine.models import Base, OrgUnitModel, ProcessVersionModel

ROOT = Path(__file__).resolve().parents[2]
# SQLAlchemy private attributes engine/fastpath.py relies on (each has a test below).
PRIVATE = {"_bind_processors", "_result_columns", "_cached_result_processor", "_has_events", "_echo", "_log_info",
           "_sa_class_manager", "_commit_all"}


def _private_attributes(tree: ast.AST) -> set[str]:
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")}


def test_only_fastpath_uses_sqlalchemys_private_attributes():
    users = {}
    for path in ROOT.joinpath("engine").rglob("*.py"):
        used = _private_attributes(ast.parse(path.read_text(encoding="utf-8"))) & PRIVATE
        if used:
            users[str(path.relative_to(ROOT))] = sorted(used)
    assert users == {"engine/fastpath.py": sorted(PRIVATE)}


def test_the_scan_finds_a_private_attribute():
    assert _private_attributes(ast.parse("state._commit_all(state.dict, x)\nobj.__class__")) == {"_commit_all"}


def _engine():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[OrgUnitModel.__table__])
    return engine


def test_compiled_statements_expose_bind_processors_and_result_columns():
    engine = _engine()
    stmt = select(OrgUnitModel.id, OrgUnitModel.code).where(OrgUnitModel.code == bindparam("code"))
    compiled = stmt.compile(dialect=engine.dialect)
    assert isinstance(compiled._bind_processors, dict)
    columns = compiled._result_columns
    assert [entry[0] for entry in columns] == ["id", "code"]
    # entry[3] is the column's type; its cached result processor converts a driver value (None: no conversion)
    processor = columns[0][3]._cached_result_processor(engine.dialect, None)
    assert processor is None or processor(1) == 1


def test_datetime_result_processor_converts_sqlite_text():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[ProcessVersionModel.__table__])
    compiled = select(ProcessVersionModel.deployed_at).compile(dialect=engine.dialect)
    processor = compiled._result_columns[0][3]._cached_result_processor(engine.dialect, None)
    assert processor is not None and processor("2026-03-02 01:00:00.000000").year == 2026


def test_connections_expose_events_echo_and_log():
    engine = _engine()
    with engine.connect() as connection:
        assert isinstance(connection._has_events, bool) and isinstance(connection.engine._has_events, bool)
        assert connection._echo in (False, True, None, "debug")
        assert callable(connection._log_info)


def test_send_runs_a_statement_and_sees_cursor_events():
    engine = _engine()
    seen = []
    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]) or None, retval=False)
    with engine.begin() as connection:
        fastpath.send(connection, insert(OrgUnitModel.__table__), {
            "id": 1, "code": "c", "name": "n", "kind": "center", "level": 3, "area_code": "330106", "parent_id": None,
            "path": "/1/", "presence": None, "active": True})
        rows = fastpath.send(connection, select(OrgUnitModel.__table__.c.code), {})
    assert [row.code for row in rows] == ["c"]
    assert any("INSERT INTO org_units" in sql for sql in seen)


def test_attach_loaded_and_mark_clean_use_the_class_manager_and_commit_all():
    engine = _engine()
    with engine.begin() as connection:
        connection.execute(insert(OrgUnitModel.__table__).values(
            id=1, code="c", name="n", kind="center", level=3, area_code="330106", parent_id=None, path="/1/"))
    with Session(engine) as session:
        values = {c.key: v for c, v in zip(OrgUnitModel.__table__.c, session.execute(
            select(*OrgUnitModel.__table__.c)).one())}
        org = fastpath.attach_loaded(session, OrgUnitModel, values)
        assert OrgUnitModel._sa_class_manager is not None
        state = instance_state(org)
        assert state.persistent and not state.modified and org.code == "c"
        set_committed_value(org, "name", "new")  # as check_and_mark_written does after its UPDATE
        org.name = "newer"
        assert state.modified
        set_committed_value(org, "name", "newer")
        fastpath.mark_clean(session, org)
        assert not state.modified and not session.dirty
        assert callable(state._commit_all)
