"""The case row's store: lock a case (FOR UPDATE / the SQLite write lock), attach rows read with db.send as
ORM objects, insert a case, and write its versioned UPDATE without the unit of work.

SQLAlchemy's private attributes stay in engine/fastpath.py (bench/README.md, "What the profile led to").
"""
from __future__ import annotations

from sqlalchemy import bindparam, insert, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine import fastpath
from engine.fastpath import attach_loaded, send  # noqa: F401 (attach_loaded: public here)
from engine.errors import NotFound
from engine.messages import msg
from engine.models import CaseModel, OrgUnitModel, TaskModel, TimerModel

CASES, TASKS = CaseModel.__table__, TaskModel.__table__

# The case row with its org unit (the relationship the commands use), read with send and made into the ORM
# objects by _case_of: the ORM's own load of one case cost ~0.3 ms a command, the row ~0.02 ms.
ORGS = OrgUnitModel.__table__
_ORG_KEYS = [c.key for c in ORGS.c]
_CASE_ROW = (select(*CASES.c, *(c.label(f"org_{c.key}") for c in ORGS.c))
             .join(ORGS, ORGS.c.id == CASES.c.org_unit_id))
_CASE_BY_ID = _CASE_ROW.where(CASES.c.id == bindparam("case_id"))
_CASE_BY_ID_FOR_UPDATE = _CASE_BY_ID.with_for_update(of=CASES)
_TAKE_WRITE_LOCK = (update(CASES).where(CASES.c.id == bindparam("case_id"))
                    .values(lock_version=CASES.c.lock_version))


def _lock_through(owner, key: str) -> tuple:
    """The SQLite write lock and the PostgreSQL FOR UPDATE read of the case that owns a row of `owner`."""
    case_id = select(owner.c.case_id).where(owner.c.id == bindparam(key)).scalar_subquery()
    return ((update(CASES).where(CASES.c.id == case_id).values(lock_version=CASES.c.lock_version)
             .returning(CASES.c.id)),
            _CASE_ROW.where(CASES.c.id == case_id).with_for_update(of=CASES))


# The same, finding the case through one of its task or timer rows (a task command or a firing timer knows
# only that row's id), in one statement fewer.
_LOCK_THROUGH = {"task_id": _lock_through(TASKS, "task_id"), "timer_id": _lock_through(TimerModel.__table__, "timer_id")}


def lock_case(session: Session, case_id: int) -> CaseModel:
    """Load a case row with its workflow, locked FOR UPDATE on PostgreSQL (SQLite has a single writer)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = send(connection, _CASE_BY_ID_FOR_UPDATE, {"case_id": case_id})
    else:
        # SQLite: take the write lock now (a no-op UPDATE), so a concurrent command waits here and then
        # reads the state the other one committed, instead of failing later on a stale snapshot.
        send(connection, _TAKE_WRITE_LOCK, {"case_id": case_id})
        rows = send(connection, _CASE_BY_ID, {"case_id": case_id})
    if not rows:
        raise NotFound(msg("case.not_found", case_id=case_id))
    return _case_of(session, rows[0])


def lock_case_of_task(session: Session, task_id: str) -> CaseModel | None:
    """lock_case for the case a task row belongs to; None when there is no such task row.

    The caller must read the task again under the lock: it may have been completed meanwhile."""
    return _lock_case_through(session, "task_id", task_id)


def lock_case_of_timer(session: Session, timer_id: int) -> CaseModel | None:
    """lock_case for the case a timer row belongs to; None when there is no such timer row.

    The caller must read the timer again under the lock: another drain may have fired it meanwhile."""
    return _lock_case_through(session, "timer_id", timer_id)


def _lock_case_through(session: Session, key: str, row_id) -> CaseModel | None:
    sqlite_lock, pg_read = _LOCK_THROUGH[key]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = send(connection, pg_read, {key: row_id})
    else:
        locked = send(connection, sqlite_lock, {key: row_id})
        rows = send(connection, _CASE_BY_ID, {"case_id": locked[0].id}) if locked else []
    return _case_of(session, rows[0]) if rows else None


def _case_of(session: Session, row) -> CaseModel:
    """The session's CaseModel (and OrgUnitModel) for a _CASE_ROW row: persistent, clean, every column loaded.

    An object the session holds already takes the row's values, as a load with populate_existing would."""
    values = row._asdict()
    org = attach_loaded(session, OrgUnitModel, {key: values.pop(f"org_{key}") for key in _ORG_KEYS})
    case = attach_loaded(session, CaseModel, values)
    set_committed_value(case, "org_unit", org)
    return case


# Case columns a command may change (the id never, the version is bumped by case_update itself).
_CASE_COLUMNS = frozenset(c.key for c in CASES.c) - {"id", "lock_version"}
_CASE_UPDATES: dict[frozenset, object] = {}  # one prebuilt UPDATE per set of changed columns (a handful)


def _case_update(keys: frozenset):
    stmt = _CASE_UPDATES.get(keys)
    if stmt is None:
        stmt = (update(CASES).where(CASES.c.id == bindparam("v_id"), CASES.c.lock_version == bindparam("v_lock"))
                .values(lock_version=bindparam("v_next_lock"), **{k: bindparam(f"v_{k}") for k in sorted(keys)}))
        _CASE_UPDATES[keys] = stmt
    return stmt


def case_update(case: CaseModel) -> tuple | None:
    """The versioned UPDATE of the case row's changed columns, as (statement, parameters); None if unchanged.

    The same statement the unit of work would send, without it: flushing this one object cost ~0.25 ms a
    command against ~0.03 ms for the statement (bench/README.md, "What the profile led to")."""
    state = inspect(case)
    keys = frozenset(k for k in state.committed_state if k in _CASE_COLUMNS)
    if not keys:
        return None
    params = {f"v_{k}": getattr(case, k) for k in keys}
    params.update(v_id=case.id, v_lock=case.lock_version, v_next_lock=case.lock_version + 1)
    return _case_update(keys), params


def check_and_mark_written(session: Session, case: CaseModel, params: dict, count: int) -> None:
    """After case_update's statement ran: a stale lock_version (no row matched) raises StaleDataError, as a
    flush would (the callers turn it into a Conflict); else the object's columns are marked saved."""
    if count != 1:
        raise StaleDataError(f"case {case.id}: lock_version {case.lock_version} is stale")
    state = inspect(case)
    keys = [k[2:] for k in params if k[2:] in _CASE_COLUMNS]  # the changed columns (not v_id, v_lock…)
    for key in keys:
        set_committed_value(case, key, params[f"v_{key}"])
    set_committed_value(case, "lock_version", params["v_next_lock"])
    if "org_unit_id" in keys:
        set_committed_value(case, "org_unit", case.org_unit)
    if not state.committed_state:  # nothing left unwritten (tests/unit/test_case_writes.py checks it)
        fastpath.mark_clean(session, case)


_INSERT_CASE = insert(CASES).returning(CASES.c.id)


def insert_case(session: Session, values: dict, org_unit: OrgUnitModel) -> CaseModel:
    """INSERT a new case row (`values`: every column but the id) and return it as a persistent, clean object.

    No defaults are read back: every column must be given, or the object would load it lazily."""
    missing = {c.key for c in CASES.c} - {"id"} - set(values)
    if missing:
        raise ValueError(f"insert_case: no value for {', '.join(sorted(missing))}")
    [(case_id,)] = send(session.connection(), _INSERT_CASE, values)
    case = attach_loaded(session, CaseModel, {"id": case_id, **values})
    set_committed_value(case, "org_unit", org_unit)
    return case
