"""Database engines, sessions and schema migrations (Alembic), without Flask."""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import namedtuple
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

try:
    import fcntl
except ImportError:  # not POSIX: the writer gate orders this process's threads only
    fcntl = None

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


# ---------------------------------------------------------------- SQLite: one writer at a time, woken at once
#
# SQLite lets one connection write at a time. One that finds the write lock taken waits in SQLite's busy
# handler, which sleeps 1, 2, 5, 10, 15 … ms between tries, so the lock often sits free while the waiter sleeps
# (bench/README.md, "sixth pass"). The writer gate queues writers in front of SQLite's lock instead: a thread
# lock for this process's threads, then an flock on "<database>-gate" for the other processes on the file.
# A writer passes it just before the statement that starts its transaction (the first INSERT/UPDATE/DELETE:
# pysqlite begins there) and gives it back once the COMMIT or ROLLBACK has returned. A thread waiting for the
# thread lock is woken at the release; a process waiting for the flock tries again after 0.2 ms, then at
# most every 1 ms. A writer that waited longer than the busy timeout goes on without the gate and meets
# SQLite's own lock, as do writers that do not use it (the sqlite3 shell, say): the gate orders writers,
# SQLite's lock still guards the file.

_WRITE_KEYWORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_BUSY_TIMEOUT_S = 10.0  # as PRAGMA busy_timeout below
_FLOCK_RETRY_S = 0.0002  # the first retry; then 1.5× longer each time, up to
_FLOCK_RETRY_MAX_S = 0.001


