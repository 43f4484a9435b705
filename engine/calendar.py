"""The legal calendar: working days, rest days and the three kinds of period used for deadlines.

Base data is the ``chinese_calendar`` package (public holidays and 调休 make-up working days, one State
Council notice per year). A center adds its own data in ``config/calendar.toml`` (format documented there):
closures (the center is shut on a working day), extra working days, and whole years the package does not
cover yet. A year neither has is still known in part: its statutory holidays follow from
全国年节及纪念日放假办法 (engine/statutory_holidays.py), so it runs provisional on them (no 调休, no bridge days)
until the notice is entered. Only a year outside those rules (before 2004, after 2099) raises
:class:`CalendarError`; we never guess.

Periods (domain brief §0):

* ``natural_days(n, start)``: the start day is not counted; the period ends on start + n days.
* ``legal_days(n, start)``: 民诉法 第85条 / 民法典 第201–203条; like natural days, but a last day that is a rest
  day moves to the next working day.
* ``workdays(n, start)``: n working days after the start day (调休 make-up days count, holidays do not).

Every period ends at 24:00 China time of its last day, written ``YYYY-MM-DDT23:59:59+08:00`` because ISO 8601
``24:00`` is not accepted by ``datetime.fromisoformat`` (SpiffWorkflow's timer parser). The string functions
are what BPMN expressions use; the ``*_dt`` variants return the same moment as an aware datetime.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar

from engine import statutory_holidays
from engine.clock import CHINA_TZ, current_now
from engine.errors import CalendarError

log = logging.getLogger(__name__)

#: The overrides file shipped with the product; a deployment may point at its own copy.
DEFAULT_CALENDAR_PATH = Path(__file__).resolve().parent.parent / "config" / "calendar.toml"

#: What a period function accepts as its start.
Start = date | datetime | str | None

#: Unit names accepted by :func:`due` (the operator CLI ``jiefen calendar due``).
UNITS = ("natural", "working", "legal")

# The package's own tables; a year counts as covered only if the package has holidays in it.
_PACKAGE_HOLIDAYS: Mapping[date, Any] = chinese_calendar.holidays
_PACKAGE_WORKDAYS: Mapping[date, Any] = chinese_calendar.workdays
_PACKAGE_YEARS: frozenset[int] = frozenset(d.year for d in _PACKAGE_HOLIDAYS)

_FIX_HINT = "add [years.{year}] to config/calendar.toml (see the comments in that file)"
_END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class YearData:
    """One year's national calendar: holidays, make-up working days, and whether it is only provisional."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    provisional: bool = False
    source: str = "package"


@dataclass
class _Overrides:
    closures: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    years: dict[int, YearData] = field(default_factory=dict)


