"""Shared fixtures: database (SQLite file, or PostgreSQL from DATABASE_URL), fixed clock, runtime, app."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine import runtime
from engine.clock import CHINA_TZ, Clock
from engine.db import make_engine, upgrade_schema
from engine.models import Base
from tests.support import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)  # a Monday, no holiday near


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("DATABASE_URL") or os.environ.get("JIEFEN_DATABASE_URL")
    if url:
        from config.settings import database_url_from_env
        return database_url_from_env()
    return f"sqlite:///{tmp_root / 'jiefen-test.sqlite3'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return _database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def db_engine(database_url):
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # a clean schema for this run
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade_schema(engine)
    yield engine
    engine.dispose()


def _wipe(engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)


@pytest.fixture
def rt(clock):
    from engine.calendar import DEFAULT_CALENDAR_PATH
    settings = runtime.EngineSettings.from_files(str(ROOT / "config" / "org.toml"), str(DEFAULT_CALENDAR_PATH))
    settings.password_method = "pbkdf2:sha256:1000"  # fast hashing for fixtures; production uses scrypt
    return runtime.Runtime(settings, clock)


@pytest.fixture
def session(db_engine, rt):
    with Session(db_engine, expire_on_commit=False, info={runtime.INFO_KEY: rt}) as s:
        yield s
    _wipe(db_engine)


@pytest.fixture
def lose_server_connection(session, db_engine):
    """PostgreSQL only: a callable that ends the server process behind the session's connection (as a server
    restart would) and returns its pid; the session still holds the dead connection."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("a server connection to lose: PostgreSQL")

    def lose() -> int:
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db_engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        return pid
    return lose


@pytest.fixture
def directory(session):
    """A county center with a township and a village, and users for the test process's roles."""
    from engine.services import processes, users
    from engine.services.users import SYSTEM

    users.init_directory(session, "330106000", "西湖区综治中心", "330106")
    users.add_org_unit(session, "330106001", "北山街道综治中心", "township", "330106000")
    users.add_org_unit(session, "330106001001", "曙光社区调解室", "village", "330106001")
    processes.deploy(session, {"small_mediation.bpmn": (FIXTURES / "engine" / "small_mediation.bpmn").read_bytes()},
                     SYSTEM)
    users.ensure_roles(session, {"unit_head": "部门负责人", "supervisor": "督办岗"})
    session.commit()
    users.create_user(session, "clerk", PASSWORD, ["intake_clerk"])
    users.create_user(session, "mediator1", PASSWORD, ["mediator"])
    users.create_user(session, "mediator2", PASSWORD, ["mediator"])
    users.create_user(session, "labour", PASSWORD, ["dept_hrss"])
    users.create_user(session, "township_mediator", PASSWORD, ["mediator"], ["330106001"])
    users.create_user(session, "admin", PASSWORD, ["admin"])
    users.create_user(session, "auditor", PASSWORD, ["auditor"])
    users.create_user(session, "head", PASSWORD, ["unit_head"])
    users.create_user(session, "super", PASSWORD, ["supervisor"])
    return users


@pytest.fixture
def actor(session, directory):
    from engine.services.users import load_actor
    return lambda name: load_actor(session, name)


@pytest.fixture
def app(db_engine, database_url, rt):
    from webui import create_app
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "JIEFEN_RUNTIME": rt,
                      "SECRET_KEY": "test", "JIEFEN_SCHEDULER_ENABLED": False})
    yield app
    from webui.extensions import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()
