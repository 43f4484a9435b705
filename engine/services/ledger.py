"""The case ledger (台账): every case the caller may read (engine/access.py), filtered, sorted, paged or exported.

Read-only: no commit. The queries are engine/case_list.py's."""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.orm import Session

from engine import case_list, runtime, task_list
from engine.actors import Actor
from engine.case_codes import normalise_phone
from engine.case_list import SORTS, LedgerFilters, normalise_query  # noqa: F401 (public here)
from engine.models import NO_DUE_DATE, CaseModel, OrgUnitModel, ProcessVersionModel, TaskModel

COUNT_CAP = task_list.COUNT_CAP  # like the task list: counted exactly up to here, then "1000+"
EXPORT_CHUNK = 500  # rows read at a time by an export


@dataclass
class LedgerRow:
    """One line of the ledger: the case and its open tasks (steps, holders, the earliest due, the highest level)."""

    case: CaseModel
    process_name: str
    unit_name: str
    steps: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)  # who holds each claimed step (usernames)
    due_at: datetime | None = None
    warning_level: int = 0

    @property
    def title(self) -> str:
        data = self.case.data or {}
        for key in ("title", "summary"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:80]
        return self.process_name

    @property
    def party_name(self) -> str:
        value = (self.case.data or {}).get("party_name")
        return value if isinstance(value, str) else ""

    def days_left(self, now: datetime) -> int | None:
        """Whole days to the earliest due date (negative: days late), None without one (closed, no deadline)."""
        if self.due_at is None or self.case.status != "open":
            return None
        return math.floor((self.due_at - now).total_seconds() / 86400)


@dataclass
class LedgerPage:
    rows: list[LedgerRow]
    total: int  # exact when more is False, else COUNT_CAP
    more: bool = False


def _rows(session: Session, ids: list[int]) -> list[LedgerRow]:
    """The ledger rows of these cases, in this order: three statements, whatever the number of cases."""
    if not ids:
        return []
    cases = {c.id: c for c in session.scalars(select(CaseModel).where(CaseModel.id.in_(ids)))}
    names = dict(session.execute(select(ProcessVersionModel.id, ProcessVersionModel.name)
                                 .where(ProcessVersionModel.id.in_({c.process_version_id for c in cases.values()}))).all())
    tasks: dict[int, list[TaskModel]] = {}
    for task in session.scalars(select(TaskModel).where(TaskModel.case_id.in_(ids))
                                .order_by(TaskModel.due_sort, TaskModel.created_at, TaskModel.id)):
        tasks.setdefault(task.case_id, []).append(task)
    rows = []
    for case_id in ids:
        case = cases.get(case_id)
        if case is None:
            continue
        open_tasks = tasks.get(case_id, [])
        dues = [t.due_at for t in open_tasks if t.due_at is not None and t.due_at != NO_DUE_DATE]
        rows.append(LedgerRow(case, names.get(case.process_version_id) or case.process_id, case.org_unit.name,
                              list(dict.fromkeys(t.title for t in open_tasks)),
                              list(dict.fromkeys(t.assignee for t in open_tasks if t.assignee)),
                              min(dues) if dues else None, max((t.warning_level for t in open_tasks), default=0)))
    return rows


def _page_ids(session: Session, actor: Actor, filters: LedgerFilters, now: datetime, visible, offset: int,
              limit: int) -> list[int]:
    """A page of case ids: the 群体性 / 高风险 cases first (priority 1), then the others from their own index walk
    (the due walk or the sort's index), so the flag costs the common page one small read and no change of plan.

    The flagged cases are read up to the end of the page only (fewer than offset + limit: that was all of them,
    and the rest's offset follows): a bench database where most cloned cases were flagged (876,677 of 1,000,050)
    took 6.7 s a page reading every flagged id and 5.0 s sorting them by due; the newest-first page now stops on its
    index, the overdue-by-due page walks the flagged tasks' due index as it walks the others'."""
    if case_list.walks_due_index(filters):  # the flagged tasks' own due index (ix_tasks_flagged)
        flagged = case_list.overdue_page(session, actor, filters, now, 0, offset + limit, visible, priority=1)
    else:
        flagged = list(session.scalars(case_list.build(session, actor, filters, now, visible, priority=1)
                                       .limit(offset + limit)))
    ids = flagged[offset:offset + limit]
    rest_offset, rest_limit = max(offset - len(flagged), 0), limit - len(ids)
    if rest_limit <= 0 or filters.high_risk:  # high_risk: the flagged cases are the whole ledger
        return ids
    if case_list.walks_due_index(filters):
        return ids + case_list.overdue_page(session, actor, filters, now, rest_offset, rest_limit, visible, priority=0)
    rest = case_list.build(session, actor, filters, now, visible, priority=0)
    return ids + list(session.scalars(rest.offset(rest_offset).limit(rest_limit)))


