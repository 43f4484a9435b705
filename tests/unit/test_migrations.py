"""The Alembic migrations build exactly the schema the models declare (on SQLite and PostgreSQL)."""
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from engine.db import alembic_config
from engine.models import Base


def _old_database(tmp_path):
    """A SQLite file to migrate step by step, and its Alembic config. Plain create_engine: without the
    foreign-key pragma, so a test can insert just the rows its migration reads."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    return create_engine(url), alembic_config(url)


def _index_names(conn, table: str) -> set[str]:
    return {i["name"] for i in inspect(conn).get_indexes(table)}


def _plan(db_engine, sql: str, params=None) -> str:
    """The query plan of `sql` on the test database, as text."""
    with db_engine.connect() as conn:
        if db_engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # an empty test table would otherwise be scanned
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params or {}))
            conn.rollback()
            return plan
        return "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params or ()))


def _indexes_down_and_up(tmp_path, table: str, revision: str, previous: str) -> tuple[set[str], set[str]]:
    """The index names of `table` after downgrading a new database to `previous`, then upgrading to `revision`."""
    engine, cfg = _old_database(tmp_path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        command.downgrade(cfg, previous)
        after_downgrade = _index_names(conn, table)
        command.upgrade(cfg, revision)
        after_upgrade = _index_names(conn, table)
    engine.dispose()
    return after_downgrade, after_upgrade


def test_migrations_match_the_models(db_engine):
    with db_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_0003_copies_each_case_event_tail(tmp_path):
    # A database made before 0003: its cases get the seq, hash and time of their last event.
    from sqlalchemy import text

    engine, cfg = _old_database(tmp_path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        for case_id in (1, 2):
            conn.execute(text("INSERT INTO cases (id, code, process_version_id, process_id, status, org_unit_id, "
                              "opened_at, data, workflow_json, task_count, lock_version) VALUES "
                              f"({case_id}, 'c{case_id}', 1, 'p', 'open', 1, '2026-01-01 00:00:00', '{{}}', '{{}}', 0, 1)"))
        for seq, at in ((1, "2026-01-01 00:00:00"), (2, "2026-01-02 00:00:00")):
            conn.execute(text("INSERT INTO events (case_id, seq, at, type, payload, prev_hash, hash) VALUES "
                              f"(1, {seq}, '{at}', 't', '{{}}', 'p{seq}', 'h{seq}')"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        rows = conn.execute(text("SELECT id, event_seq, event_hash, event_at FROM cases ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r[:3]) for r in rows] == [(1, 2, "h2"), (2, 0, "0" * 64)]
    assert str(rows[0][3]).startswith("2026-01-02") and rows[1][3] is None


def test_0004_copies_each_task_sort_keys_to_its_candidates(tmp_path):
    from sqlalchemy import text

    engine, cfg = _old_database(tmp_path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        for task_id, due in (("a", "'2026-03-02 01:00:00'"), ("b", "NULL")):
            conn.execute(text("INSERT INTO tasks (id, kind, case_id, process_id, spec_name, title, roles, org_unit_id, "
                              f"due_at, warning_level, created_at) VALUES ('{task_id}', 'bpmn', 1, 'p', 's', 't', '[]', "
                              f"1, {due}, 2, '2026-03-01 00:00:00')"))
            conn.execute(text(f"INSERT INTO task_candidates (task_id, role, org_unit_id) VALUES ('{task_id}', 'r', 1)"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        rows = conn.execute(text("SELECT task_id, due_sort, created_at, warning_level FROM task_candidates "
                                 "ORDER BY task_id")).all()
    engine.dispose()
    assert [(r[0], str(r[1])[:19], str(r[2])[:19], r[3]) for r in rows] == [
        ("a", "2026-03-02 01:00:00", "2026-03-01 00:00:00", 2), ("b", "9999-12-31 00:00:00", "2026-03-01 00:00:00", 2)]


def test_0006_copies_each_task_filter_columns_to_its_candidates_and_downgrades(tmp_path):
    from sqlalchemy import text

    engine, cfg = _old_database(tmp_path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
        for case_id, code, category in ((1, "C1", "'labour'"), (2, "C2", "NULL")):
            conn.execute(text("INSERT INTO cases (id, code, process_version_id, process_id, status, org_unit_id, "
                              "category, opened_at, data, workflow_json, task_count, lock_version) VALUES "
                              f"({case_id}, '{code}', 1, 'p{case_id}', 'open', 1, {category}, "
                              "'2026-01-01 00:00:00', '{}', '{}', 0, 1)"))
        for task_id, case_id, assignee in (("a", 1, "'clerk'"), ("b", 2, "NULL")):
            conn.execute(text("INSERT INTO tasks (id, kind, case_id, process_id, spec_name, title, roles, org_unit_id, "
                              f"assignee, warning_level, created_at) VALUES ('{task_id}', 'bpmn', {case_id}, "
                              f"'p{case_id}', 's', '任务{task_id}', '[]', 1, {assignee}, 0, '2026-03-01 00:00:00')"))
            for role in ("r1", "r2"):
                conn.execute(text("INSERT INTO task_candidates (task_id, role, org_unit_id, due_sort, created_at) "
                                  f"VALUES ('{task_id}', '{role}', 1, '9999-12-31 00:00:00', '2026-03-01 00:00:00')"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        rows = conn.execute(text("SELECT task_id, role, assignee, process_id, category, case_code, title "
                                 "FROM task_candidates ORDER BY task_id, role")).all()
    assert [tuple(r) for r in rows] == [
        ("a", "r1", "clerk", "p1", "labour", "C1", "任务a"), ("a", "r2", "clerk", "p1", "labour", "C1", "任务a"),
        ("b", "r1", None, "p2", None, "C2", "任务b"), ("b", "r2", None, "p2", None, "C2", "任务b")]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
        columns = {c["name"] for c in inspect(conn).get_columns("task_candidates")}
        count = conn.execute(text("SELECT count(*) FROM task_candidates")).scalar()
    engine.dispose()
    assert columns == {"task_id", "role", "org_unit_id", "due_sort", "created_at", "warning_level"} and count == 4


def test_0008_copies_each_task_due_sort_key_as_the_models_write_it_and_downgrades(tmp_path):
    from datetime import datetime, timezone

    from sqlalchemy import select, text

    from engine.db import make_engine
    from engine.models import NO_DUE_DATE, TaskModel

    engine, cfg = _old_database(tmp_path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        for task_id, due in (("a", "'2026-03-02 01:00:00.000000'"), ("b", "NULL")):
            conn.execute(text("INSERT INTO tasks (id, kind, case_id, process_id, spec_name, title, roles, "
                              f"org_unit_id, due_at, warning_level, created_at) VALUES ('{task_id}', 'bpmn', 1, "
                              f"'p', 's', 't', '[]', 1, {due}, 0, '2026-03-01 00:00:00.000000')"))
            conn.execute(text("INSERT INTO task_candidates (task_id, role, org_unit_id, due_sort, created_at) "
                              f"VALUES ('{task_id}', 'r', 1, '9999-12-31 00:00:00', '2026-03-01 00:00:00')"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        T = TaskModel.__table__
        # read and compared through the model's type: the backfilled text is what the engine binds
        rows = conn.execute(select(T.c.id, T.c.due_sort).order_by(T.c.id)).all()
        no_due = conn.execute(select(T.c.id).where(T.c.due_sort == NO_DUE_DATE)).scalars().all()
        indexes = _index_names(conn, "tasks")
    assert rows == [("a", datetime(2026, 3, 2, 1, tzinfo=timezone.utc)), ("b", NO_DUE_DATE)] and no_due == ["b"]
    assert {"ix_tasks_due_sort", "ix_tasks_created", "ix_tasks_warning"} <= indexes
    engine.dispose()
    engine = make_engine(str(engine.url))  # foreign keys on, as the engine runs migrations: nothing may cascade
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
        columns = {c["name"] for c in inspect(conn).get_columns("tasks")}
        indexes = _index_names(conn, "tasks")
        counts = conn.execute(text("SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_candidates)")).one()
    engine.dispose()
    assert "due_sort" not in columns and "ix_tasks_due_sort" not in indexes and tuple(counts) == (2, 2)


def test_0011_claims_due_timers_through_the_due_at_id_index_and_downgrades(db_engine, tmp_path):
    # The drain's claim orders by (due_at, id): with the id in the index it is a walk, no sort.
    with db_engine.connect() as conn:
        indexes = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("timers")}
    plan = _plan(db_engine, "SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= CURRENT_TIMESTAMP "
                            "ORDER BY due_at, id LIMIT 200")
    assert indexes["ix_timers_due_id_pending"] == ["due_at", "id"] and "ix_timers_due_pending" not in indexes
    assert "ix_timers_due_id_pending" in plan and "Sort" not in plan and "TEMP B-TREE" not in plan, plan

    after_downgrade, after_upgrade = _indexes_down_and_up(tmp_path, "timers", "0011", previous="0010")
    assert "ix_timers_due_pending" in after_downgrade and "ix_timers_due_id_pending" not in after_downgrade
    assert "ix_timers_due_id_pending" in after_upgrade and "ix_timers_due_pending" not in after_upgrade


def test_0012_finds_staffed_units_through_the_role_org_index_and_downgrades(db_engine, tmp_path):
    # Every task opened asks which units of the case's chain hold its role: a seek per unit, not a scan.
    from engine import routing

    statement = routing._STAFFED_UNITS.compile(dialect=db_engine.dialect)
    params = {"role": "mediator", **{f"unit_{i}": 1 for i in range(routing._CHAIN_SLOTS)}}
    if db_engine.dialect.name != "postgresql":
        params = tuple(params[name] for name in statement.positiontup)
    plan = _plan(db_engine, str(statement), params)
    with db_engine.connect() as conn:
        indexes = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("memberships")}
    assert indexes["ix_memberships_role_org"] == ["role_id", "org_unit_id"]
    assert "ix_memberships_role_org" in plan and "SCAN memberships" not in plan, plan

    after_downgrade, after_upgrade = _indexes_down_and_up(tmp_path, "memberships", "0012", previous="0011")
    assert "ix_memberships_role_org" not in after_downgrade and "ix_memberships_role_org" in after_upgrade


def test_0014_claims_in_due_order_per_case_through_indexes_and_downgrades(db_engine, tmp_path):
    # The claim walks the due rows in (due_at, id) order without a sort, then asks for the held rows of the
    # cases it found by case_id, and a firing timer asks for an earlier one of its case the same way.
    from datetime import datetime, timezone

    from engine import timer_firing
    from engine.services import timers

    moment = datetime(2026, 3, 2, tzinfo=timezone.utc)

    def plan_of(statement, values):
        compiled = statement.params(values).compile(dialect=db_engine.dialect,
                                                    compile_kwargs={"render_postcompile": True})
        params = compiled.params
        if db_engine.dialect.name != "postgresql":
            params = tuple(str(params[n].replace(tzinfo=None)) if isinstance(params[n], datetime) else params[n]
                           for n in compiled.positiontup)
        return _plan(db_engine, str(compiled), params)

    walk = plan_of(timers._DUE_ROWS.limit(200), {"now": moment, "wall": moment})
    assert "ix_timers_due_id_pending" in walk and "Sort" not in walk and "TEMP B-TREE" not in walk, walk
    held = plan_of(timers._HELD_OF_CASES, {"wall": moment, "case_ids": [1, 2, 3]})
    row = plan_of(timer_firing.TIMER_ROW, {"timer_id": 1})
    if db_engine.dialect.name != "postgresql":  # PostgreSQL plans an empty table its own way; measured in 0014
        assert "ix_timers_case_id" in held, held
        assert "ix_timers_case_id" in row and "SCAN earlier" not in row, row

    engine, cfg = _old_database(tmp_path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        command.downgrade(cfg, "0013")
        down = ({c["name"] for c in inspect(conn).get_columns("timers")}, inspect(conn).has_table("incidents"))
        command.upgrade(cfg, "0014")
        up = ({c["name"] for c in inspect(conn).get_columns("timers")}, inspect(conn).has_table("incidents"))
    engine.dispose()
    assert not {"attempts", "retry_at", "last_error", "incident"} & down[0] and not down[1]
    assert {"attempts", "retry_at", "last_error", "incident"} <= up[0] and up[1]


def test_0022_makes_each_process_newest_version_active_and_records_every_deploy(tmp_path):
    # A database made before 0022: new cases kept starting on the newest version; that one becomes active, and
    # each stored version gets its `deployed` record (who and when, as the version row says).
    from sqlalchemy import text

    engine, cfg = _old_database(tmp_path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0020")
        for vid, pid, version, at in ((1, "a", 1, "2026-01-01 00:00:00"), (2, "a", 2, "2026-01-05 00:00:00"),
                                      (3, "b", 1, "2026-01-03 00:00:00")):
            conn.execute(text("INSERT INTO process_versions (id, process_id, version, name, file_name, sha256, xml, "
                              "spec_json, meta, deployed_at, deployed_by) VALUES "
                              f"({vid}, '{pid}', {version}, 'n', 'f.bpmn', 's{vid}', x'00', '{{}}', '{{}}', '{at}', "
                              "'admin')"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0022")
        active = conn.execute(text("SELECT process_id, version_id FROM active_versions ORDER BY process_id")).all()
        audit = conn.execute(text("SELECT action, process_id, version, actor FROM process_audit ORDER BY id")).all()
        command.downgrade(cfg, "0020")
        assert "active_versions" not in inspect(conn).get_table_names()
    engine.dispose()
    assert [tuple(r) for r in active] == [("a", 2), ("b", 3)]
    assert [tuple(r) for r in audit] == [("deployed", "a", 1, "admin"), ("deployed", "b", 1, "admin"),
                                         ("deployed", "a", 2, "admin")]
