"""Reading the admin log: its acts filtered and paged, all of them for an export, and a verify of its chain.

Administrators and auditors read it; nobody writes it here (each administrative command appends its own row
through engine/admin_log.py, in its own transaction)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import admin_log
from engine.actors import Actor
from engine.errors import Forbidden, InvalidData
from engine.messages import msg
from engine.models import GENESIS_HASH, AdminEventModel, AdminLogHeadModel

log = logging.getLogger(__name__)

MAX_PER_PAGE = 200
EXPORT_LIMIT = 50_000


@dataclass(frozen=True)
class AdminLogFilter:
    actor: str | None = None  # who acted (login)
    action: str | None = None  # user_created, user_disabled, …
    target: str | None = None  # on whom or what (a login, …)
    since: datetime | None = None  # from this moment on
    until: datetime | None = None  # before this moment


@dataclass(frozen=True)
class AdminLogPage:
    items: list[AdminEventModel]
    total: int
    page: int
    per_page: int


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    broken_at: int | None  # the seq of the first row that does not chain (missing, altered, reordered)


def _may_read(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_auditor or actor.is_system):
        raise Forbidden(msg("admin.read_forbidden"))


def _filtered(flt: AdminLogFilter):
    query = select(AdminEventModel)
    if flt.actor:
        query = query.where(AdminEventModel.actor == flt.actor)
    if flt.action:
        query = query.where(AdminEventModel.action == flt.action)
    if flt.target:
        query = query.where(AdminEventModel.target == flt.target)
    if flt.since:
        query = query.where(AdminEventModel.at >= flt.since)
    if flt.until:
        query = query.where(AdminEventModel.at < flt.until)
    if flt.since and flt.until and flt.since >= flt.until:
        raise InvalidData(msg("admin.period_invalid"), {"until": [msg("field.after_since")]})
    return query


def list_admin_events(session: Session, actor: Actor, flt: AdminLogFilter = AdminLogFilter(), page: int = 1,
                      per_page: int = 50) -> AdminLogPage:
    """A page of the admin log, newest first. Read-only. Raises Forbidden (neither administrator nor auditor),
    InvalidData (a page below 1, a page size out of 1..200, a period that ends before it starts)."""
    _may_read(actor)
    if page < 1:
        raise InvalidData(msg("form.invalid"), {"page": [msg("field.at_least", min=1)]})
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidData(msg("form.invalid"), {"per_page": [msg("field.between", min=1, max=MAX_PER_PAGE)]})
    query = _filtered(flt)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = list(session.scalars(query.order_by(AdminEventModel.seq.desc())
                                 .offset((page - 1) * per_page).limit(per_page)))
    return AdminLogPage(items, total, page, per_page)


def export_admin_events(session: Session, actor: Actor, flt: AdminLogFilter = AdminLogFilter()) -> list[AdminEventModel]:
    """Every act the filter selects (at most 50,000), oldest first, for a CSV. Read-only. Raises Forbidden,
    InvalidData (the period)."""
    _may_read(actor)
    return list(session.scalars(_filtered(flt).order_by(AdminEventModel.seq).limit(EXPORT_LIMIT)))


def verify_admin_log(session: Session, actor: Actor) -> ChainCheck:
    """Walk the whole chain: each row's seq follows the one before, its prev_hash is that row's hash and its hash is
    its own content's; then the chain must end where the head row (admin_log_head, written with every append)
    says it does — deleting the last rows leaves a chain that holds together but ends early. Read-only.
    Raises Forbidden."""
    _may_read(actor)
    prev, expected, checked = GENESIS_HASH, 1, 0
    # In batches (a server-side cursor on PostgreSQL), closed on the early return too.
    with session.scalars(select(AdminEventModel).order_by(AdminEventModel.seq)
                         .execution_options(yield_per=500)) as rows:
        for row in rows:
            if row.seq != expected or row.prev_hash != prev or admin_log.hash_of(row) != row.hash:
                log.warning("admin log chain broken at seq %s", row.seq)
                return ChainCheck(False, checked, row.seq if row.seq == expected else expected)
            prev, expected, checked = row.hash, expected + 1, checked + 1
    head = session.get(AdminLogHeadModel, admin_log.HEAD_ID)
    last = expected - 1
    if head is None and checked == 0:
        return ChainCheck(True, 0, None)
    if head is None or head.seq != last or head.hash != prev:
        # rows after the last one removed (the first missing), rows added without a head (the first of them), or
        # the last row replaced by one chained anew (it)
        broken = 1 if head is None else (head.seq + 1 if head.seq < last else min(head.seq, last + 1))
        log.warning("admin log ends at seq %s, its head says %s", last, None if head is None else head.seq)
        return ChainCheck(False, min(checked, broken - 1), broken)
    return ChainCheck(True, checked, None)