class LegalCalendar:
    """Working days per the national calendar plus a center's overrides; computes deadline ends."""

    def __init__(self, overrides: dict | None = None):
        parsed = _parse_overrides(overrides or {})
        self.closures = parsed.closures
        self.extra_workdays = parsed.extra_workdays
        self._years: dict[int, YearData] = {}
        for year, data in parsed.years.items():
            if year in _PACKAGE_YEARS and data.provisional:
                # A newer package now has the real notice; it beats a "weekends only" placeholder.
                log.warning(
                    "calendar: [years.%d] is marked provisional but chinese_calendar has data for %d; "
                    "using the package data, remove the entry from config/calendar.toml",
                    year, year,
                )
                continue
            if year in _PACKAGE_YEARS:
                log.info("calendar: [years.%d] from the overrides replaces the chinese_calendar data", year)
            self._years[year] = data
        self._computed: dict[int, YearData] = {}  # years run on computed statutory holidays (year_data)
        self._warned_years: set[int] = set()
        self._fingerprints: dict[int, str] = {}
        self._lock = threading.Lock()

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None) -> LegalCalendar:
        return cls(dict(d) if d is not None else None)

    @classmethod
    def from_toml(cls, path: str | Path) -> LegalCalendar:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise CalendarError(f"calendar overrides file not found: {p}") from None
        except tomllib.TOMLDecodeError as exc:
            raise CalendarError(f"calendar overrides file {p} is not valid TOML: {exc}") from None
        try:
            return cls(data)
        except CalendarError as exc:
            raise CalendarError(f"{p}: {exc.message}") from None

    # -- day classification ---------------------------------------------------------------------------

    def covered_years(self) -> list[int]:
        """Years for which the calendar can classify dates (package data or overrides)."""
        return sorted(_PACKAGE_YEARS | set(self._years))

    def is_provisional(self, year: int) -> bool:
        """True when `year` runs on computed statutory holidays only (marked provisional in the overrides, or
        neither the package nor the overrides have it): its 调休 and bridge days are not known yet."""
        data = self._years.get(year)
        if data is not None:
            return data.provisional
        return year not in _PACKAGE_YEARS and statutory_holidays.covers(year)

    def provisional_years_from(self, today: date) -> list[int]:
        """Provisional years from `today`'s year on that deadlines reach now: those marked in the overrides,
        and this year and the next when nobody has entered them (a warning for the people who run the center)."""
        marked = {y for y, data in self._years.items() if data.provisional and y >= today.year}
        near = {y for y in (today.year, today.year + 1) if self.is_provisional(y)}
        return sorted(marked | near)

    def provisional_years(self, start: date, end: date) -> list[int]:
        """The provisional years among those a period from `start` to `end` touches (for a warning)."""
        return [y for y in range(start.year, end.year + 1) if self.is_provisional(y)]

    def year_data(self, year: int) -> YearData:
        """The national calendar of `year`; CalendarError when nobody has entered it."""
        data = self._years.get(year)
        if data is not None:
            if data.provisional:
                self._warn_provisional(year)
            return data
        if year in _PACKAGE_YEARS:
            return YearData(
                holidays=frozenset(d for d in _PACKAGE_HOLIDAYS if d.year == year),
                workdays=frozenset(d for d in _PACKAGE_WORKDAYS if d.year == year),
            )
        if statutory_holidays.covers(year):
            # No notice yet: the holidays the law fixes are known (a right never ends on 元旦 or in 春节 for want
            # of a notice); the 调休 are not, hence provisional.
            self._warn_provisional(year)
            return YearData(holidays=frozenset(statutory_holidays.statutory_holidays(year)), provisional=True,
                            source="computed")
        raise CalendarError(
            f"no holiday data for the year {year}: chinese_calendar covers "
            f"{min(_PACKAGE_YEARS)}–{max(_PACKAGE_YEARS)} and the statutory holidays are computed for "
            f"{statutory_holidays.FIRST_YEAR}–{statutory_holidays.LAST_YEAR}; {_FIX_HINT.format(year=year)} "
            f"with the State Council holiday notice, or mark it provisional = true (weekends only)",
            details={"year": year},
        )

    def is_workday(self, d: date) -> bool:
        """True when the center works on `d`: national calendar (with 调休), then closures and extra workdays."""
        if isinstance(d, datetime) or not isinstance(d, date):
            raise CalendarError(f"is_workday needs a date, got {type(d).__name__} {d!r}")
        # Check the year first: center overrides adjust a known calendar, they never stand in for one.
        data = self._year_data_cached(d.year)
        if d in self.closures:
            return False
        if d in self.extra_workdays:
            return True
        if d in data.workdays:
            return True
        if d in data.holidays:
            return False
        return d.weekday() < 5

    def is_rest_day(self, d: date) -> bool:
        return not self.is_workday(d)

    # -- periods (aware datetimes) --------------------------------------------------------------------

    def natural_days_dt(self, n: int, start: Start = None) -> datetime:
        """End of the day start + n (start day not counted, no rest-day extension)."""
        n = _check_n(n)
        return _end_of(_add_days(start_date(start), n))

    def legal_days_dt(self, n: int, start: Start = None) -> datetime:
        """民诉法 第85条: start day not counted; a last day that is a rest day moves to the next working day."""
        n = _check_n(n)
        last = _add_days(start_date(start), n)
        while not self.is_workday(last):
            last = _add_days(last, 1)
        return _end_of(last)

    def workdays_dt(self, n: int, start: Start = None) -> datetime:
        """End of the n-th working day after the start day (n = 0: end of the start day itself)."""
        n = _check_n(n)
        day = start_date(start)
        counted = 0
        while counted < n:
            day = _add_days(day, 1)
            if self.is_workday(day):
                counted += 1
        return _end_of(day)

    # -- periods (ISO strings, for BPMN expressions) --------------------------------------------------

    def natural_days(self, n: int, start: Start = None) -> str:
        return self.natural_days_dt(n, start).isoformat()

    def legal_days(self, n: int, start: Start = None) -> str:
        return self.legal_days_dt(n, start).isoformat()

    def workdays(self, n: int, start: Start = None) -> str:
        return self.workdays_dt(n, start).isoformat()

    # -- change detection (services/deadlines.recompute_changed_years) ----------------------------------

    def fingerprint(self, year: int) -> str:
        """A digest of everything that decides the days of `year`: its holidays and 调休 working days, whether it
        is provisional, and the center's closures and extra working days in it. Equal digests, equal deadlines.
        Raises CalendarError for a year the calendar does not know."""
        with self._lock:
            known = self._fingerprints.get(year)
        if known is not None:
            return known
        data = self._year_data_cached(year)
        body = {"holidays": _fmt(data.holidays), "workdays": _fmt(data.workdays), "provisional": data.provisional,
                "closures": _fmt({d for d in self.closures if d.year == year}),
                "extra_workdays": _fmt({d for d in self.extra_workdays if d.year == year})}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self._lock:
            self._fingerprints[year] = digest
        return digest

    def watched_years(self, today: date) -> list[int]:
        """The years whose change can move an open deadline as of `today`: this year and the next three (the
        longest periods, two years to apply for enforcement, reach that far) and any later year entered."""
        return sorted({today.year + i for i in range(4)} | {y for y in self._years if y >= today.year})

    # -- internals ----------------------------------------------------------------------------------

    def _year_data_cached(self, year: int) -> YearData:
        # Package years are rebuilt from the big tables on demand; cache them beside the overrides.
        data = self._years.get(year)
        if data is None and year in _PACKAGE_YEARS:
            return self._years.setdefault(year, self.year_data(year))
        if data is None:
            data = self._computed.get(year)
            if data is None:
                data = self._computed.setdefault(year, self.year_data(year))
            return data
        return self.year_data(year)

    def _warn_provisional(self, year: int) -> None:
        with self._lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
        computed = statutory_holidays.covers(year)
        log.warning(
            "calendar: year %d is provisional (%s, no 调休 or bridge days): deadlines in %d may move when the "
            "State Council holiday notice is entered (系统管理 → 节假日日历, PUT /api/v1/admin/calendar/%d, or [years.%d] "
            "of config/calendar.toml for a fresh install)",
            year, f"statutory holidays computed from {statutory_holidays.RULES}" if computed
            else "weekends only, no public holidays", year, year, year,
        )


