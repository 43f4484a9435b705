"""The admin log's hash chain: every administrative act one row, chained to the row before it over the whole table.

Written by the administrative commands (services/users.py …) in the transaction of the act; read and verified by
services/admin_log.py. Like a case's history (chain.py): hash = sha256(prev_hash + canonical JSON of the row).
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.models import GENESIS_HASH, AdminEventModel, AdminLogHeadModel

# pg_advisory_xact_lock's key for "append to the admin log": appends queue behind it, so two administrators
# acting at once never read the same tail (SQLite has one writer already). Held until the commit.
_APPEND_LOCK = 0x6A6966656E01  # "jifen" + 1
HEAD_ID = 1  # the one row of admin_log_head


def _row_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, target_type: str, target: str,
              old: dict | None, new: dict | None) -> str:
    body = json.dumps({"seq": seq, "at": at.astimezone(UTC).isoformat(), "actor": actor, "action": action,
                       "target_type": target_type, "target": target, "old": old, "new": new},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _plain(value: dict | None) -> dict | None:
    """The JSON the row will hold (dates as strings), so the hash is computed over what is stored."""
    return None if value is None else json.loads(json.dumps(value, default=str, ensure_ascii=False))


def serialise(session: Session) -> None:
    """Take the admin log's append lock now, held until the commit: an administrative command that reads before
    it writes (moving an org unit: is the new parent below it? the next settings version) sees what the one
    before it committed, so two administrators acting at once cannot interleave. PostgreSQL: an advisory lock.
    SQLite: the database's write lock, taken by a write that changes nothing (pysqlite begins its transaction
    at the first write, and reads before it would see a snapshot another writer may since have moved past;
    the writer gate queues it like any other writer). Flushes nothing."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})
    elif dialect == "sqlite":
        session.execute(text("UPDATE admin_events SET seq = seq WHERE 0 = 1"))


def append(session: Session, actor: str, at: datetime, action: str, target_type: str, target: str,
           old: dict | None = None, new: dict | None = None) -> AdminEventModel:
    """Add one act to the admin log, chained to the last row. Flushes only: the caller's commit writes the act
    and its record together."""
    serialise(session)
    tail = session.execute(select(AdminEventModel.seq, AdminEventModel.hash)
                           .order_by(AdminEventModel.seq.desc()).limit(1)).first()
    seq, prev = (tail.seq + 1, tail.hash) if tail else (1, GENESIS_HASH)
    at = at.astimezone(UTC)
    old, new = _plain(old), _plain(new)
    row = AdminEventModel(seq=seq, at=at, actor=actor, action=action, target_type=target_type, target=target,
                          old=old, new=new, prev_hash=prev,
                          hash=_row_hash(prev, seq, at, actor, action, target_type, target, old, new))
    session.add(row)
    head = session.get(AdminLogHeadModel, HEAD_ID)
    if head is None:
        session.add(AdminLogHeadModel(id=HEAD_ID, seq=seq, hash=row.hash))
    else:
        head.seq, head.hash = seq, row.hash
    session.flush()
    return row


def hash_of(row: AdminEventModel) -> str:
    return _row_hash(row.prev_hash, row.seq, row.at, row.actor, row.action, row.target_type, row.target,
                     row.old, row.new)
