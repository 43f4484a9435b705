"""SQLite: one writer at a time, woken at once (the writer gate), and the connection hooks that install it."""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

try:
    import fcntl
except ImportError:  # not POSIX: the writer gate orders this process's threads only
    fcntl = None

log = logging.getLogger(__name__)

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


def gated_connect(dialect, _record, cargs, cparams) -> None:
    """do_connect hook: a file database's connections are GatedConnection."""
    database = cargs[0] if cargs else cparams.get("database")
    if not database or database == ":memory:" or str(database).startswith("file:"):
        return
    cparams["factory"] = GatedConnection


def attach_gate(dbapi_connection, _record) -> None:
    """connect hook: a GatedConnection gets the gate of its database file."""
    if isinstance(dbapi_connection, GatedConnection):
        row = dbapi_connection.execute("PRAGMA database_list").fetchone()
        dbapi_connection._gate = writer_gate(row[2]) if row and row[2] else None
