"""The statutory public holidays of a year, computed from 全国年节及纪念日放假办法 (2024 revision, in force from
2025-01-01, 第二条): 元旦 1 day (1 January), 春节 4 days (农历除夕 and 正月初一 to 初三), 清明节 1 day (the day of the
清明 solar term), 劳动节 2 days (1–2 May), 端午节 1 day (农历五月初五), 中秋节 1 day (农历八月十五), 国庆节 3 days
(1–3 October).

These days are known before the State Council's yearly notice; the notice only adds the 调休 arrangements
(make-up working days, bridge days). engine/calendar.py uses them for a year marked provisional, so that a
deadline never ends on 元旦 or during 春节 just because the notice is not out yet.

Lunar dates and the solar term come from sxtwl (寿星天文历), a maintained astronomical calendar library.
"""
from __future__ import annotations

import functools
from datetime import date, timedelta

import sxtwl

#: The years the 2024 rules are applied to: from their entry into force, and not further ahead than a
#: revision of the rules could reasonably be foreseen (a later year stays "weekends only" until entered).
FIRST_YEAR, LAST_YEAR = 2025, 2099
RULES = "全国年节及纪念日放假办法（2024年修订）"
_QINGMING = 7  # sxtwl's index of the 清明 solar term within a year's list


def covers(year: int) -> bool:
    return FIRST_YEAR <= year <= LAST_YEAR


def _lunar(year: int, month: int, day: int) -> date:
    found = sxtwl.fromLunar(year, month, day)
    return date(found.getSolarYear(), found.getSolarMonth(), found.getSolarDay())


def _qingming(year: int) -> date:
    for term in sxtwl.getJieQiByYear(year):
        if term.jqIndex == _QINGMING:
            moment = sxtwl.JD2DD(term.jd)  # Beijing time
            return date(int(moment.Y), int(moment.M), int(moment.D))
    raise ValueError(f"no 清明 in sxtwl's solar terms of {year}")  # pragma: no cover - every year has one


@functools.cache
def statutory_holidays(year: int) -> dict[date, str]:
    """Every statutory holiday of `year` with its festival's name; {} outside FIRST_YEAR..LAST_YEAR."""
    if not covers(year):
        return {}
    new_year = _lunar(year, 1, 1)
    days = {date(year, 1, 1): "元旦", _qingming(year): "清明节", date(year, 5, 1): "劳动节", date(year, 5, 2): "劳动节",
            _lunar(year, 5, 5): "端午节", _lunar(year, 8, 15): "中秋节",
            date(year, 10, 1): "国庆节", date(year, 10, 2): "国庆节", date(year, 10, 3): "国庆节"}
    for offset in range(-1, 3):  # 除夕, 正月初一, 初二, 初三
        days[new_year + timedelta(days=offset)] = "春节"
    return dict(sorted(days.items()))
