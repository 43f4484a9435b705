"""The Alembic migrations build exactly the schema the models declare (on SQLite and PostgreSQL)."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.models import Base


def test_migrations_match_the_models(db_engine):
    with db_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_0003_copies_each_case_event_tail(tmp_path):
    # A database made before 0003: its cases get the seq, hash and time of their last event.
    from alembic import command
    from sqlalchemy import text

    from sqlalchemy import create_engine

    from engine.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)  # without the foreign-key pragma: only cases and events matter here
    cfg = alembic_config(url)
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
    from alembic import command
    from sqlalchemy import create_engine, text

    from engine.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    cfg = alembic_config(url)
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