def list_cases(session: Session, actor: Actor, filters: LedgerFilters, page: int = 1, per_page: int = 50,
               now: datetime | None = None) -> LedgerPage:
    """A page of the ledger: the cases the actor may read that match the filters, with a total exact up to
    COUNT_CAP. Raises InvalidData (unknown sort, status or unit; page too high)."""
    now = now or runtime.of(session).clock.now()
    page, per_page = task_list.page_bounds(page, per_page)
    visible = case_list.visibility(session, actor)
    stmt = case_list.build(session, actor, filters, now, visible)
    ids = _page_ids(session, actor, filters, now, visible, (page - 1) * per_page, per_page)
    if len(ids) < per_page and (ids or page == 1):
        counted = (page - 1) * per_page + len(ids)  # a page that is not full ends the list: no count needed
    elif case_list.walks_due_index(filters):
        counted = case_list.overdue_count(session, actor, filters, now, COUNT_CAP, visible)
    else:
        counted = session.scalar(select(func.count()).select_from(
            stmt.order_by(None).limit(COUNT_CAP + 1).subquery())) or 0
    return LedgerPage(_rows(session, ids), min(counted, COUNT_CAP), counted > COUNT_CAP)


def export_rows(session: Session, actor: Actor, filters: LedgerFilters,
                now: datetime | None = None) -> Iterator[LedgerRow]:
    """Every matching case in ledger order, read EXPORT_CHUNK at a time (a streamed cursor: an export of
    100,000 cases never holds them all). Raises InvalidData before the first row."""
    now = now or runtime.of(session).clock.now()
    visible = case_list.visibility(session, actor)
    # 群体性 / 高风险 first, as the page lists them
    stmts = [case_list.build(session, actor, filters, now, visible, priority=p)
             for p in ((1,) if filters.high_risk else (1, 0))]

    def rows() -> Iterator[LedgerRow]:
        for stmt in stmts:
            ids = session.execute(stmt.execution_options(yield_per=EXPORT_CHUNK))  # a server-side cursor
            for chunk in ids.partitions(EXPORT_CHUNK):
                batch = _rows(session, [row[0] for row in chunk])
                yield from batch
                session.expunge_all()  # the chunk's cases and tasks leave the identity map with it
    return rows()


def org_unit_choices(session: Session, actor: Actor) -> list[OrgUnitModel]:
    """The units the actor's ledger may filter by: those under the units they hold a grant at (all, for those
    who read every case), in tree order."""
    stmt = select(OrgUnitModel).order_by(OrgUnitModel.path)
    if not actor.can_read_all():
        paths = sorted({g.org_path for g in actor.grants})
        if not paths:
            return []
        stmt = stmt.where(or_(*[OrgUnitModel.path.startswith(p) for p in paths]))
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- the same party's other cases

SAME_PARTY_LIMIT = 20  # the newest of the party's cases listed; the counts cover them all
SAME_PARTY_MIN_DIGITS = 7  # a shorter key (a typo, an extension) would match strangers


@dataclass
class SameParty:
    key: str | None  # the phone as compared; None when too short to compare
    rows: list[LedgerRow] = field(default_factory=list)  # the readable ones, newest first (at most SAME_PARTY_LIMIT)
    readable: int = 0  # how many the caller may read
    others: int = 0  # how many they may not read
    others_open: int = 0  # of which open


def same_party(session: Session, actor: Actor, phone: str | None, exclude_case_id: int | None = None) -> SameParty:
    """The same party's other cases (重复件 / 重复信访), newest first: the cases whose party phone is this one
    (cases.party_key, as case_codes.normalise_phone reads a phone). Shown to the clerk at intake and on a case's
    page, so that a matter already being handled is recognised (信访工作条例: the same matter already accepted or
    being handled is not accepted again; a dispute that comes back is a 重复纠纷). The caller sees the cases they
    may read; of the others only how many there are and how many are open, so that they know to ask the center,
    not what they hold. Read-only; one indexed range (ix_cases_party_key)."""
    key = normalise_phone(phone)
    if len(key) < SAME_PARTY_MIN_DIGITS:
        return SameParty(None)
    K = CaseModel
    mine = K.party_key == key
    if exclude_case_id is not None:
        mine = and_(mine, K.id != exclude_case_id)
    visible = case_list.visibility(session, actor)
    readable = mine if visible is None else and_(mine, visible)
    ids = list(session.scalars(select(K.id).where(readable).order_by(K.opened_at.desc(), K.id.desc())
                               .limit(SAME_PARTY_LIMIT)))
    counts = select(func.count(), func.count().filter(K.status == "open"))
    n_readable = len(ids) if len(ids) < SAME_PARTY_LIMIT else session.execute(counts.where(readable)).first()[0]
    others = others_open = 0
    if visible is not None:
        others, others_open = session.execute(counts.where(mine, not_(visible))).first()
    return SameParty(key, _rows(session, ids), n_readable, others, others_open)
