"""db: SQLite's writer gate — this process's writers queue on a lock that wakes the next one at the commit."""
import sqlite3
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from engine.db import make_engine
from engine.sqlite_gate import GatedConnection, writer_gate


@pytest.fixture
def file_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield engine
    engine.dispose()


def _gate(engine):
    return writer_gate(engine.url.database)


def _write_in_a_thread(engine, value: str) -> tuple[threading.Thread, threading.Event]:
    """Start a thread that writes one row in a transaction of its own; the event is set once it committed."""
    done = threading.Event()

    def write():
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
        done.set()

    worker = threading.Thread(target=write)
    worker.start()
    return worker, done


def test_a_writing_transaction_holds_the_gate_until_its_commit(file_engine):
    gate = _gate(file_engine)
    with file_engine.connect() as conn:
        assert isinstance(conn.connection.driver_connection, GatedConnection)
        conn.execute(text("SELECT count(*) FROM t")).scalar()
        assert not gate._lock.locked()  # reads do not take it
        conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert gate._lock.locked()
        conn.execute(text("UPDATE t SET v = 'b'"))  # the same transaction: held once
        conn.commit()
        assert not gate._lock.locked()


@pytest.mark.parametrize("end", ["rollback", "failed statement", "close without commit"])
def test_the_gate_is_given_back_however_the_transaction_ends(file_engine, end):
    gate = _gate(file_engine)
    conn = file_engine.connect()
    conn.execute(text("INSERT INTO t (id, v) VALUES (1, 'a')"))
    assert gate._lock.locked()
    if end == "rollback":
        conn.rollback()
    elif end == "failed statement":
        with pytest.raises(IntegrityError):
            conn.execute(text("INSERT INTO t (id, v) VALUES (1, 'again')"))
        conn.rollback()
    conn.close()  # back to the pool, which rolls back what is left
    assert not gate._lock.locked()
    with file_engine.begin() as other:  # and the next writer gets through
        other.execute(text("INSERT INTO t (v) VALUES ('next')"))


def test_a_second_writer_waits_at_the_gate_and_goes_on_after_the_commit(file_engine):
    gate = _gate(file_engine)
    waits_before = gate.waits
    order = []
    first_wrote, second_started = threading.Event(), threading.Event()

    def second():
        second_started.set()
        with file_engine.begin() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES ('second')"))
            order.append("second wrote")

    with file_engine.connect() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
        first_wrote.set()
        worker = threading.Thread(target=second)
        worker.start()
        second_started.wait()
        worker.join(timeout=0.3)
        assert worker.is_alive()  # still waiting: the first transaction holds the gate
        order.append("first commits")
        conn.commit()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert order == ["first commits", "second wrote"]
    assert gate.waits == waits_before + 1
    with file_engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM t ORDER BY id")).scalars().all() == ["first", "second"]


def test_every_engine_on_one_file_shares_its_gate(file_engine, tmp_path):
    other = make_engine(f"sqlite:///{tmp_path / 'gate.sqlite3'}")
    elsewhere = make_engine(f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}")
    try:
        assert _gate(other) is _gate(file_engine)
        assert _gate(elsewhere) is not _gate(file_engine)
    finally:
        other.dispose()
        elsewhere.dispose()


def test_memory_databases_and_autocommit_writes_are_not_gated(file_engine):
    memory = make_engine("sqlite://")
    try:
        with memory.connect() as conn:
            assert not isinstance(conn.connection.driver_connection, GatedConnection)
    finally:
        memory.dispose()
    gate = _gate(file_engine)
    with file_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('alone')"))  # committed by itself, nothing to hold
        assert not gate._lock.locked()


def test_many_threads_writing_at_once_lose_nothing(file_engine):
    errors = []

    def write(n):
        try:
            for i in range(25):
                with file_engine.begin() as conn:
                    count = conn.execute(text("SELECT count(*) FROM t")).scalar()
                    conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"{n}-{i}-{count}"})
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with file_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 150
    assert not _gate(file_engine)._lock.locked()


def test_a_plain_sqlite3_writer_still_meets_sqlites_own_lock(file_engine):
    """Another process (here: a connection outside the gate) still waits in SQLite's busy handler."""
    path = file_engine.url.database
    outsider = sqlite3.connect(path, timeout=5)
    outsider.execute("BEGIN IMMEDIATE")
    outsider.execute("INSERT INTO t (v) VALUES ('outside')")
    worker, done = _write_in_a_thread(file_engine, "inside")
    assert not done.wait(0.3)  # blocked by SQLite's lock, past the free gate
    outsider.commit()
    outsider.close()
    worker.join(timeout=10)
    assert done.is_set()
    with file_engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM t ORDER BY id")).scalars().all() == ["outside", "inside"]


def test_a_writer_in_another_process_waits_at_the_gate(file_engine):
    """The other process holds the gate (its flock) through a slow transaction; this one's write waits for it."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    with subprocess.Popen([sys.executable, "-c", f"""
import sys
from sqlalchemy import text
from engine.db import make_engine
engine = make_engine({str(file_engine.url)!r})
with engine.begin() as conn:
    conn.execute(text("INSERT INTO t (v) VALUES ('other process')"))
    print("holding", flush=True)
    sys.stdin.readline()
"""], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout.readline().strip() == "holding"
        gate = _gate(file_engine)
        waits_before = gate.waits
        worker, done = _write_in_a_thread(file_engine, "this process")
        assert not done.wait(0.3)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        worker.join(timeout=10)
        assert done.is_set()
        assert gate.waits == waits_before + 1  # it waited at the flock, not in SQLite's busy handler
    with file_engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM t ORDER BY id")).scalars().all() == ["other process", "this process"]
