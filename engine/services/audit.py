"""The auditor's workspace: the history records of every case searched across the system (kind, who, period,
case), and the read log (查阅留痕: who viewed or exported which case when), paged or exported.

Auditors and administrators only; an administrator's event search leaves out what they may not read (the
confidential processes, engine/access.py). Read-only: no commit."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from engine import access, case_list
from engine.actors import Actor
from engine.case_codes import valid_code
from engine.errors import Forbidden, InvalidData
from engine.messages import msg
from engine.models import AccessLogModel, CaseEventModel, CaseModel, UserModel

log = logging.getLogger(__name__)

MAX_PER_PAGE = 200
COUNT_CAP = 10_000  # counted exactly up to here, then "10000+"
EXPORT_CHUNK = 500
READ_KINDS = ("case", "events", "verify", "audit", "diagram", "receipt", "task", "document", "documents",
              "attachments", "dossier")


@dataclass(frozen=True)
class EventFilter:
    kind: str | None = None  # an event type: task_completed, attachment_added, …
    actor: str | None = None  # who acted: a login or a display name
    case: str | None = None  # a case code, whole or in part (spaces, hyphens, full-width digits tolerated)
    since: datetime | None = None  # from this moment on
    until: datetime | None = None  # before this moment


@dataclass(frozen=True)
class AccessFilter:
    user: str | None = None  # who read: a login or a display name
    case: str | None = None  # a case code, whole or in part
    what: str | None = None  # what they read (READ_KINDS)
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class EventRow:
    event: CaseEventModel
    case_code: str


@dataclass(frozen=True)
class AccessRow:
    entry: AccessLogModel
    case_code: str | None  # None when the case row is gone (the record outlives it)


@dataclass(frozen=True)
class Page:
    items: list
    total: int  # exact when more is False, else COUNT_CAP
    more: bool
    page: int
    per_page: int


def _may_audit(actor: Actor) -> None:
    if not (actor.is_auditor or actor.is_admin or actor.is_system):
        raise Forbidden(msg("audit.search_forbidden"))


def _bounds(page: int, per_page: int) -> None:
    if page < 1:
        raise InvalidData(msg("form.invalid"), {"page": [msg("field.at_least", min=1)]})
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidData(msg("form.invalid"), {"per_page": [msg("field.between", min=1, max=MAX_PER_PAGE)]})


def _period(column, since: datetime | None, until: datetime | None) -> list:
    if since and until and since >= until:
        raise InvalidData(msg("admin.period_invalid"), {"until": [msg("field.after_since")]})
    return ([column >= since] if since else []) + ([column < until] if until else [])


def _people(column, text: str):
    """A login, or a display name (whole): the rows of whoever it names."""
    text = text.strip()
    return or_(column == text, column.in_(select(UserModel.username).where(UserModel.display_name == text)))


def _case_code(column, text: str):
    code = case_list.normalise_query(text)
    if not code:
        raise InvalidData(msg("form.invalid"), {"case": [msg("audit.case_code_empty")]})
    if valid_code(code):
        return column == code
    escaped = code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{escaped}%", escape="\\")


def _events(session: Session, actor: Actor, flt: EventFilter) -> Select:
    E, K = CaseEventModel, CaseModel
    stmt = select(E, K.code).join(K, K.id == E.case_id)
    visible = access.readable_cases_condition(session, actor)
    if visible is not None:
        stmt = stmt.where(visible)
    if flt.kind:
        stmt = stmt.where(E.type == flt.kind)
    if flt.actor and flt.actor.strip():
        stmt = stmt.where(_people(E.actor, flt.actor))
    if flt.case and flt.case.strip():
        stmt = stmt.where(_case_code(K.code, flt.case))
    return stmt.where(*_period(E.at, flt.since, flt.until))


def _page(session: Session, stmt: Select, order, page: int, per_page: int, row) -> Page:
    rows = session.execute(stmt.order_by(*order).offset((page - 1) * per_page).limit(per_page)).all()
    if len(rows) < per_page and (rows or page == 1):
        counted = (page - 1) * per_page + len(rows)  # a page that is not full ends the list: no count needed
    else:
        counted = session.scalar(select(func.count()).select_from(
            stmt.order_by(None).limit(COUNT_CAP + 1).subquery())) or 0
    return Page([row(*r) for r in rows], min(counted, COUNT_CAP), counted > COUNT_CAP, page, per_page)


def search_events(session: Session, actor: Actor, flt: EventFilter = EventFilter(), page: int = 1,
                  per_page: int = 50) -> Page:
    """A page of the history records of every case the actor may read that match the filter, the latest recorded
    first (by row id: the order they were written, on the primary key's index; EventRow items). Raises Forbidden (neither auditor nor administrator), InvalidData (page, page size, a
    period that ends before it starts, an empty case code)."""
    _may_audit(actor)
    _bounds(page, per_page)
    stmt = _events(session, actor, flt)
    return _page(session, stmt, (CaseEventModel.id.desc(),), page, per_page, EventRow)


def export_events(session: Session, actor: Actor, flt: EventFilter = EventFilter()) -> Iterator[EventRow]:
    """Every matching record, oldest first, read EXPORT_CHUNK at a time (a streamed cursor). Raises Forbidden,
    InvalidData before the first row."""
    _may_audit(actor)
    stmt = _events(session, actor, flt).order_by(CaseEventModel.id)

    def rows() -> Iterator[EventRow]:
        result = session.execute(stmt.execution_options(yield_per=EXPORT_CHUNK))
        for chunk in result.partitions(EXPORT_CHUNK):
            yield from (EventRow(event, code) for event, code in chunk)
            session.expunge_all()
    return rows()


def _reads(flt: AccessFilter) -> Select:
    A, K = AccessLogModel, CaseModel
    stmt = select(A, K.code).outerjoin(K, K.id == A.case_id)
    if flt.user and flt.user.strip():
        stmt = stmt.where(_people(A.username, flt.user))
    if flt.case and flt.case.strip():
        stmt = stmt.where(_case_code(K.code, flt.case))
    if flt.what:
        if flt.what not in READ_KINDS:
            raise InvalidData(msg("form.invalid"), {"what": [", ".join(READ_KINDS)]})
        stmt = stmt.where(A.what == flt.what)
    return stmt.where(*_period(A.at, flt.since, flt.until))


def list_reads(session: Session, actor: Actor, flt: AccessFilter = AccessFilter(), page: int = 1,
               per_page: int = 50) -> Page:
    """A page of the read log (查阅留痕), newest first (AccessRow items). Raises Forbidden, InvalidData."""
    _may_audit(actor)
    _bounds(page, per_page)
    return _page(session, _reads(flt), (AccessLogModel.id.desc(),), page, per_page, AccessRow)


def export_reads(session: Session, actor: Actor, flt: AccessFilter = AccessFilter()) -> Iterator[AccessRow]:
    """Every matching read, oldest first, streamed. Raises Forbidden, InvalidData before the first row."""
    _may_audit(actor)
    stmt = _reads(flt).order_by(AccessLogModel.id)

    def rows() -> Iterator[AccessRow]:
        result = session.execute(stmt.execution_options(yield_per=EXPORT_CHUNK))
        for chunk in result.partitions(EXPORT_CHUNK):
            yield from (AccessRow(entry, code) for entry, code in chunk)
            session.expunge_all()
    return rows()
