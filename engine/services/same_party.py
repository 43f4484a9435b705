"""The same party's other cases (重复件 / 重复信访): the cases whose party phone is this one (cases.party_key, as
case_codes.normalise_phone reads a phone: +86, spaces, hyphens and full-width digits do not matter), newest first.

Shown to the clerk at intake before a case is registered, and on a case's page, so that a matter already being
handled is recognised (信访工作条例: the same matter already accepted or being handled is not accepted again; a
dispute that comes back is a 重复纠纷) and the new case can be linked instead. The caller sees the cases they may read
(access.readable_cases_condition); of the others only how many there are and how many are open, so that they
know to ask the center, not what they hold. Read-only; one indexed range (ix_cases_party_key)."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, func, not_, select
from sqlalchemy.orm import Session

from engine import case_list
from engine.actors import Actor
from engine.case_codes import normalise_phone
from engine.models import CaseModel
from engine.services import ledger

LIMIT = 20  # the newest of the party's cases listed; the counts cover them all
MIN_DIGITS = 7  # a shorter key (a typo, an extension) would match strangers


@dataclass
class SameParty:
    key: str | None  # the phone as compared; None when too short to compare
    rows: list[ledger.LedgerRow] = field(default_factory=list)  # the readable ones, newest first (at most LIMIT)
    readable: int = 0  # how many the caller may read
    others: int = 0  # how many they may not read
    others_open: int = 0  # of which open


def find(session: Session, actor: Actor, phone: str | None, exclude_case_id: int | None = None) -> SameParty:
    """The other cases of the party with this phone, as the caller may see them (see the module)."""
    key = normalise_phone(phone)
    if len(key) < MIN_DIGITS:
        return SameParty(None)
    K = CaseModel
    mine = K.party_key == key
    if exclude_case_id is not None:
        mine = and_(mine, K.id != exclude_case_id)
    visible = case_list.visibility(session, actor)
    readable = mine if visible is None else and_(mine, visible)
    ids = list(session.scalars(select(K.id).where(readable).order_by(K.opened_at.desc(), K.id.desc()).limit(LIMIT)))
    counts = select(func.count(), func.count().filter(K.status == "open"))
    n_readable = session.execute(counts.where(readable)).first()[0]
    others = others_open = 0
    if visible is not None:
        others, others_open = session.execute(counts.where(mine, not_(visible))).first()
    return SameParty(key, ledger.rows_of(session, ids), n_readable, others, others_open)
