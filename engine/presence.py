"""Resident departments' presence at their center (常驻 / 轮驻 / 随驻) and whether one is there on a day.

A department resident at a center (kind department) is there every working day (resident, 常驻), on the
weekdays of its rota (rota, 轮驻: `rota_days` "2,4" = Tuesday and Thursday) or on call (on_call, 随驻). Nobody
is there on a rest day of the work calendar (weekends, holidays, closures); a 调休 working weekend day counts
as a working day for resident departments and for a rota that names that weekday. Routing never depends on
it: a task routed to an absent department waits in its list; the dispatcher is told that it is away.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from engine.errors import InvalidData
from engine.messages import msg

RESIDENT, ROTA, ON_CALL = "resident", "rota", "on_call"
PRESENCES = (RESIDENT, ROTA, ON_CALL)
# The words centers use (and config files, the demo before migration 0031) for each presence.
ALIASES = {"常驻": RESIDENT, "轮驻": ROTA, "随驻": ON_CALL}


@dataclass(frozen=True)
class Presence:
    """Where a department stands on one day: present (常驻 or its rota day), absent, on call, or a rest day."""

    kind: str | None  # resident | rota | on_call | None (not a resident department)
    rota_days: tuple[int, ...]  # ISO weekdays 1-7 of a rota
    state: str  # present | absent | on_call | rest_day | none


def parse_rota_days(raw) -> tuple[int, ...]:
    """ISO weekdays from "2,4", "2 4", [2, 4]; sorted, unique. Raises InvalidData (field rota_days)."""
    if raw is None or raw == "":
        return ()
    items = raw if isinstance(raw, (list, tuple)) else str(raw).replace("，", ",").replace(" ", ",").split(",")
    days = set()
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not text.isdigit() or not 1 <= int(text) <= 7:
            raise InvalidData(msg("org.rota_day_invalid", day=text), {"rota_days": [msg("field.weekday")]})
        days.add(int(text))
    return tuple(sorted(days))


def normalise(presence: str | None, rota_days) -> tuple[str | None, str | None]:
    """A presence and its rota as stored: (presence id or None, "2,4" or None). Raises InvalidData naming the
    field (an unknown presence; a rota without days; days without a rota)."""
    presence = (presence or "").strip() or None
    presence = ALIASES.get(presence, presence)
    if presence is not None and presence not in PRESENCES:
        raise InvalidData(msg("org.presence_invalid", presence=presence), {"presence": [msg("field.presence")]})
    days = parse_rota_days(rota_days)
    if presence == ROTA and not days:
        raise InvalidData(msg("org.rota_days_required"), {"rota_days": [msg("org.rota_days_required")]})
    if presence != ROTA:
        days = ()
    return presence, ",".join(str(d) for d in days) or None


def on_day(kind: str | None, rota_days: str | None, day: date, working: bool) -> Presence:
    """The presence of a unit on `day` (`working`: a working day of the work calendar)."""
    days = parse_rota_days(rota_days) if kind == ROTA else ()
    if kind is None:
        state = "none"
    elif not working:
        state = "rest_day"
    elif kind == ON_CALL:
        state = "on_call"
    elif kind == RESIDENT or day.isoweekday() in days:
        state = "present"
    else:
        state = "absent"
    return Presence(kind, days, state)