# -- module helpers ---------------------------------------------------------------------------------


def start_date(start: Start) -> date:
    """The China-time (+08:00) calendar date a period starts from; naive datetimes mean China time."""
    if start is None:
        start = current_now()
    if isinstance(start, str):
        start = _parse_iso(start)
    if isinstance(start, datetime):
        if start.tzinfo is not None:
            start = start.astimezone(CHINA_TZ)
        return start.date()
    if isinstance(start, date):
        return start
    raise CalendarError(
        f"a period start must be a date, a datetime or an ISO 8601 string, got {type(start).__name__} {start!r}"
    )


def _parse_iso(text: str) -> datetime | date:
    s = text.strip()
    try:
        if len(s) == 10:
            return date.fromisoformat(s)
        return datetime.fromisoformat(s)
    except ValueError:
        raise CalendarError(f"not an ISO 8601 date or datetime: {text!r}") from None


def _check_n(n: Any) -> int:
    # bool is an int subclass; True as "1 day" would hide a bug in the BPMN expression.
    if isinstance(n, bool) or not isinstance(n, int):
        raise CalendarError(f"the number of days must be a whole number, got {type(n).__name__} {n!r}")
    if n < 0:
        raise CalendarError(f"the number of days must not be negative, got {n}")
    return n


def _add_days(d: date, n: int) -> date:
    try:
        return d + timedelta(days=n)
    except OverflowError:
        raise CalendarError(f"{d.isoformat()} + {n} days is outside the supported date range") from None


