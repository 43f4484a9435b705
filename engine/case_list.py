"""The case ledger's (台账) query builder: the cases an actor may read (engine/access.py), filtered and sorted.

Below the services (engine/services/ledger.py calls it); read-only. A case's "due" is the earliest due date of
its open tasks and its warning level the highest of theirs (0 for a closed case, which has no open task).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, literal_column, or_, select
from sqlalchemy.orm import Session

from engine import access
from engine.actors import Actor
from engine.case_codes import valid_code
from engine.clock import CHINA_TZ
from engine.errors import InvalidData
from engine.messages import msg
from engine.models import (
    NO_DUE_DATE,
    OUTCOME_CLASSES,
    CaseModel,
    OrgUnitModel,
    TaskModel,
)

K, T = CaseModel.__table__.c, TaskModel.__table__.c
_WALKED = TaskModel.__table__.alias("walked")

SORTS = ("-opened", "opened", "due", "-due", "warning", "code", "-closed")


def _due():
    return (select(func.min(T.due_sort)).where(T.case_id == K.id).correlate(CaseModel.__table__)
            .scalar_subquery())


def _warning():
    return (select(func.coalesce(func.max(T.warning_level), 0)).where(T.case_id == K.id)
            .correlate(CaseModel.__table__).scalar_subquery())


def _order(sort: str) -> list:
    due = func.coalesce(_due(), NO_DUE_DATE)
    return {"-opened": [K.opened_at.desc(), K.id.desc()], "opened": [K.opened_at, K.id],
            "due": [due, K.id], "-due": [due.desc(), K.id], "warning": [_warning().desc(), due, K.id],
            "code": [K.code], "-closed": [K.closed_at.desc(), K.id.desc()]}[sort]


_SPACES = re.compile(r"[\s\u3000-]+")


def normalise_query(q: str | None) -> str:
    """A typed search as the ledger reads it: full-width characters as half-width (NFKC), spaces and hyphens
    out, a trailing x as X (the check character of a case code)."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", q or ""))
    return text[:-1] + "X" if text.endswith("x") else text


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(q: str):
    """q: a whole case code (that case), else a part of the code, the party's name, the phone (any run of its
    digits: the last four, say) or the title."""
    text = normalise_query(q)
    if valid_code(text):
        return K.code == text
    like = f"%{_escape(text)}%"
    phone = func.replace(func.replace(func.coalesce(K.party_phone, ""), " ", ""), "-", "")
    conditions = [K.code.like(like, escape="\\"),
                  K.data["party_name"].as_string().like(like, escape="\\"),
                  K.data["title"].as_string().like(like, escape="\\"),
                  K.data["summary"].as_string().like(like, escape="\\")]
    if text.isdigit() and len(text) >= 4:
        conditions.append(phone.like(like, escape="\\"))
    raw = (q or "").strip()
    if raw and raw != text:  # a name typed with a space in it (欧阳 娜) as written
        conditions.append(K.data["party_name"].as_string().like(f"%{_escape(raw)}%", escape="\\"))
    return or_(*conditions)


def _flagged():
    """群体性 / 高风险: the case's priority, which every command sets from its data as engine/group_cases.flags reads
    it (high_risk true, or people_involved at [group_case] people_involved_at_least then in force). Written as the
    partial indexes' predicate, a literal 0, so SQLite takes ix_cases_flagged (a few percent of the cases) instead of
    reading every case's data: the JSON test it replaces walked the whole table when few cases were flagged."""
    return K.priority > literal_column("0")


def outcome_class_of(value: str) -> str:
    """The OUTCOME_CLASSES id an outcome filter names: the id (resolved) or its Chinese name (化解). Raises
    InvalidData for anything else."""
    if value in OUTCOME_CLASSES:
        return value
    for key, name in OUTCOME_CLASSES.items():
        if name == value:
            return key
    message = msg("ledger.unknown_outcome", outcome=value)
    raise InvalidData(message, {"outcome": [message]})


