"""Legal calendar: day classification, the three period kinds, overrides and missing data.

Expected dates are worked out by hand from the State Council notices as held by chinese_calendar 1.11.0
(pinned by test_package_data_we_rely_on):

2025 国庆  holidays Oct 1 (Wed) – Oct 8 (Wed); make-up workdays Sep 28 (Sun), Oct 11 (Sat)
2026 国庆  holidays Oct 1 (Thu) – Oct 7 (Wed); make-up Sep 20 (Sun), Oct 10 (Sat); 中秋 Sep 25–27 (Fri–Sun)
2025 春节  holidays Jan 28 (Tue) – Feb 4 (Tue); make-up Jan 26 (Sun), Feb 8 (Sat)
2026 春节  holidays Feb 15 (Sun) – Feb 23 (Mon); make-up Feb 14 (Sat), Feb 28 (Sat)
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

import chinese_calendar
import pytest

from engine.calendar import (
    DEFAULT_CALENDAR_PATH,
    LegalCalendar,
    bpmn_helpers,
    due,
    provisional_note,
    start_date,
)
from engine.clock import CHINA_TZ, running_at
from engine.errors import CalendarError
from engine.statutory_holidays import statutory_holidays


def eod(iso_day: str) -> str:
    return f"{iso_day}T23:59:59+08:00"


def _days(first: str, last: str) -> set[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return {a + timedelta(days=i) for i in range((b - a).days + 1)}


@pytest.fixture
def cal() -> LegalCalendar:
    return LegalCalendar()


# -- the data everything below relies on -------------------------------------------------------------


def test_package_data_we_rely_on():
    hol, work = chinese_calendar.holidays, chinese_calendar.workdays
    expected = {
        ("2025-09-20", "2025-10-20"): (_days("2025-10-01", "2025-10-08"), {"2025-09-28", "2025-10-11"}),
        ("2026-09-10", "2026-10-20"): (
            _days("2026-09-25", "2026-09-27") | _days("2026-10-01", "2026-10-07"),
            {"2026-09-20", "2026-10-10"},
        ),
        ("2025-01-15", "2025-02-15"): (_days("2025-01-28", "2025-02-04"), {"2025-01-26", "2025-02-08"}),
        ("2026-02-05", "2026-03-05"): (_days("2026-02-15", "2026-02-23"), {"2026-02-14", "2026-02-28"}),
    }
    for (first, last), (holidays, makeups) in expected.items():
        window = _days(first, last)
        assert {d for d in hol if d in window} == holidays, (first, last)
        assert {d for d in work if d in window} == {date.fromisoformat(s) for s in makeups}, (first, last)
    assert max(d.year for d in hol) == 2026 and min(d.year for d in hol) == 2004


# -- day classification ----------------------------------------------------------------------------


def test_day_classification_2025_national_day(cal):
    assert cal.is_workday(date(2025, 9, 26))          # Friday
    assert cal.is_rest_day(date(2025, 9, 27))         # plain Saturday
    assert cal.is_workday(date(2025, 9, 28))          # make-up Sunday
    assert cal.is_rest_day(date(2025, 10, 1))         # holiday
    assert cal.is_rest_day(date(2025, 10, 8))         # holiday, a Wednesday
    assert cal.is_workday(date(2025, 10, 11))         # make-up Saturday
    assert cal.is_rest_day(date(2025, 10, 12))        # plain Sunday


def test_is_workday_rejects_datetime_and_strings(cal):
    with pytest.raises(CalendarError, match="needs a date"):
        cal.is_workday(datetime(2025, 10, 9, 12, 0, tzinfo=CHINA_TZ))
    with pytest.raises(CalendarError, match="needs a date"):
        cal.is_workday("2025-10-09")


# -- natural days -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "start", "expected"),
    [
        (5, "2025-09-28", "2025-10-03"),   # ends on a holiday: no extension
        (7, "2026-09-30", "2026-10-07"),
        (15, "2025-01-20", "2025-02-04"),
        (10, "2026-02-13", "2026-02-23"),
        (1, "2025-10-10", "2025-10-11"),
        (0, "2025-10-04", "2025-10-04"),   # zero days: end of the start day itself
        (30, "2026-12-15", "2027-01-14"),  # pure arithmetic, needs no holiday data for 2027
    ],
)
def test_natural_days(cal, n, start, expected):
    assert cal.natural_days(n, start) == eod(expected)


# -- legal periods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "start", "expected"),
    [
        # 2025 国庆
        (5, "2025-09-28", "2025-10-09"),   # last day Oct 3 (holiday) -> first working day after the block
        (1, "2025-10-03", "2025-10-09"),   # last day Oct 4, a holiday Saturday
        (10, "2025-10-01", "2025-10-11"),  # last day Oct 11, make-up Saturday: a working day, no extension
        (11, "2025-10-01", "2025-10-13"),  # last day Sun Oct 12 -> Mon Oct 13
        (2, "2025-09-24", "2025-09-26"),   # ordinary Friday, nothing to extend
        (3, "2025-09-24", "2025-09-28"),   # last day Sat Sep 27 -> Sun Sep 28, a make-up workday
        # 2026 国庆 and 中秋
        (7, "2026-09-30", "2026-10-08"),
        (1, "2026-09-24", "2026-09-28"),   # Sep 25 (中秋 Friday) -> Mon Sep 28
        (16, "2026-09-24", "2026-10-10"),  # Oct 10 make-up Saturday
        # 2025 春节
        (15, "2025-01-20", "2025-02-05"),  # last day Feb 4 (holiday) -> Feb 5
        (5, "2025-01-20", "2025-01-26"),   # last day Sat Jan 25 -> make-up Sun Jan 26
        (19, "2025-01-20", "2025-02-08"),  # make-up Saturday Feb 8
        (20, "2025-01-20", "2025-02-10"),  # Sun Feb 9 -> Mon Feb 10
        # 2026 春节
        (3, "2026-02-13", "2026-02-24"),
        (1, "2026-02-13", "2026-02-14"),   # make-up Saturday Feb 14
        (15, "2026-02-13", "2026-02-28"),  # make-up Saturday Feb 28
        (16, "2026-02-13", "2026-03-02"),  # Sun Mar 1 -> Mon Mar 2
        (0, "2026-02-15", "2026-02-24"),   # zero days from a holiday still moves off the rest day
    ],
)
def test_legal_days(cal, n, start, expected):
    assert cal.legal_days(n, start) == eod(expected)


def test_legal_period_ending_on_plain_saturday_moves_to_monday(cal):
    # 2025-11-01 is a Saturday with no holiday or make-up around it.
    assert cal.legal_days(3, "2025-10-29") == eod("2025-11-03")
    assert cal.natural_days(3, "2025-10-29") == eod("2025-11-01")


# -- working days -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "start", "expected"),
    [
        # 2025 国庆
        (3, "2025-09-26", "2025-09-30"),   # Sat skipped, make-up Sun Sep 28 counts
        (1, "2025-09-30", "2025-10-09"),
        (5, "2025-09-30", "2025-10-14"),   # Oct 9, 10, 11 (make-up Sat), 13, 14
        (3, "2025-10-08", "2025-10-11"),   # start day (a holiday) not counted; Oct 9, 10, 11
        # 2026 国庆 and 中秋
        (10, "2026-09-18", "2026-10-09"),  # 20,21,22,23,24, 28,29,30, Oct 8, 9
        (11, "2026-09-18", "2026-10-10"),  # the make-up Saturday is the 11th
        (12, "2026-09-18", "2026-10-12"),
        # 2025 春节
        (2, "2025-01-24", "2025-01-27"),   # Jan 26 (make-up Sun), Jan 27
        (5, "2025-01-27", "2025-02-10"),   # Feb 5, 6, 7, 8 (make-up Sat), 10
        # 2026 春节
        (1, "2026-02-13", "2026-02-14"),   # make-up Saturday
        (2, "2026-02-13", "2026-02-24"),
        (6, "2026-02-13", "2026-02-28"),   # 14, 24, 25, 26, 27, 28 (make-up Sat)
        (7, "2026-02-13", "2026-03-02"),
        (0, "2026-02-15", "2026-02-15"),   # zero: end of the start day, whatever it is
    ],
)
def test_workdays(cal, n, start, expected):
    assert cal.workdays(n, start) == eod(expected)


def test_start_day_is_not_counted_even_when_it_is_a_working_day(cal):
    # Thursday 2025-10-09 is a working day; 1 working day after it is Friday the 10th, not the 9th.
    assert cal.workdays(1, "2025-10-09") == eod("2025-10-10")
    assert cal.legal_days(1, "2025-10-09") == eod("2025-10-10")
    assert cal.natural_days(1, "2025-10-09") == eod("2025-10-10")


# -- start handling ---------------------------------------------------------------------------------


def test_start_date_is_the_china_date_of_an_aware_datetime(cal):
    utc_evening = datetime(2026, 9, 30, 20, 0, tzinfo=timezone.utc)  # 2026-10-01 04:00 in China
    assert start_date(utc_evening) == date(2026, 10, 1)
    assert cal.natural_days(1, utc_evening) == eod("2026-10-02")
    assert cal.legal_days(1, utc_evening) == eod("2026-10-08")
    assert cal.natural_days(1, "2026-09-30T20:00:00Z") == eod("2026-10-02")
    assert cal.natural_days(1, "2026-09-30T20:00:00+00:00") == eod("2026-10-02")


def test_naive_start_means_china_time(cal):
    assert start_date(datetime(2026, 9, 30, 20, 0)) == date(2026, 9, 30)
    assert cal.natural_days(1, "2026-09-30T20:00:00") == eod("2026-10-01")
    assert cal.natural_days(1, datetime(2026, 9, 30, 23, 59)) == eod("2026-10-01")


def test_date_start(cal):
    assert cal.workdays(5, date(2025, 9, 30)) == eod("2025-10-14")


def test_default_start_is_the_running_commands_now(cal):
    with running_at(datetime(2025, 9, 27, 17, 0, tzinfo=timezone.utc)):  # 2025-09-28 01:00 China
        assert cal.natural_days(5) == eod("2025-10-03")
        assert cal.legal_days(5) == eod("2025-10-09")
        assert cal.workdays(1) == eod("2025-09-29")


@pytest.mark.parametrize("bad", ["not a date", "2025-13-01", "", 20251001, 3.5, ["2025-10-01"]])
def test_bad_start(cal, bad):
    with pytest.raises(CalendarError, match="ISO 8601"):
        cal.legal_days(3, bad)


# -- datetime variants --------------------------------------------------------------------------------


def test_dt_variants_are_aware_end_of_day(cal):
    got = cal.legal_days_dt(5, "2025-09-28")
    assert got == datetime(2025, 10, 9, 23, 59, 59, tzinfo=CHINA_TZ)
    assert got.utcoffset() == timedelta(hours=8)
    assert cal.workdays_dt(5, "2025-09-30") == datetime(2025, 10, 14, 15, 59, 59, tzinfo=timezone.utc)
    assert cal.natural_days_dt(5, "2025-09-28") == datetime(2025, 10, 3, 23, 59, 59, tzinfo=CHINA_TZ)


def test_string_result_parses_back(cal):
    s = cal.legal_days(5, "2025-09-28")
    assert datetime.fromisoformat(s) == cal.legal_days_dt(5, "2025-09-28")


# -- bad n ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, 1.5, 2.0, True, False, "5", None])
@pytest.mark.parametrize("fn", ["natural_days", "legal_days", "workdays", "legal_days_dt"])
def test_bad_n(cal, fn, bad):
    with pytest.raises(CalendarError, match="number of days"):
        getattr(cal, fn)(bad, "2025-10-01")


def test_huge_n_is_a_calendar_error(cal):
    with pytest.raises(CalendarError, match="outside the supported date range"):
        cal.natural_days(10**7, "2025-10-01")


# -- overrides: closures and extra workdays ---------------------------------------------------------


def test_closures_are_not_working_days():
    cal = LegalCalendar({"closures": ["2025-10-09", date(2026, 2, 14)]})
    assert cal.is_rest_day(date(2025, 10, 9))
    assert cal.workdays(1, "2025-09-30") == eod("2025-10-10")
    assert cal.legal_days(1, "2025-10-07") == eod("2025-10-10")   # Oct 8 holiday, Oct 9 closed
    assert cal.natural_days(2, "2025-10-07") == eod("2025-10-09")  # natural days ignore closures
    # A closure on a make-up Saturday removes it too.
    assert cal.workdays(1, "2026-02-13") == eod("2026-02-24")


def test_extra_workdays():
    cal = LegalCalendar({"extra_workdays": ["2025-10-12"]})        # a Sunday
    assert cal.is_workday(date(2025, 10, 12))
    assert cal.legal_days(11, "2025-10-01") == eod("2025-10-12")
    assert cal.workdays(4, "2025-09-30") == eod("2025-10-12")


def test_overrides_do_not_stand_in_for_a_missing_year():
    cal = LegalCalendar({"extra_workdays": ["2100-01-06"]})
    with pytest.raises(CalendarError, match="2100"):
        cal.is_workday(date(2100, 1, 6))


# -- overrides: whole years -------------------------------------------------------------------------

# Test data only (invented, not the 2027 notice): Jan 1 2027 is a Friday.
FAKE_2027 = {"years": {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-09"]}}}


def test_override_year_data():
    cal = LegalCalendar(FAKE_2027)
    assert cal.is_rest_day(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 9))                          # Saturday declared a working day
    assert cal.legal_days(1, "2026-12-31") == eod("2027-01-04")      # Fri holiday, Sat, Sun -> Mon
    assert cal.workdays(6, "2026-12-31") == eod("2027-01-09")        # Jan 4..8, then make-up Sat 9
    assert 2027 in cal.covered_years()


def test_override_replaces_package_year():
    cal = LegalCalendar({"years": {2025: {"holidays": [date(2025, 10, 1)]}}})
    assert cal.is_rest_day(date(2025, 10, 1))
    assert cal.is_workday(date(2025, 10, 2))      # a holiday in the package, not in the override
    assert cal.is_rest_day(date(2025, 9, 28))     # make-up Sunday in the package, not in the override


def test_from_toml(tmp_path):
    p = tmp_path / "calendar.toml"
    p.write_text(
        'closures = [2025-10-09]\n'
        'extra_workdays = ["2025-10-12"]\n'
        '[years.2027]\n'
        'holidays = [2027-01-01]\n'
        'workdays = ["2027-01-09"]\n',
        encoding="utf-8",
    )
    cal = LegalCalendar.from_toml(p)
    assert cal.workdays(1, "2025-09-30") == eod("2025-10-10")
    assert cal.legal_days(11, "2025-10-01") == eod("2025-10-12")
    assert cal.legal_days(1, "2026-12-31") == eod("2027-01-04")


def test_from_mapping():
    cal = LegalCalendar.from_mapping(FAKE_2027)
    assert cal.workdays(6, "2026-12-31") == eod("2027-01-09")
    assert LegalCalendar.from_mapping(None).workdays(1, "2025-09-30") == eod("2025-10-09")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"closure": ["2025-10-09"]}, "unknown calendar override key"),
        ({"years": {"2027": {"holiday": ["2027-01-01"]}}}, r"unknown key\(s\) \['holiday'\] in \[years.2027\]"),
        ({"years": {"2027": {}}}, r"\[years.2027\] has no holidays"),
        ({"years": {"2027": {"holidays": ["2028-01-01"]}}}, "another year: 2028-01-01"),
        ({"years": {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}}}, "both holidays and workdays"),
        ({"years": {"next": {"provisional": True}}}, "must be a year"),
        ({"years": {"2027": {"provisional": "yes"}}}, "true or false"),
        ({"closures": ["2025-10-09"], "extra_workdays": ["2025-10-09"]}, "both as closures and extra_workdays"),
        ({"closures": ["2025-10-32"]}, "not a YYYY-MM-DD date"),
        ({"closures": "2025-10-09"}, "must be a list"),
        ({"closures": [datetime(2025, 10, 9, 8, 0)]}, "has a time"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(CalendarError, match=message):
        LegalCalendar(overrides)


def test_bad_toml_files(tmp_path):
    with pytest.raises(CalendarError, match="not found"):
        LegalCalendar.from_toml(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("closures = [2025-10-09\n", encoding="utf-8")
    with pytest.raises(CalendarError, match="not valid TOML"):
        LegalCalendar.from_toml(broken)
    typo = tmp_path / "typo.toml"
    typo.write_text("[years.2027]\nholiday = [2027-01-01]\n", encoding="utf-8")
    with pytest.raises(CalendarError, match=r"typo\.toml: unknown key"):
        LegalCalendar.from_toml(typo)


# -- provisional years ------------------------------------------------------------------------------


def _provisional_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and "provisional" in r.getMessage()]


def test_provisional_year_has_its_statutory_holidays_and_warns_once(caplog):
    cal = LegalCalendar({"years": {"2027": {"provisional": True}}})
    caplog.set_level(logging.WARNING, logger="engine.calendar")
    assert _provisional_warnings(caplog) == []                     # nothing logged until the year is used
    assert cal.legal_days(1, "2026-12-31") == eod("2027-01-04")    # 元旦 (Fri), Sat, Sun -> Monday
    assert cal.workdays(3, "2026-12-31") == eod("2027-01-06")      # Jan 4, 5, 6
    assert cal.is_workday(date(2027, 2, 9)) and cal.is_rest_day(date(2027, 2, 5))  # 春节: 除夕 Feb 5 to 初三 Feb 8
    warnings = _provisional_warnings(caplog)
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "2027" in message and "config/calendar.toml" in message and "statutory holidays computed" in message


def test_the_calendar_never_ends_a_right_on_a_computed_holiday():
    """Issue 17 §3: 2026-12-02 + 30 legal days is not 元旦, 2026-12-10 + 60 is not 正月初三."""
    cal = LegalCalendar({"years": {"2027": {"provisional": True}}})
    assert cal.natural_days(30, "2026-12-02") == eod("2027-01-01")  # the arithmetic end is 元旦 ...
    assert cal.legal_days(30, "2026-12-02") == eod("2027-01-04")    # ... so the period runs to Monday
    assert cal.legal_days(60, "2026-12-10") == eod("2027-02-09")    # 正月初三 (Mon 8 Feb) -> Tue 9 Feb
    assert cal.workdays(5, "2027-09-13") == eod("2027-09-21")       # 中秋 Wed 15 Sep skipped: 14, 16, 17, 20, 21
    note = provisional_note("2026-12-02", cal.legal_days(30, "2026-12-02"), cal)
    assert note is not None and "2027" in note and "调休" in note
    assert provisional_note("2026-03-02", cal.legal_days(30, "2026-03-02"), cal) is None  # 2026 is known


@pytest.mark.parametrize("year", [2025, 2026])
def test_computed_statutory_holidays_are_in_the_published_notices(year):
    """The rules computed for a year the State Council has published: every computed day is a holiday there."""
    computed = statutory_holidays(year)
    assert len(computed) == 13
    assert set(computed) <= {d for d in chinese_calendar.holidays if d.year == year}


def test_statutory_holidays_of_2027():
    assert {d.isoformat(): name for d, name in statutory_holidays(2027).items()} == {
        "2027-01-01": "元旦", "2027-02-05": "春节", "2027-02-06": "春节", "2027-02-07": "春节", "2027-02-08": "春节",
        "2027-04-05": "清明节", "2027-05-01": "劳动节", "2027-05-02": "劳动节", "2027-06-09": "端午节",
        "2027-09-15": "中秋节", "2027-10-01": "国庆节", "2027-10-02": "国庆节", "2027-10-03": "国庆节"}
    assert statutory_holidays(2024) == {} and statutory_holidays(2100) == {}  # outside the 2024 rules' years


def test_a_make_up_day_listed_in_a_provisional_year_stays_a_working_day():
    cal = LegalCalendar({"years": {"2027": {"provisional": True, "workdays": ["2027-02-05"]}}})
    assert cal.is_workday(date(2027, 2, 5)) and cal.is_rest_day(date(2027, 2, 6))


def test_a_provisional_year_beyond_the_rules_is_weekends_only(caplog):
    caplog.set_level(logging.WARNING, logger="engine.calendar")
    cal = LegalCalendar({"years": {"2100": {"provisional": True}}})
    assert cal.is_workday(date(2100, 1, 1))                        # a Friday: no rules computed that far
    assert any("weekends only" in r.getMessage() for r in _provisional_warnings(caplog))


def test_provisional_year_with_known_dates():
    cal = LegalCalendar({"years": {"2027": {"provisional": True, "holidays": ["2027-01-01"]}}})
    assert cal.legal_days(1, "2026-12-31") == eod("2027-01-04")


def test_provisional_entry_for_a_package_year_is_ignored(caplog):
    caplog.set_level(logging.WARNING, logger="engine.calendar")
    cal = LegalCalendar({"years": {"2025": {"provisional": True}}})
    assert cal.is_rest_day(date(2025, 10, 1))                      # package data still used
    assert any("remove the entry" in r.getMessage() for r in caplog.records)


def test_default_config_file():
    cal = LegalCalendar.from_toml(DEFAULT_CALENDAR_PATH)
    assert cal.closures == frozenset() and cal.extra_workdays == frozenset()
    data = cal.year_data(2027)
    assert data.provisional is True
    assert data.holidays == frozenset(statutory_holidays(2027)) and data.workdays == frozenset()  # no 调休 invented
    assert cal.workdays(3, "2026-12-30") == eod("2027-01-05")              # Dec 31, (元旦), Jan 4, Jan 5
    with pytest.raises(CalendarError, match="2100"):
        cal.is_workday(date(2100, 1, 4))


# -- years without data -----------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "year"), [(date(2100, 3, 3), "2100"), (date(2003, 5, 6), "2003")])
def test_year_without_data(cal, day, year):
    with pytest.raises(CalendarError, match=rf"no holiday data for the year {year}.*config/calendar.toml") as exc:
        cal.is_workday(day)
    assert exc.value.details == {"year": int(year)}


def test_period_running_into_a_year_without_data(cal):
    # Beyond the rules (2099) nobody knows the holidays: a deadline there fails loudly, it does not pretend the
    # year has none.
    with pytest.raises(CalendarError, match="2100"):
        cal.workdays(5, "2099-12-28")
    with pytest.raises(CalendarError, match="2100"):
        cal.legal_days(5, "2099-12-28")
    with pytest.raises(CalendarError, match="2003"):
        cal.legal_days(3, "2003-05-01")


def test_a_year_nobody_entered_runs_on_its_computed_statutory_holidays(cal, caplog):
    # The package stops at 2026 and this calendar has no overrides: 2027 and 2031 still know their statutory
    # holidays (元旦, 春节 from 除夕 ...), are provisional, and say so once in the log.
    caplog.set_level(logging.WARNING, logger="engine.calendar")
    assert cal.is_provisional(2027) and cal.is_provisional(2031) and not cal.is_provisional(2026)
    assert cal.legal_days(30, "2026-12-02") == eod("2027-01-04")          # 2027-01-01 is 元旦, then a weekend
    assert cal.legal_days(60, "2026-12-10") == eod("2027-02-09")          # 02-08 is 正月初三 (春节): moves to Tue
    assert cal.workdays(5, "2026-12-28") == eod("2027-01-05")
    assert cal.is_rest_day(date(2031, 1, 1)) and cal.is_workday(date(2031, 1, 2))
    assert cal.provisional_years(date(2026, 12, 2), date(2031, 2, 1)) == [2027, 2028, 2029, 2030, 2031]
    assert cal.provisional_years_from(date(2026, 12, 2)) == [2027]        # the banner: the years deadlines reach
    assert cal.provisional_years_from(date(2027, 3, 1)) == [2027, 2028]
    warned = [r.getMessage() for r in _provisional_warnings(caplog)]
    assert len([m for m in warned if "year 2027" in m]) == 1 and any("year 2031" in m for m in warned)


# -- integration points -----------------------------------------------------------------------------


def test_bpmn_helpers(cal):
    helpers = bpmn_helpers(cal)
    assert set(helpers) == {"workdays", "legal_days", "natural_days"}
    assert helpers["legal_days"](5, "2025-09-28") == eod("2025-10-09")
    assert helpers["workdays"](5, "2025-09-30") == eod("2025-10-14")
    assert helpers["natural_days"](5, "2025-09-28") == eod("2025-10-03")
    with running_at(datetime(2026, 2, 13, 2, 0, tzinfo=timezone.utc)):
        assert helpers["workdays"](1) == eod("2026-02-14")


def test_helpers_use_the_calendar_they_are_bound_to():
    helpers = bpmn_helpers(LegalCalendar({"closures": ["2025-10-09"]}))
    assert helpers["workdays"](1, "2025-09-30") == eod("2025-10-10")


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("natural", "2025-10-03"), ("legal", "2025-10-09"), ("working", "2025-10-11")],  # Sep 29, 30, Oct 9, 10, 11
)
def test_due(cal, unit, expected):
    assert due("2025-09-28", 5, unit, cal) == eod(expected)


@pytest.mark.parametrize("unit", ["workdays", "Working", "days", ""])
def test_due_unknown_unit(cal, unit):
    with pytest.raises(CalendarError, match="natural, working, legal"):
        due("2025-09-28", 5, unit, cal)