def _end_of(d: date) -> datetime:
    # 24:00 of day d, written as 23:59:59 (fromisoformat rejects 24:00).
    return datetime.combine(d, _END_OF_DAY, CHINA_TZ)


# -- overrides parsing ------------------------------------------------------------------------------

_TOP_KEYS = {"closures", "extra_workdays", "years"}
_YEAR_KEYS = {"holidays", "workdays", "provisional"}


def _parse_overrides(raw: Mapping[str, Any]) -> _Overrides:
    if not isinstance(raw, Mapping):
        raise CalendarError(f"calendar overrides must be a mapping, got {type(raw).__name__}")
    # Unknown keys are almost always typos ("holiday", "closure"); silently ignoring one would move deadlines.
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise CalendarError(
            f"unknown calendar override key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}"
        )
    closures = _date_set(raw.get("closures", []), "closures")
    extra = _date_set(raw.get("extra_workdays", []), "extra_workdays")
    both = closures & extra
    if both:
        raise CalendarError(f"dates listed both as closures and extra_workdays: {_fmt(both)}")

    years_raw = raw.get("years", {})
    if not isinstance(years_raw, Mapping):
        raise CalendarError("[years] must be a table of [years.YYYY] tables")
    years: dict[int, YearData] = {}
    for key, body in years_raw.items():
        year = _year_key(key)
        years[year] = _parse_year(year, body)
    return _Overrides(closures=closures, extra_workdays=extra, years=years)


def _parse_year(year: int, body: Any) -> YearData:
    where = f"[years.{year}]"
    if not isinstance(body, Mapping):
        raise CalendarError(f"{where} must be a table with holidays, workdays and/or provisional")
    unknown = set(body) - _YEAR_KEYS
    if unknown:
        raise CalendarError(f"unknown key(s) {sorted(unknown)} in {where}; allowed: {sorted(_YEAR_KEYS)}")
    provisional = body.get("provisional", False)
    if not isinstance(provisional, bool):
        raise CalendarError(f"{where} provisional must be true or false, got {provisional!r}")
    holidays = _date_set(body.get("holidays", []), f"{where} holidays")
    workdays = _date_set(body.get("workdays", []), f"{where} workdays")
    stray = {d for d in holidays | workdays if d.year != year}
    if stray:
        raise CalendarError(f"{where} lists dates of another year: {_fmt(stray)}")
    both = holidays & workdays
    if both:
        raise CalendarError(f"{where} lists dates as both holidays and workdays: {_fmt(both)}")
    if not provisional and not holidays:
        # Every real notice has holidays; an empty year is a forgotten entry, not data.
        raise CalendarError(
            f"{where} has no holidays; enter the State Council notice, or set provisional = true "
            f"to run on weekends only until it is published"
        )
    if provisional:
        # The statutory holidays are known before the notice (engine/statutory_holidays.py); only the 调休
        # make-up working days and bridge days are not. A make-up day listed here stays a working day.
        computed = frozenset(statutory_holidays.statutory_holidays(year)) - workdays
        if computed:
            return YearData(holidays=holidays | computed, workdays=workdays, provisional=True,
                            source=f"overrides + {statutory_holidays.RULES}")
    return YearData(holidays=holidays, workdays=workdays, provisional=provisional, source="overrides")


