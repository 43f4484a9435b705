"""Database engines, sessions and schema migrations (Alembic), without Flask."""
from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; FULL fsyncs every commit (the commit is our durability point).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def configure_engine(engine: Engine) -> Engine:
    """Apply our connection settings to an engine someone else created (e.g. Flask-SQLAlchemy's)."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return configure_engine(create_engine(url, **kwargs))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def server_settings(engine: Engine) -> dict[str, str]:
    """The PostgreSQL settings jiefen's performance depends on, as the server reports them (empty on SQLite)."""
    if engine.dialect.name != "postgresql":
        return {}
    from sqlalchemy import text

    with engine.connect() as conn:
        return {name: conn.execute(text(f"SHOW {name}")).scalar() for name in ("autovacuum", "track_counts")}


def server_warnings(settings: dict[str, str]) -> list[str]:
    """What an operator should change in the database server's settings (server_settings), one line each."""
    warnings = []
    for name in ("autovacuum", "track_counts"):
        if settings.get(name) == "off":
            warnings.append(
                f"PostgreSQL runs with {name}=off: nothing vacuums or analyzes the tables, and a plan the server "
                "cached while a table was small stays in use as it grows (bench/README.md, the timer drain); turn "
                "it on (the default) in postgresql.conf")
    return warnings


def run_writes(session: Session, writes: list[tuple]) -> list[int | None]:
    """Send a command's buffered writes — (Core statement, parameters) pairs — in order; for each, the number
    of rows it matched if it is an UPDATE or DELETE with one parameter set, else None.

    On PostgreSQL, two or more writes go out in one psycopg pipeline: a task command's six or seven writes
    cost one round trip instead of one each (bench/README.md, "fifth pass"). So the statements must not
    return rows (an INSERT into a table with a generated key needs .inline()), and nothing may read what
    they write before this runs. A write that fails raises the same SQLAlchemy error as it would alone
    (IntegrityError, say); the caller's session must then be rolled back."""
    if not writes:
        return []
    connection = session.connection()
    if len(writes) == 1 or not _can_pipeline(connection):
        results = [connection.execute(stmt, params) for stmt, params in writes]
        return [_matched(stmt, params, result.rowcount) for (stmt, params), result in zip(writes, results)]
    import psycopg

    driver = connection.connection.driver_connection
    try:
        with driver.pipeline():
            results = [connection.execute(stmt, params) for stmt, params in writes]
    except psycopg.Error as exc:  # raised when the pipeline syncs, outside SQLAlchemy's own translation
        raise DBAPIError.instance(None, None, exc, psycopg.Error, dialect=connection.dialect) from exc
    # SQLAlchemy read each count before the results came back; the driver's cursor has them now
    return [_matched(stmt, params, result.context.cursor.rowcount)
            for (stmt, params), result in zip(writes, results)]


def _can_pipeline(connection) -> bool:
    """psycopg 3 on a libpq with pipeline mode (14 and newer; psycopg[binary] brings its own)."""
    if connection.dialect.driver != "psycopg":
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()


def _matched(stmt, params, rowcount: int) -> int | None:
    return rowcount if isinstance(params, dict) and (stmt.is_update or stmt.is_delete) else None
