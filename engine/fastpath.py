"""The hot path's shortcuts past SQLAlchemy's per-statement work — and the one module that touches SQLAlchemy's
private attributes (tests/unit/test_fastpath_private.py checks each one still exists and behaves, and that no
other module uses any).

* `send`: a prebuilt Core statement straight to the driver cursor (compiled once per dialect);
* `run_writes`: a command's buffered writes, in one psycopg pipeline on PostgreSQL;
* `attach_loaded` / `mark_clean`: ORM objects made from rows read with `send`, and marked saved after a write
  sent without the unit of work (bench/README.md, "What the profile led to").

SQLAlchemy < 2.1 is pinned (pyproject.toml) because of these.
"""
from __future__ import annotations

import logging
from collections import namedtuple

import psycopg  # a dependency of the package (pyproject.toml): the PostgreSQL driver and its pipeline
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.util import identity_key

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------- ORM objects from rows, and marked saved

def attach_loaded(session: Session, model, values: dict):
    """The session's object of `model` for a row's values (every column): persistent and clean, as if the ORM
    had loaded it; an object the session holds already takes the values."""
    held = session.identity_map.get(identity_key(model, values["id"]))
    if held is not None:
        for key, value in values.items():
            set_committed_value(held, key, value)
        return held
    # As the ORM's loader does: a bare instance whose attributes are filled in without events (the
    # constructor's attribute events took ~0.1 ms a case), then given its identity and added as persistent.
    obj = model._sa_class_manager.new_instance()
    instance_state(obj).dict.update(values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def mark_clean(session: Session, obj) -> None:
    """After its columns were written without the unit of work and set with set_committed_value: clear the
    object's "modified" flag as a flush does (set_committed_value leaves it set, and the next flush would walk
    the unit of work for nothing)."""
    state = instance_state(obj)
    if not state.committed_state:
        state._commit_all(state.dict, session.identity_map)