class WriterGate:
    """The writer gate of one SQLite database file in this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None  # the lock file, opened at the first write; -1 if it cannot be
        self.waits = 0  # times a writer found the gate taken (for tests and the bench)

    def acquire(self) -> bool:
        """True once this writer holds the gate; False after the busy timeout (then it goes on without)."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        if not self._lock.acquire(blocking=False):
            self.waits += 1
            if not self._lock.acquire(timeout=_BUSY_TIMEOUT_S):
                return False
        if self._lock_file() < 0 or self._try_flock():
            return True
        self.waits += 1
        pause = _FLOCK_RETRY_S
        while time.monotonic() < deadline:
            time.sleep(pause)
            if self._try_flock():
                return True
            pause = min(pause * 1.5, _FLOCK_RETRY_MAX_S)  # a long holder is not polled 5,000 times a second
        self._lock.release()
        return False

    def release(self) -> None:
        try:
            if self._fd is not None and self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def _lock_file(self) -> int:
        if self._fd is None:
            self._fd = -1
            if fcntl is not None:
                try:  # read access is enough for flock, so a file another user created will do
                    self._fd = os.open(self.path + "-gate", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
                except OSError as exc:
                    log.warning("SQLite writer gate: %s-gate cannot be opened (%s); writers of other processes "
                                "wait in SQLite's busy handler", self.path, exc)
        return self._fd

    def _try_flock(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False


_gates: dict[str, WriterGate] = {}
_gates_lock = threading.Lock()


def writer_gate(path: str) -> WriterGate:
    """The gate of one database file, shared by every engine of this process that opens it."""
    key = os.path.realpath(path)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = WriterGate(key)
        return gate


def _forget_gates_in_child() -> None:
    # a forked worker (gunicorn, say) shares the parent's open lock file, and with it the parent's flock
    global _gates_lock
    _gates.clear()
    _gates_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_gates_in_child)


def _is_write(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_WRITE_KEYWORDS)


class _GatedCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        self.connection._enter_gate(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        self.connection._enter_gate(sql)
        return super().executemany(sql, seq_of_parameters)


class GatedConnection(sqlite3.Connection):
    """A pysqlite connection that passes its database's writer gate for each writing transaction."""

    _gate: WriterGate | None = None
    _holding = False

    def cursor(self, factory=_GatedCursor):
        return super().cursor(factory)

    def _enter_gate(self, sql: str) -> None:
        if (self._holding or self._gate is None or self.in_transaction or self.isolation_level is None
                or not _is_write(sql)):
            return  # holding already, not a file, inside a transaction, autocommit (each write alone), a read
        self._holding = self._gate.acquire()

    def _leave_gate(self) -> None:
        if self._holding:
            self._holding = False
            self._gate.release()

    def commit(self):
        try:
            return super().commit()
        finally:
            if not self.in_transaction:
                self._leave_gate()

    def rollback(self):
        try:
            return super().rollback()
        finally:
            self._leave_gate()

    def close(self):
        try:
            return super().close()
        finally:
            self._leave_gate()

    def __del__(self):
        self._leave_gate()


def _gated_connect(dialect, _record, cargs, cparams) -> None:
    database = cargs[0] if cargs else cparams.get("database")
    if not database or database == ":memory:" or str(database).startswith("file:"):
        return
    cparams["factory"] = GatedConnection


def _attach_gate(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, GatedConnection):
        row = dbapi_connection.execute("PRAGMA database_list").fetchone()
        dbapi_connection._gate = writer_gate(row[2]) if row and row[2] else None


def configure_engine(engine: Engine) -> Engine:
    """Apply our connection settings to an engine someone else created (e.g. Flask-SQLAlchemy's)."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "do_connect", _gated_connect)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _attach_gate)
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
    cursors = []
    try:
        if len(writes) == 1 or not _can_pipeline(connection):
            for stmt, params in writes:
                cursors.append(_write(connection, stmt, params))
        else:
            import psycopg

            driver = connection.connection.driver_connection
            try:
                with driver.pipeline():
                    for stmt, params in writes:
                        cursors.append(_write(connection, stmt, params))
            except psycopg.Error as exc:  # raised when the pipeline syncs, outside send's own translation
                raise _driver_error(connection, None, None, exc) from exc
        # in a pipeline the counts arrive at its sync: read them after it
        return [None if cursor is None else _matched(stmt, params, cursor.rowcount)
                for (stmt, params), cursor in zip(writes, cursors)]
    finally:
        for cursor in cursors:
            if cursor is not None:
                cursor.close()


def _write(connection, stmt, params):
    """One of run_writes' writes: the driver cursor that holds its row count (None for no parameter sets)."""
    if params == []:
        return None
    try:
        return _send(connection, stmt, params)[0]
    except _NotSendable:  # a statement send cannot run (a Python-side default, say): SQLAlchemy runs it
        return connection.execute(stmt, params).context.cursor


def _driver_error(connection, sql, args, exc, cursor=None) -> DBAPIError:
    """The driver's error as SQLAlchemy's own execution raises it: its DBAPIError subclass (IntegrityError…),
    and a lost server connection invalidated first, so that the pool opens a new one."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
    if lost:
        connection.invalidate(exc)
    return DBAPIError.instance(sql, args, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost,
                               dialect=dialect)


def _can_pipeline(connection) -> bool:
    """psycopg 3 on a libpq with pipeline mode (14 and newer; psycopg[binary] brings its own)."""
    if connection.dialect.driver != "psycopg":
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()


def _matched(stmt, params, rowcount: int) -> int | None:
    return rowcount if isinstance(params, dict) and (stmt.is_update or stmt.is_delete) else None


# ---------------------------------------------------------------- hot-path statements straight to the driver
#
# SQLAlchemy spends 40-100 µs of Python on each statement it executes (execution context, parameter processing,
# result set-up), against 10-20 µs for the driver itself; a case command sends about ten (bench/README.md,
# "seventh pass"). `send` runs a prebuilt Core statement that needs none of that work: SQLAlchemy compiles it
# once per dialect and set of parameter names, and each call converts the parameters with the column types'
# own bind processors and hands the SQL to the cursor of the session's connection, inside its transaction.
# Statements that need more (Python-side defaults, expanding IN lists) are refused when they are first
# compiled; run them through the session.

class _NotSendable(ValueError):
    """A statement send cannot run without SQLAlchemy's execution (the message says what it needs)."""


class _Compiled:
    __slots__ = ("sql", "names", "keys", "fixed", "positional", "row", "converters")

    def __init__(self, statement, dialect, keys: tuple, many: bool) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None, for_executemany=many)
        computed = [c.key for name in ("insert_prefetch", "update_prefetch")
                    for c in getattr(compiled, name, None) or ()]
        if computed:
            raise _NotSendable(f"send: {statement} needs Python-side defaults "
                               f"({', '.join(computed)}); run it through the session")
        if any(bind.expanding for bind in compiled.binds.values()):
            raise _NotSendable(f"send: {statement} has an expanding IN list; run it through the session")
        processors = compiled._bind_processors
        self.sql = compiled.string
        self.positional = compiled.positiontup is not None
        names = compiled.positiontup if self.positional else list(dict.fromkeys(compiled.bind_names.values()))
        self.names = [(name, processors.get(name)) for name in names]
        self.keys = tuple(names)  # a named paramstyle's dict keys (psycopg)
        self.fixed = {name: bind.effective_value for bind, name in compiled.bind_names.items() if not bind.required}
        # Returned rows: a named tuple per statement, with each column converted as SQLAlchemy's result would
        # (SQLite's text datetimes, say). The driver's type code is not consulted: none of our types needs it.
        columns = compiled._result_columns
        self.row = None
        self.converters = None
        if columns:
            keynames = [entry[0] for entry in columns]
            if len(set(keynames)) != len(keynames) or any(not k.isidentifier() or k.startswith("_") for k in keynames):
                raise _NotSendable(f"send: {statement} returns columns without distinct names; label them")
            self.row = namedtuple("Row", keynames)
            converters = [entry[3]._cached_result_processor(dialect, None) for entry in columns]
            self.converters = converters if any(converters) else None

    def rows(self, fetched: list) -> list:
        make = self.row._make
        if self.converters is None:
            return [make(row) for row in fetched]
        return [make([value if convert is None else convert(value) for convert, value in zip(self.converters, row)])
                for row in fetched]

    def args(self, params: dict):
        if self.fixed:
            params = {**self.fixed, **params}
        try:
            values = [params[name] if proc is None else proc(params[name]) for name, proc in self.names]
        except KeyError as exc:
            raise ValueError(f"send: a value is required for bind parameter {exc.args[0]!r} of {self.sql!r}") from None
        return tuple(values) if self.positional else dict(zip(self.keys, values))


# (id, dialect, insert's keys, executemany) -> (the statement, which keeps its id taken; _Compiled or the reason)
_compiled: dict[tuple, tuple] = {}
_COMPILED_MAX = 1000  # statements are module constants; a caller building them per call would grow this


def _compiled_for(statement, dialect, params: dict, many: bool) -> _Compiled:
    """The statement compiled for send; raises _NotSendable (cached too) if send cannot run it."""
    keys = tuple(params) if statement.is_insert else ()
    key = (id(statement), dialect.name, keys, many)
    found = _compiled.get(key)
    if found is None or found[0] is not statement:
        if len(_compiled) >= _COMPILED_MAX:
            _compiled.clear()
        try:
            found = (statement, _Compiled(statement, dialect, keys, many))
        except _NotSendable as exc:
            found = (statement, exc)
        _compiled[key] = found
    if isinstance(found[1], _NotSendable):
        raise found[1]
    return found[1]


def send(connection, statement, params: dict | list[dict]):
    """Execute a prebuilt Core statement on `connection` (a SQLAlchemy Connection in a transaction) straight
    through its driver cursor. Returns the rows it returns (named tuples, converted by the column types) if it
    has RETURNING or is a SELECT, else its row count. Errors are SQLAlchemy's (IntegrityError…), as if the
    connection had executed it; the connection's before/after_cursor_execute listeners see it with a None
    context."""
    cursor, compiled = _send(connection, statement, params)
    try:
        return compiled.rows(cursor.fetchall()) if compiled.row is not None else cursor.rowcount
    finally:
        cursor.close()


def _send(connection, statement, params: dict | list[dict]):
    """send's work up to the execute: (the open cursor, the compiled statement). In a psycopg pipeline the
    cursor's results arrive only when the pipeline syncs."""
    many = isinstance(params, list)
    if many and not params:
        raise ValueError("send: an empty list of parameter sets")
    dialect = connection.dialect
    compiled = _compiled_for(statement, dialect, params[0] if many else params, many)
    args = [compiled.args(p) for p in params] if many else compiled.args(params)
    sql = compiled.sql
    cursor = connection.connection.driver_connection.cursor()
    try:
        events = connection._has_events or connection.engine._has_events
        if events:
            for listener in connection.dispatch.before_cursor_execute:
                sql, args = listener(connection, cursor, sql, args, None, many)
        if connection._echo:
            connection._log_info("%s", sql)
            connection._log_info("[send] %r", args)
        try:
            if many:
                cursor.executemany(sql, args)
            else:
                cursor.execute(sql, args)
        except dialect.loaded_dbapi.Error as exc:
            raise _driver_error(connection, sql, args, exc, cursor) from exc
        if events:
            for listener in connection.dispatch.after_cursor_execute:
                listener(connection, cursor, sql, args, None, many)
    except BaseException:
        cursor.close()
        raise
    return cursor, compiled
