"""The case ledger's (台账) query builder: the cases an actor may read (engine/access.py), filtered and sorted.

Below the services (engine/services/ledger.py calls it); read-only. A case's "due" is the earliest due date of
its open tasks and its warning level the highest of theirs (0 for a closed case, which has no open task).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from engine import access, runtime
from engine.actors import Actor
from engine.case_codes import valid_code
from engine.clock import CHINA_TZ
from engine.errors import InvalidData
from engine.messages import msg
from engine.models import NO_DUE_DATE, CaseModel, OrgUnitModel, TaskModel

K, T = CaseModel.__table__.c, TaskModel.__table__.c

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


def _high_risk(session: Session):
    """群体性 / 高风险 as engine/group_cases.flags reads the data: high_risk is true, or people_involved (a number)
    reaches [group_case] people_involved_at_least. JSON types are checked first: a text value never fails the
    query."""
    at_least = runtime.of(session).settings.group_people_at_least
    if session.get_bind().dialect.name == "postgresql":
        flag, people = K.data["high_risk"], K.data["people_involved"]
        return or_(and_(func.json_typeof(flag) == "boolean", flag.as_string() == "true"),
                   and_(func.json_typeof(people) == "number",
                        case((func.json_typeof(people) == "number", people.as_float()), else_=None) >= at_least))
    return or_(func.json_type(K.data, "$.high_risk") == "true",
               and_(func.json_type(K.data, "$.people_involved") == "integer",
                    func.json_extract(K.data, "$.people_involved") >= at_least))


def day_start(day: date) -> datetime:
    """The first moment of a calendar day in China (the ledger's dates are China's days)."""
    return datetime.combine(day, time.min, CHINA_TZ)


@dataclass
class LedgerFilters:
    q: str | None = None
    process_id: str | None = None
    status: str | None = None  # open | closed
    outcome: str | None = None  # cases.outcome as recorded (the outcome class once cases.outcome_class lands)
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


def build(session: Session, actor: Actor, filters: LedgerFilters, now: datetime):
    """The SELECT of the matching case ids in ledger order (no paging). Raises InvalidData (unknown sort, unit,
    status)."""
    if filters.sort not in SORTS:
        raise InvalidData(msg("ledger.unknown_sort", sort=filters.sort), {"sort": [", ".join(SORTS)]})
    stmt = select(K.id)
    visible = access.readable_cases_condition(session, actor)
    if visible is not None:
        stmt = stmt.where(visible)
    if filters.q and normalise_query(filters.q):
        stmt = stmt.where(_search(filters.q))
    for column, value in ((K.process_id, filters.process_id), (K.outcome, filters.outcome),
                          (K.category, filters.category), (K.channel, filters.channel), (K.tier, filters.tier)):
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
    if filters.overdue:
        stmt = stmt.where(select(T.id).where(T.case_id == K.id, T.due_sort < now).exists())
    if filters.high_risk:
        stmt = stmt.where(_high_risk(session))
    return stmt.order_by(K.priority.desc(), *_order(filters.sort))  # 群体性 / 高风险 first, in every sort
