"""Case codes (一案一码): {6-digit area}{level}{channel}{YYYY}{6-digit sequence}{check} — domain.md §6."""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import Integer, column, text
from sqlalchemy.orm import Session

from engine.clock import CHINA_TZ
from engine.fastpath import send
from engine.errors import Conflict
from engine.messages import msg
from engine.models import OrgUnitModel

# Channel digit in the case code (domain.md §6); 0 = other / not given.
CHANNEL_DIGITS = {"walk_in": "1", "phone": "2", "letter": "3", "online": "4", "grid": "5", "hotline_12345": "6",
                  "dept_referral": "7", "court_referral": "8", "higher_assignment": "9"}


def check_digit(body: str) -> str:
    """ISO 7064 MOD 11-2 check character (as in the citizen ID number): '0'-'9' or 'X'."""
    total = 0
    for ch in body:
        total = (total + int(ch)) * 2 % 11
    value = (12 - total) % 11
    return "X" if value == 10 else str(value)


def valid_code(code: str) -> bool:
    return len(code) >= 2 and code[:-1].isdigit() and check_digit(code[:-1]) == code[-1]


# One atomic upsert, the same SQL on SQLite (>= 3.35) and PostgreSQL. Written as text() because SQLAlchemy
# gives its dialect-specific ON CONFLICT construct no cache key: it was compiled anew on every case opened
# (~2 ms, a quarter of the bench lifecycle).
_NEXT_SEQUENCE = text(
    "INSERT INTO case_sequences (area_code, year, last_value) VALUES (:area, :year, 1) "
    "ON CONFLICT (area_code, year) DO UPDATE SET last_value = case_sequences.last_value + 1 "
    "RETURNING last_value").columns(column("last_value", Integer))


def _next_sequence(session: Session, area_code: str, year: int) -> int:
    # One atomic upsert: concurrent openings in the same area and year serialise on this row, never repeat.
    [(value,)] = send(session.connection(), _NEXT_SEQUENCE, {"area": area_code, "year": year})
    if value > 999_999:
        raise Conflict(msg("case.numbers_exhausted", area_code=area_code, year=year))
    return value


def make_case_code(session: Session, org: OrgUnitModel, channel: str | None, now: datetime) -> str:
    """{6-digit area}{level}{channel}{YYYY}{6-digit sequence}{check} — domain.md §6."""
    year = now.astimezone(CHINA_TZ).year
    seq = _next_sequence(session, org.area_code, year)
    body = f"{org.area_code}{org.level}{CHANNEL_DIGITS.get(channel or '', '0')}{year}{seq:06d}"
    return body + check_digit(body)


def normalise_phone(phone: str | None) -> str:
    """A phone number's digits as the look-up compares them: full-width digits as half-width, everything else
    out, and a +86 / 0086 country prefix off a mobile number (+86 138… is 138…). Also the key that finds a
    party's other cases (cases.party_key)."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11 and digits[len(prefix)] == "1":
            return digits[len(prefix):]
    return digits
