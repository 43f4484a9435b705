"""Shared fixtures: database (SQLite file, or PostgreSQL from DATABASE_URL), fixed clock, runtime, app."""
from __future__ import annotations

import inspect

import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from engine import runtime
from engine.clock import CHINA_TZ, Clock
from engine.db import make_engine, upgrade_schema
from engine.models import Base
from tests.support import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)  # a Monday, no holiday near


def _database_per_worker() -> None:
    """Under pytest-xdist (`make test` runs `-n`), each worker gets a PostgreSQL database of its own: the given
    database's name + "_gw0", "_gw1"…, created when missing. DATABASE_URL itself is rewritten, so what the tests start
    (console commands, a second process) lands in the worker's database too. SQLite needs nothing: each worker's
    files are under its own temporary directory."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    raw = os.environ.get("JIEFEN_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not worker or not raw or os.environ.get("JIEFEN_TEST_DB_WORKER") == worker:
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from config.settings import database_url_from_env
    url = make_url(database_url_from_env())
    if not url.get_backend_name().startswith("postgresql"):
        return
    mine = url.set(database=f"{url.database}_{worker}")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": mine.database}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{mine.database}"'))
    finally:
        admin.dispose()
    rendered = mine.render_as_string(hide_password=False)
    for name in ("DATABASE_URL", "JIEFEN_DATABASE_URL"):
        if os.environ.get(name):
            os.environ[name] = rendered
    os.environ["JIEFEN_TEST_DB_WORKER"] = worker


_database_per_worker()


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
    """The engine as production configures it (engine/db.py: WAL, the SQLite writer gate, autocommit-free
    pysqlite): committed-mode tests and the seeds use it."""
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # a clean schema for this run
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def savepoint_engine(db_engine, database_url):
    """A second engine on the same database for savepoint-isolated tests. On SQLite it follows SQLAlchemy's
    pysqlite recipe ("Serializable isolation / Savepoints / Transactional DDL"): pysqlite's own transaction
    handling off, BEGIN emitted by SQLAlchemy, so SAVEPOINT works inside the test's outer transaction. Such a
    connection never passes the writer gate (autocommit as pysqlite sees it): one connection per test, so there
    is no other writer to queue behind; tests of the gate itself run in committed mode."""
    engine = make_engine(database_url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _no_pysqlite_transactions(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN")
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


def make_runtime(clock: Clock) -> runtime.Runtime:
    from engine.calendar import DEFAULT_CALENDAR_PATH
    settings = runtime.EngineSettings.from_files(str(ROOT / "config" / "org.toml"), str(DEFAULT_CALENDAR_PATH))
    settings.password_method = "pbkdf2:sha256:1000"  # fast hashing for fixtures; production uses scrypt
    return runtime.Runtime(settings, clock)


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)


@pytest.fixture
def rt(clock):
    return make_runtime(clock)


# ---------------------------------------------------------------- isolation: savepoint (default) or committed
#
# By default a test runs on one connection inside an outer transaction that is rolled back at its end; its
# sessions (the `session` fixture, and the app's db.session) join it with join_transaction_mode=
# "create_savepoint", so their commits are savepoint releases nobody else sees. Tests that need real commits
# visible to other connections, threads or processes take the `committed_db` fixture (or the marker of that
# name, or db_engine / database_url as an argument): they commit for real and every table is wiped after them.
#
# Seeds (SEEDS below: the small directory of `directory`, the center of tests/scenario) are committed once and
# shared by the savepoint tests that want them; the database holds at most one seed at a time (`_seeded`), and a
# committed test's wipe removes it.

SEEDS: dict[str, object] = {}  # seed name -> builder(session); tests/scenario/conftest.py adds "center"
_seeded: list = [None]  # the seed the database holds now, committed (None: empty tables)


def _wanted_seed(request) -> str | None:
    names = request.fixturenames
    for name in ("center", "directory"):  # center's users include directory's names: the bigger one wins
        if name in names and name in SEEDS:
            return name
    return None


def is_committed(request) -> bool:
    """Committed mode: the test asks for `committed_db` (fixture or marker), or takes db_engine or database_url
    itself: it opens connections, or starts processes, of its own."""
    node = request.node
    own = set(inspect.signature(request.function).parameters) & {"db_engine", "database_url"}
    return "committed_db" in request.fixturenames or node.get_closest_marker("committed_db") is not None or bool(own)


def _ensure_seed(engine, name: str | None) -> None:
    if _seeded[0] == name:
        return
    if _seeded[0] is not None:
        _wipe(engine)
        _seeded[0] = None
    if name is not None:
        with Session(engine, expire_on_commit=False, info={runtime.INFO_KEY: make_runtime(Clock(fixed=START))}) as s:
            SEEDS[name](s)
            s.commit()
        _seeded[0] = name


@pytest.fixture
def committed_db():
    """Opt-in: this test's sessions and app commit for real (other connections, threads, processes see it);
    every table is wiped after it."""
    return True


class _Borrowed:
    """What Engine.connect() hands out in a savepoint test: the test's own connection, where begin() is a
    SAVEPOINT and close() leaves the connection open. Code that writes "in a connection of its own" (the access
    log, the rate limiter) so writes inside the test's outer transaction, and the write rolls back with it."""

    def __init__(self, conn):
        self._conn = conn
        self._nested = None

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def begin(self):
        self._nested = self._conn.begin_nested()
        return self._nested

    def commit(self):
        if self._nested is not None and self._nested.is_active:
            self._nested.commit()
        self._nested = None

    def rollback(self):
        if self._nested is not None and self._nested.is_active:
            self._nested.rollback()
        self._nested = None

    def close(self):
        self.rollback()


