"""The case history's hash chain: every event row chained to the one before it (the tail kept on the case row).

Written by the case commands (casework, the ladder, claims, incidents), verified by services/history.py.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.models import GENESIS_HASH, CaseEventModel, CaseModel

GENESIS = GENESIS_HASH
CASES, EVENTS = CaseModel.__table__, CaseEventModel.__table__
# inline(): no implicit RETURNING of the new id, which a buffered write could not read (fastpath.run_writes)
INSERT_EVENTS = insert(EVENTS).inline()
_SET_EVENT_TAIL = update(CASES).where(CASES.c.id == bindparam("case_id")).values(
    event_seq=bindparam("tail_seq"), event_hash=bindparam("tail_hash"), event_at=bindparam("tail_at"))


def _event_hash(prev_hash: str, seq: int, at: datetime, actor: str | None, type_: str, task_id: str | None,
                task_name: str | None, payload: dict) -> str:
    body = json.dumps({"seq": seq, "at": at.astimezone(timezone.utc).isoformat(), "actor": actor, "type": type_,
                       "task_id": task_id, "task_name": task_name, "payload": payload},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append_event(session: Session, case: CaseModel, type_: str, actor: str | None, at: datetime,
                 payload: dict | None = None, task_id: str | None = None, task_name: str | None = None,
                 batch: list[dict] | None = None) -> dict:
    """Add a history row chained to the case's previous one (the tail kept on the case row).

    Inserted at once, or appended to `batch` for the caller to insert with the rest of its command."""
    payload = json.loads(json.dumps(payload or {}, default=str, ensure_ascii=False))
    seq, prev = case.event_seq + 1, case.event_hash
    at = at.astimezone(timezone.utc)
    row = {"case_id": case.id, "seq": seq, "at": at, "actor": actor, "type": type_, "task_id": task_id,
           "task_name": task_name, "payload": payload, "prev_hash": prev,
           "hash": _event_hash(prev, seq, at, actor, type_, task_id, task_name, payload)}
    if batch is None:
        # Outside the save of a case command (claim, unclaim, an escalation): the case itself did not
        # change, so the tail moves without a new lock_version (a form loaded before a claim stays valid).
        session.execute(INSERT_EVENTS, [row])
        session.execute(_SET_EVENT_TAIL, {"case_id": case.id, "tail_seq": seq, "tail_hash": row["hash"], "tail_at": at})
        for key, value in (("event_seq", seq), ("event_hash", row["hash"]), ("event_at", at)):
            set_committed_value(case, key, value)
    else:
        case.event_seq, case.event_hash, case.event_at = seq, row["hash"], at
        batch.append(row)
    return row


def event_hash_of(row: CaseEventModel) -> str:
    return _event_hash(row.prev_hash, row.seq, row.at, row.actor, row.type, row.task_id, row.task_name, row.payload)