def day_start(day: date) -> datetime:
    """The first moment of a calendar day in China (the ledger's dates are China's days)."""
    return datetime.combine(day, time.min, CHINA_TZ)


@dataclass
class LedgerFilters:
    q: str | None = None
    process_id: str | None = None
    status: str | None = None  # open | closed
    outcome: str | None = None  # an outcome class (cases.outcome_class): its id (resolved) or its name (化解)
    category: str | None = None
    channel: str | None = None
    tier: str | None = None
    org_unit: str | None = None  # an org unit's code
    include_sub: bool = False
    opened_from: date | None = None
    opened_to: date | None = None
    closed_from: date | None = None
    closed_to: date | None = None
    overdue: bool = False
    high_risk: bool = False
    sort: str = "-opened"


_ANYONE = object()


def build(session: Session, actor: Actor, filters: LedgerFilters, now: datetime, visible=_ANYONE,
          priority: int | None = None):
    """The SELECT of the matching case ids in the sort's order (no paging). `visible`: the actor's read
    condition if the caller built it already (visibility); `priority`: only the 群体性 / 高风险 cases (1) or only
    the others (0) — the ledger lists the first before the second (services/ledger.py), each on its own index.
    Raises InvalidData (unknown sort, unit, status)."""
    if filters.sort not in SORTS:
        raise InvalidData(msg("ledger.unknown_sort", sort=filters.sort), {"sort": [", ".join(SORTS)]})
    return _where(select(K.id), session, actor, filters, now, visible=visible, priority=priority).order_by(
        *_order(filters.sort))


def walks_due_index(filters: LedgerFilters) -> bool:
    """Whether a page of this ledger is read by overdue_page (overdue cases, earliest due first)."""
    return filters.overdue and filters.sort == "due"


# Rows of the walk read per case wanted, at first (at least _WALK_MIN): a case has one or two open tasks.
_WALK_FACTOR, _WALK_MIN = 3, 50


def visibility(session: Session, actor: Actor):
    """The condition on cases the actor may read (access.readable_cases_condition), None for all: built once
    for a page's walk and its count."""
    return access.readable_cases_condition(session, actor)


def overdue_page(session: Session, actor: Actor, filters: LedgerFilters, now: datetime, offset: int,
                 limit: int, visible=_ANYONE, priority: int | None = None) -> list[int]:
    """The ids of a page of overdue cases in ledger order ("due": the earliest due date of the case's open
    tasks, then the case id), read by walking the tasks' due index (ix_tasks_due_sort) up to `now` and
    stopping once the page is known, instead of sorting every matching case (a director's "all units below,
    open, overdue, by due" sorted 260,000 cases at 1,000,000). A case first appears in the walk at its earliest
    due task, so the walk's distinct cases come in the ledger's order; cases tied on that moment are read to
    the end of the tie and ordered by id. Raises InvalidData as build does."""
    if filters.sort not in SORTS:
        raise InvalidData(msg("ledger.unknown_sort", sort=filters.sort), {"sort": [", ".join(SORTS)]})
    want = offset + limit
    walk = _walk(session, actor, filters, now, visible, priority)
    rows_wanted = max(want * _WALK_FACTOR, _WALK_MIN)
    while True:
        rows = session.execute(walk.limit(rows_wanted)).all()
        first: dict[int, datetime] = {}
        last_due = None
        for case_id, due in rows:
            if len(first) >= want and due != last_due:
                break  # the page is known, ties included
            if case_id not in first:
                first[case_id] = due
                if len(first) == want:
                    last_due = due
        else:
            if len(rows) == rows_wanted:  # the walk stopped inside the page (or its tie): read further
                rows_wanted *= 4
                continue
        ordered = sorted(first, key=lambda case_id: (first[case_id], case_id))
        return ordered[offset:want]