@pytest.fixture
def db_connection(request, db_engine, savepoint_engine):
    """The test's connection inside its outer transaction (savepoint mode), or None (committed mode).

    In savepoint mode every app's db.session joins this connection, and every Engine.connect() on the test
    database (the access log's "own transaction", the rate limiter) hands it out (_Borrowed), so nothing escapes
    the rollback."""
    if is_committed(request):
        if _seeded[0] is not None:
            _wipe(db_engine)
            _seeded[0] = None
        yield None
        _wipe(db_engine)
        return
    _ensure_seed(db_engine, _wanted_seed(request))
    conn = savepoint_engine.connect()
    outer = conn.begin()
    url = savepoint_engine.url.render_as_string(hide_password=False)
    connect = Engine.connect

    def borrow(engine):
        if engine.url.render_as_string(hide_password=False) == url:
            return _Borrowed(conn)
        return connect(engine)
    from webui.extensions import RuntimeSession, db
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Engine, "connect", borrow)
        # every app's db.session (the `app` fixture's, and apps a test creates itself) joins it as `session` does
        patch.setattr(RuntimeSession, "get_bind", lambda self, *args, **kwargs: conn)
        patch.setitem(db.session.session_factory.kw, "join_transaction_mode", "create_savepoint")
        yield conn
    outer.rollback()
    conn.close()


@pytest.fixture(autouse=True)
def _committed_tests_wipe(request):
    """A committed-mode test that writes through db_engine or a process of its own, and takes no session or app,
    still finds the tables empty and leaves them so (db_connection's committed branch)."""
    if "db_connection" not in request.fixturenames and is_committed(request):
        request.getfixturevalue("db_connection")


@pytest.fixture
def seeded(db_connection) -> str | None:
    """The seed the test finds committed in the database (savepoint mode), or None: a seed fixture builds its
    seed itself unless this names it."""
    return _seeded[0] if db_connection is not None else None


@pytest.fixture
def session(db_connection, db_engine, rt):
    if db_connection is None:
        with Session(db_engine, expire_on_commit=False, info={runtime.INFO_KEY: rt}) as s:
            yield s
        return
    with Session(bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False,
                 info={runtime.INFO_KEY: rt}) as s:
        yield s


@pytest.fixture
def lose_server_connection(committed_db, session, db_engine):
    """PostgreSQL only: a callable that ends the server process behind the session's connection (as a server
    restart would) and returns its pid; the session still holds the dead connection. Committed mode: the lost
    connection must be the session's own, not the test's shared one."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("a server connection to lose: PostgreSQL")

    def lose() -> int:
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db_engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        return pid
    return lose


def _build_directory(session) -> None:
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


SEEDS["directory"] = _build_directory


@pytest.fixture
def directory(session, seeded):
    """A county center with a township and a village, and users for the test process's roles (_build_directory;
    committed once and shared by savepoint tests)."""
    from engine.services import users
    if seeded != "directory":
        _build_directory(session)
    return users


@pytest.fixture
def actor(session, directory):
    from engine.services.users import load_actor
    return lambda name: load_actor(session, name)


@pytest.fixture
def app(db_engine, database_url, rt, db_connection):
    """The web app on the test database. In savepoint mode its db.session joins the test's connection and outer
    transaction (db_connection), so requests see the seed and the test's writes, and roll back."""
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


def pytest_configure(config):
    config.addinivalue_line("markers", "committed_db: the test commits for real (other connections, threads or "
                                       "processes must see its writes); every table is wiped after it")