def _year_key(key: Any) -> int:
    try:
        year = int(key)
    except (TypeError, ValueError):
        raise CalendarError(f"[years.{key}]: the table name must be a year such as [years.2027]") from None
    if not 1900 <= year <= 9998:
        raise CalendarError(f"[years.{key}]: {year} is not a plausible year")
    return year


def _date_set(values: Any, where: str) -> frozenset[date]:
    if not isinstance(values, (list, tuple, set, frozenset)):
        raise CalendarError(f"{where} must be a list of dates such as [2027-01-01, \"2027-01-02\"]")
    out: set[date] = set()
    for v in values:
        if isinstance(v, datetime):
            raise CalendarError(f"{where}: {v!r} has a time; list plain dates (YYYY-MM-DD)")
        if isinstance(v, date):
            out.add(v)
        elif isinstance(v, str):
            try:
                out.add(date.fromisoformat(v.strip()))
            except ValueError:
                raise CalendarError(f"{where}: {v!r} is not a YYYY-MM-DD date") from None
        else:
            raise CalendarError(f"{where}: {v!r} is not a date")
    return frozenset(out)


def _fmt(dates: set[date] | frozenset[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(dates))


# -- integration points -----------------------------------------------------------------------------


def layered(overrides: Mapping[str, Any] | None, notices: Mapping[int, Mapping[str, Any]]) -> dict | None:
    """The calendar file's overrides with the years entered in the administration console over them: a year's
    notice replaces its [years.YYYY] table, its closures join the file's (services/calendar_admin.py)."""
    if not notices:
        return dict(overrides) if overrides is not None else None
    out = dict(overrides or {})
    years = dict(out.get("years", {}))
    closures = list(out.get("closures", []))
    for year, notice in notices.items():
        years[str(year)] = {"holidays": list(notice["holidays"]), "workdays": list(notice["workdays"]),
                            "provisional": bool(notice["provisional"])}
        closures.extend(notice.get("closures", []))
    out["years"], out["closures"] = years, closures
    return out


def bpmn_helpers(calendar: LegalCalendar) -> dict[str, Callable[..., str]]:
    """The functions BPMN expressions may call, bound to `calendar`: workdays, legal_days, natural_days."""

    # Plain closures rather than bound methods, so the sandbox sees a function and nothing of the calendar.
    def workdays(n: int, start: Start = None) -> str:
        """End (23:59:59+08:00) of the n-th working day after start (default: now)."""
        return calendar.workdays(n, start)

    def legal_days(n: int, start: Start = None) -> str:
        """End of an n-day legal period from start (default: now), moved off rest days."""
        return calendar.legal_days(n, start)

    def natural_days(n: int, start: Start = None) -> str:
        """End of the day start + n days (default start: now), no rest-day extension."""
        return calendar.natural_days(n, start)

    return {"workdays": workdays, "legal_days": legal_days, "natural_days": natural_days}


def due(start: str, days: int, unit: str, calendar: LegalCalendar) -> str:
    """For ``jiefen calendar due START --days N --unit natural|working|legal``: the end of the period."""
    if unit == "natural":
        return calendar.natural_days(days, start)
    if unit == "working":
        return calendar.workdays(days, start)
    if unit == "legal":
        return calendar.legal_days(days, start)
    raise CalendarError(f"unknown unit {unit!r}; use one of: {', '.join(UNITS)}")


def provisional_note(start: str, end: str, calendar: LegalCalendar) -> str | None:
    """What `jiefen calendar due` adds when the period runs into a provisional year: which year, and why the
    end may still move; None when every year it touches is known."""
    years = calendar.provisional_years(start_date(start), start_date(end))
    if not years:
        return None
    listed = ", ".join(str(y) for y in years)
    return (f"provisional: {listed} has no State Council holiday notice yet; its statutory holidays are computed "
            f"({statutory_holidays.RULES}), 调休 and bridge days are not known, so this end may move / "
            f"{listed}年放假安排尚未公布，按法定节假日推算，调休未计入，期限可能变动")
