"""Database engines, sessions and schema migrations (Alembic), without Flask."""
from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.sqlite_gate import attach_gate, gated_connect

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
        event.listen(engine, "do_connect", gated_connect)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", attach_gate)
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