def overdue_count(session: Session, actor: Actor, filters: LedgerFilters, now: datetime, cap: int,
                  visible=_ANYONE) -> int:
    """How many cases overdue_page pages through, counted up to cap + 1 (the generic count checks the overdue
    EXISTS case by case: 53 ms at 250,000 cases on PostgreSQL). First the cases whose own tasks are late
    (cases.due_at, on ix_cases_open_due): more than cap of them settles it; else the overdue tasks are few and
    the walk counts them all."""
    late = _where(select(K.id).where(K.status == "open", K.due_at < now), session, actor, filters, now,
                  overdue=False, visible=visible)
    if (session.scalar(select(func.count()).select_from(late.limit(cap + 1).subquery())) or 0) > cap:
        return cap + 1
    walk = _walk(session, actor, filters, now, visible)
    rows_wanted = max((cap + 1) * _WALK_FACTOR, _WALK_MIN)
    while True:
        rows = session.execute(walk.limit(rows_wanted)).all()
        seen = {case_id for case_id, _due in rows}
        if len(seen) > cap or len(rows) < rows_wanted:
            return min(len(seen), cap + 1)
        rows_wanted *= 4


def _walk(session: Session, actor: Actor, filters: LedgerFilters, now: datetime, visible, priority: int | None = None):
    """(case id, due) of the open tasks past due of the matching cases, in the tasks' due order."""
    w = _WALKED.c  # an alias: the conditions' own subqueries over tasks must not correlate to the walk
    walk = _where(select(w.case_id, w.due_sort).join(CaseModel.__table__, K.id == w.case_id)
                  .where(w.due_sort < now), session, actor, filters, now, overdue=False, visible=visible,
                  priority=priority)
    if priority:  # the flagged cases' tasks carry the flag: walk the partial ix_tasks_flagged (its predicate
        # must be written as the index's, a literal 0, for SQLite to take it)
        walk = walk.where(w.priority > literal_column("0"))
    return walk.order_by(w.due_sort, w.created_at, w.id)


def _where(stmt, session: Session, actor: Actor, filters: LedgerFilters, now: datetime, overdue: bool = True,
           visible=_ANYONE, priority: int | None = None):
    """stmt (over the cases table) with the filters' conditions."""
    if visible is _ANYONE:
        visible = visibility(session, actor)
    if visible is not None:
        stmt = stmt.where(visible)
    if filters.q and normalise_query(filters.q):
        stmt = stmt.where(_search(filters.q))
    if filters.outcome:
        stmt = stmt.where(K.outcome_class == outcome_class_of(filters.outcome))
    for column, value in ((K.process_id, filters.process_id), (K.category, filters.category),
                          (K.channel, filters.channel), (K.tier, filters.tier)):
        if value:
            stmt = stmt.where(column == value)
    if filters.status:
        if filters.status not in ("open", "closed"):
            raise InvalidData(msg("ledger.unknown_status", status=filters.status), {"status": ["open, closed"]})
        stmt = stmt.where(K.status == filters.status)
    if filters.org_unit:
        unit = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == filters.org_unit))
        if unit is None:
            raise InvalidData(msg("ledger.unknown_org_unit", org_unit=filters.org_unit),
                              {"org_unit": [msg("ledger.unknown_org_unit", org_unit=filters.org_unit)]})
        if filters.include_sub:
            stmt = stmt.where(K.org_unit_id.in_(select(OrgUnitModel.id).where(OrgUnitModel.path.startswith(unit.path))))
        else:
            stmt = stmt.where(K.org_unit_id == unit.id)
    for column, start, end in ((K.opened_at, filters.opened_from, filters.opened_to),
                               (K.closed_at, filters.closed_from, filters.closed_to)):
        if start:
            stmt = stmt.where(column >= day_start(start))
        if end:
            stmt = stmt.where(column < day_start(end + timedelta(days=1)))
    if filters.overdue and overdue:
        stmt = stmt.where(select(T.id).where(T.case_id == K.id, T.due_sort < now).exists())
    if filters.high_risk or priority:  # only the 群体性 / 高风险 cases (few; services/ledger.py lists them first)
        stmt = stmt.where(_flagged())
    elif priority == 0:  # the rest, on their own index walk
        stmt = stmt.where(K.priority == 0)
    return stmt
