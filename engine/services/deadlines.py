"""Recomputing deadlines after the calendar of a year changed (issue 17 §3).

A year without the State Council notice runs provisional: its statutory holidays are computed, its 调休 and
bridge days are not (engine/calendar.py). When the notice is entered (config/calendar.toml today, the
administration console later), a deadline computed under the provisional year may move. This command walks
the open cases with a deadline in that year or later and, per case, in one command each (one transaction):

* a waiting BPMN timer with a date expression (timeDate) is evaluated again under the calendar now in force,
  as of now when its value does not depend on the moment (`legal_days(30, reply_served_date)`: an explicit
  start), else as of the moment it was armed (the `created_at` of the user task it is attached to);
* an open user task's due date (its dueDate expression) is evaluated again as of the task's `created_at`;
* what moved is recorded as a `deadlines_recomputed` event per case (old and new moment, element, reason),
  and the ladder follows: its steps derive from the task's due date (timer_index rebuilds them in the same
  command).

A timer of an intermediate event whose moment depends on when it was reached, or an expression that no longer
evaluates, cannot be recomputed safely: it is reported, not guessed, so an operator can review it. A timer
whose moment an earlier script stored in a variable (`mediation_deadline = legal_days(30)`) keeps that
value: designers compute statutory windows in the timer expression from a start date (docs/designers.md).

Replay (history.verify_case) sets the recorded timer values, so a verified case stays verified.
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine import runtime
from engine.actors import SYSTEM, Actor
from engine.clock import CHINA_TZ
from engine.deadlines import CaseRecomputed, recompute_cases
from engine.errors import CalendarError, Forbidden
from engine.messages import msg
from engine.models import CalendarYearModel
from engine.timer_firing import wall_now

log = logging.getLogger(__name__)


def recompute_deadlines(session: Session, year: int, actor: Actor, now: datetime | None = None,
                        reason: str | None = None) -> list[CaseRecomputed]:
    """Recompute every open deadline that may depend on `year`'s calendar; one command (and commit) per case
    that changed. Returns the cases that changed or need a review. Raises Forbidden (operators only)."""
    if not (actor.is_system or actor.is_admin):
        raise Forbidden(msg("deadlines.forbidden"))
    return _recompute_year(session, year, actor, now or runtime.of(session).clock.now(),
                           reason or f"{year}年放假安排变更，重新计算期限")


def _recompute_year(session: Session, year: int, actor: Actor, now: datetime, reason: str) -> list[CaseRecomputed]:
    out = recompute_cases(session, year, actor.username, now, reason)
    for found in out:
        log.info("case %s: %d deadline(s) recomputed for %d, %d to review", found.code, len(found.moved), year,
                 len(found.unsure))
    return out


# ---------------------------------------------------------------- a changed calendar, noticed by the scheduler

YEARS = CalendarYearModel.__table__
_Y = YEARS.c
AUTO_REASON = "{year}年日历数据已变更（放假安排录入或调整），系统自动重新计算期限"


@dataclass
class YearRecomputed:
    year: int
    cases: list[CaseRecomputed]


def default_owner() -> str:
    """Who claims a year's recompute: this host and process (several schedulers may run)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def recompute_changed_years(session: Session, owner: str | None = None, now: datetime | None = None,
                            lease: timedelta = timedelta(minutes=30),
                            wall: Callable[[], datetime] = wall_now) -> list[YearRecomputed]:
    """Compare each watched year's calendar digest (LegalCalendar.fingerprint) with the one its deadlines were
    computed under (calendar_years) and recompute every year that changed, once, as `jiefen calendar recompute`
    does (one recorded command per case, by the system). A year seen for the first time is stored as it is.

    Several schedulers may run: a changed year's row is claimed first (an UPDATE that only one wins, the lease
    on the wall clock), and its digest is moved on only after the recompute finished, so a process that dies
    half-way leaves the year to be claimed again when the lease ends (a recompute done twice changes nothing).
    Costs one small SELECT when nothing changed. Commits."""
    rt = runtime.of(session)
    now = now or rt.clock.now()
    owner = owner or default_owner()
    current: dict[int, str] = {}
    for year in rt.calendar.watched_years(now.astimezone(CHINA_TZ).date()):
        try:
            current[year] = rt.calendar.fingerprint(year)
        except CalendarError:
            continue  # a year nobody can compute (after 2099): nothing in it to recompute
    stored = dict(session.execute(select(_Y.year, _Y.fingerprint)).all())
    for year in (y for y in current if y not in stored):
        if _insert_year(session, year, current[year]):
            stored[year] = current[year]
    session.commit()
    done = []
    for year in sorted(y for y, digest in current.items() if stored.get(y) not in (None, digest)):
        until = wall() + lease
        claimed = session.execute(update(YEARS).where(
            _Y.year == year, _Y.fingerprint == stored[year],
            or_(_Y.claimed_until.is_(None), _Y.claimed_until < wall())).values(claimed_by=owner, claimed_until=until))
        session.commit()
        if claimed.rowcount != 1:
            continue  # another scheduler has it (or finished it meanwhile)
        log.info("calendar of %s changed: recomputing its open deadlines", year)
        cases = _recompute_year(session, year, SYSTEM, now, AUTO_REASON.format(year=year))
        session.execute(update(YEARS).where(_Y.year == year, _Y.claimed_by == owner).values(
            fingerprint=current[year], claimed_by=None, claimed_until=None, recomputed_at=now))
        session.commit()
        log.info("calendar of %s: %d case(s) recomputed", year, len(cases))
        done.append(YearRecomputed(year, cases))
    return done


def _insert_year(session: Session, year: int, digest: str) -> bool:
    """Store a year seen for the first time; False when another process stored it first (ON CONFLICT DO
    NOTHING: PostgreSQL and SQLite both have it)."""
    dialect = session.get_bind().dialect.name
    insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
    done = session.execute(insert_(YEARS).values(year=year, fingerprint=digest).on_conflict_do_nothing())
    return done.rowcount == 1
