"""Calendar years in the administration console (issue 20 §3): a year's State Council notice (holidays and 调休
working days) and the center's closures, entered by an administrator, kept in calendar_notices and layered over
config/calendar.toml (the seed) and the computed statutory days (engine.calendar.layered).

Saving a year recomputes every pending deadline and timer it moves, as `jiefen calendar recompute` does (one
recorded command per case, services/deadlines.py), and writes an admin-log entry (old -> new). A dry run answers
how many would move without saving: each case's recompute runs under the new calendar and is rolled back.

Every process serves a saved year within seconds: `refresh` compares the highest saved version with the one the
process serves (one small SELECT, at most every few seconds: the web's before-request check, the scheduler's tick).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import admin_log, runtime, statutory_holidays
from engine.actors import Actor
from engine.calendar import (
    _PACKAGE_HOLIDAYS,
    _PACKAGE_WORKDAYS,
    _PACKAGE_YEARS,
    LegalCalendar,
    layered,
)
from engine.clock import CHINA_TZ
from engine.deadlines import CaseRecomputed, recompute_cases
from engine.errors import CalendarError, Forbidden, InvalidData
from engine.messages import msg
from engine.models import CalendarNoticeModel


def require_admin(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("admin.change_forbidden"))


def require_reader(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_auditor or actor.is_system):
        raise Forbidden(msg("admin.read_forbidden"))


REASON = "{year}年放假安排由管理员录入或调整，重新计算期限"


@dataclass
class Day:
    day: date
    source: str  # package | computed | file | notice | closure


@dataclass
class YearView:
    year: int
    provisional: bool
    holidays: list[Day]
    workdays: list[Day]
    closures: list[Day]
    notice: CalendarNoticeModel | None


@dataclass
class SaveResult:
    year: int
    dry_run: bool
    moved: int = 0  # deadlines (timers and task due dates) moved
    cases: list[CaseRecomputed] = field(default_factory=list)  # the cases with a moved or unsure deadline

    @property
    def unsure(self) -> int:
        return sum(len(c.unsure) for c in self.cases)


# ------------------------------------------------------------------------------------------ serving the notices


def load(session: Session) -> tuple[dict[int, dict], int]:
    """Every saved notice (year -> holidays, workdays, closures, provisional) and the highest version."""
    rows = session.scalars(select(CalendarNoticeModel)).all()
    notices = {r.year: {"holidays": list(r.holidays), "workdays": list(r.workdays), "closures": list(r.closures),
                        "provisional": r.provisional} for r in rows}
    return notices, max((r.version for r in rows), default=0)


def refresh(session: Session, rt: runtime.Runtime) -> bool:
    """Serve the notices saved since this process last looked (any process may have saved them); True when the
    calendar served changed. One SELECT when nothing changed."""
    version = session.scalar(select(func.max(CalendarNoticeModel.version))) or 0
    if version == rt.calendar_version:
        return False
    notices, version = load(session)
    rt.use_notices(notices, version)
    return True


# ------------------------------------------------------------------------------------------ reading


def year_view(session: Session, actor: Actor, year: int) -> YearView:
    """A year's holidays, working days and closures with where each comes from, and whether it is provisional.
    Administrators and auditors. Raises Forbidden, InvalidData (a year the calendar cannot know)."""
    require_reader(actor)
    rt = runtime.of(session)
    refresh(session, rt)
    cal = rt.calendar
    try:
        data = cal.year_data(year)
    except CalendarError:
        raise InvalidData(msg("calendar.year_unknown", year=year), {"year": [msg("calendar.year_unknown",
                                                                                 year=year)]}) from None
    notice = session.get(CalendarNoticeModel, year)
    file_years = (rt.settings.calendar_overrides or {}).get("years", {})
    if notice is not None:
        listed, base = {date.fromisoformat(d) for d in notice.holidays + notice.workdays}, "notice"
    elif str(year) in file_years or year in file_years:
        body = file_years.get(str(year), file_years.get(year))
        listed = {d if isinstance(d, date) else date.fromisoformat(d)
                  for d in list(body.get("holidays", [])) + list(body.get("workdays", []))}
        base = "file"
    elif year in _PACKAGE_YEARS:
        listed = {d for d in _PACKAGE_HOLIDAYS if d.year == year} | {d for d in _PACKAGE_WORKDAYS if d.year == year}
        base = "package"
    else:
        listed, base = set(), "computed"
    note_closures = {date.fromisoformat(d) for d in (notice.closures if notice else [])}

    def source(d: date) -> str:
        return base if d in listed else "computed"

    return YearView(
        year=year, provisional=cal.is_provisional(year),
        holidays=[Day(d, source(d)) for d in sorted(data.holidays)],
        workdays=[Day(d, source(d)) for d in sorted(data.workdays)],
        closures=[Day(d, "notice" if d in note_closures else "file") for d in sorted(cal.closures) if d.year == year],
        notice=notice)


def years_in_use(session: Session, actor: Actor) -> list[YearView]:
    """The years deadlines reach now (this year and the next three) and every year entered, with their state."""
    require_reader(actor)
    rt = runtime.of(session)
    refresh(session, rt)
    today = rt.clock.now().astimezone(CHINA_TZ).date()
    years = set(rt.calendar.watched_years(today)) | set(rt.calendar_notices)
    return [year_view(session, actor, y) for y in sorted(years) if statutory_holidays.covers(y)
            or y in _PACKAGE_YEARS or y in rt.calendar_notices]


# ------------------------------------------------------------------------------------------ saving


def _dates(values, name: str, year: int) -> list[str]:
    if not isinstance(values, list):
        raise InvalidData(msg("calendar.dates_list", field=name), {name: [msg("calendar.dates_list", field=name)]})
    out = set()
    for v in values:
        try:
            d = date.fromisoformat(str(v).strip())
        except ValueError:
            m = msg("calendar.date_invalid", field=name, value=str(v))
            raise InvalidData(m, {name: [m]}) from None
        if d.year != year:
            m = msg("calendar.date_other_year", field=name, value=d.isoformat(), year=year)
            raise InvalidData(m, {name: [m]})
        out.add(d.isoformat())
    return sorted(out)


def save_notice(session: Session, actor: Actor, year: int, holidays, workdays, closures=None,
                provisional: bool = False, dry_run: bool = False) -> SaveResult:
    """Enter (or replace) `year`'s notice and closures (None: keep the closures entered before); recompute what it moves (one command per case, each
    committed) and record the act in the admin log. `dry_run`: count what would move, save nothing.
    Administrators only. Raises Forbidden, InvalidData (the field and the bad date)."""
    require_admin(actor)
    rt = runtime.of(session)
    refresh(session, rt)
    if not statutory_holidays.covers(year) and year not in _PACKAGE_YEARS:
        m = msg("calendar.year_unknown", year=year)
        raise InvalidData(m, {"year": [m]})
    if closures is None:  # not given: the closures entered before stay
        closures = list(rt.calendar_notices.get(year, {}).get("closures", []))
    new = {"holidays": _dates(holidays, "holidays", year), "workdays": _dates(workdays, "workdays", year),
           "closures": _dates(closures, "closures", year), "provisional": bool(provisional)}
    both = sorted(set(new["holidays"]) & set(new["workdays"]))
    if both:
        m = msg("calendar.date_both", value=both[0])
        raise InvalidData(m, {"workdays": [m]})
    if not provisional and not new["holidays"]:
        m = msg("calendar.no_holidays", year=year)
        raise InvalidData(m, {"holidays": [m]})
    notices = dict(rt.calendar_notices)
    notices[year] = new
    overrides = layered(rt.settings.calendar_overrides, notices)
    try:
        LegalCalendar(overrides)
    except CalendarError as exc:
        m = msg("calendar.rejected", reason=str(exc.message))
        raise InvalidData(m, {"closures": [m]}) from None
    now = rt.clock.now()
    result = SaveResult(year, dry_run)
    if not dry_run:
        row = session.get(CalendarNoticeModel, year)
        old = None if row is None else {"holidays": row.holidays, "workdays": row.workdays,
                                        "closures": row.closures, "provisional": row.provisional}
        version = (session.scalar(select(func.max(CalendarNoticeModel.version))) or 0) + 1
        if row is None:
            row = CalendarNoticeModel(year=year)
            session.add(row)
        row.holidays, row.workdays, row.closures = new["holidays"], new["workdays"], new["closures"]
        row.provisional, row.version, row.saved_by, row.saved_at = new["provisional"], version, actor.username, now
        admin_log.append(session, actor.username, now, "calendar_year_saved", "calendar", str(year), old, new)
        session.commit()
    trial = rt.with_calendar(overrides)
    info = session.info  # a scoped session's info is the current session's
    info[runtime.INFO_KEY] = trial
    try:
        reason = REASON.format(year=year)
        for found in recompute_cases(session, year, actor.username, now, reason, dry_run=dry_run):
            result.cases.append(found)
            result.moved += len(found.moved)
    finally:
        info[runtime.INFO_KEY] = rt
    if not dry_run:
        refresh(session, rt)
    return result
