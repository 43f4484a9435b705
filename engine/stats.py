"""The center's statistics (issue 18 §2): every figure defined once, the daily counters behind them, and how a
command's history rows change those counters.

Each figure below names its numerator, denominator and period (docs/statistics.md explains them to a center).
The counters live in `stats_daily`: one row per China day × handling unit × process × category × channel, each
a sum of what the case commands recorded that day. A command adds to them in its own transaction (casework's
save and a ladder step call `count_events` with the history rows they append), so a year's figures read at most
a year of daily rows — never the cases or their history. `rebuild` recounts them from the history (after an
upgrade, or to check the running counts).

A counted fact is filed under the case's unit, process, category and channel as they are once the command that
recorded it is saved (a case moved up by 上报 counts its later facts at the new unit)."""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Integer, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.clock import CHINA_TZ
from engine.models import CaseEventModel, CaseModel, StatsDailyModel, TaskModel

log = logging.getLogger(__name__)

S = StatsDailyModel.__table__
KEY = ("day", "org_unit_id", "process_id", "category", "channel")
COUNTERS = ("received", "closed", "closed_on_time", "resolved", "handling_seconds", "responded",
            "responded_on_time", "rated", "rated_satisfied", "rated_basically", "rated_dissatisfied",
            "prompts", "reminders", "notices", "listings",
            # filed under the unit that held the task (group_by=dept), not the case's
            "tasks_opened", "tasks_completed", "tasks_completed_on_time", "task_handling_seconds")
TASK_COUNTERS = COUNTERS[-4:]

# The parties' ratings: the revisit form's `satisfaction` (dispute, petition_revisit) and the party's own
# rating through the public lookup (`party_rating`); ids or their names. Anything else (no_rating: 未评价)
# is no rating.
RATING_FIELDS = ("satisfaction", "party_rating")
RATINGS = {"satisfied": "rated_satisfied", "满意": "rated_satisfied",
           "basically_satisfied": "rated_basically", "基本满意": "rated_basically",
           "dissatisfied": "rated_dissatisfied", "不满意": "rated_dissatisfied"}
# The ladder's steps (engine/ladder.py LADDER) by warning level
LEVEL_COUNTERS = {1: "prompts", 2: "reminders", 3: "notices", 4: "listings"}
# The API's names of the supervision counts: the ladder's step names (提示, 催办, 督办, 挂牌督办)
SUPERVISION_KEYS = {"prompts": "prompt", "reminders": "reminder", "notices": "notice", "listings": "listing"}


@dataclass(frozen=True)
class Figure:
    key: str
    name: str  # as a center reports it
    numerator: str  # the counter summed (or how the figure is computed)
    denominator: str | None  # the counter it is divided by; None: a count
    period: str  # which moment puts a fact in the period


# The one definition of every figure: the API, the dashboard, exports and docs/statistics.md read these.
FIGURES = (
    Figure("received", "受理数", "received", None, "the day the case was opened"),
    Figure("closed", "办结数", "closed", None, "the day the case closed"),
    Figure("closed_rate", "办结率", "closed", "received", "closings and receipts each on their own day"),
    Figure("closed_on_time_rate", "按期办结率", "closed_on_time", "closed", "the day the case closed"),
    Figure("resolved", "化解数", "resolved", None, "the day the case closed"),
    Figure("resolved_rate", "化解率", "resolved", "closed", "the day the case closed"),
    Figure("responded_on_time_rate", "响应率", "responded_on_time", "responded",
           "the day the case's first task was completed"),
    Figure("overdue_open", "超期在办", "open cases with a task past its due date", None,
           "the period's end (known for a period ending today or later)"),
    Figure("satisfaction_rate", "满意率", "rated_satisfied + rated_basically", "rated", "the day of the rating"),
    Figure("avg_handling_days", "平均办理天数", "handling_seconds / 86400", "closed", "the day the case closed"),
    Figure("supervision", "督办次数", "prompts, reminders, notices, listings", None,
           "the day the ladder step was issued"),
)


def china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def figures_of(sums: dict) -> dict:
    """The figures of summed counters (a dict with every counter), as the API returns them: counts as
    integers, rates as fractions rounded to 4 places (None when the denominator is 0)."""
    def rate(numerator: float, denominator: int):
        return round(numerator / denominator, 4) if denominator else None

    closed = sums["closed"]
    return {
        "received": sums["received"], "closed": closed,
        "closed_rate": rate(closed, sums["received"]),
        "closed_on_time_rate": rate(sums["closed_on_time"], closed),
        "resolved": sums["resolved"], "resolved_rate": rate(sums["resolved"], closed),
        "responded_on_time_rate": rate(sums["responded_on_time"], sums["responded"]),
        "overdue_open": sums.get("overdue_open"),
        "satisfaction_rate": rate(sums["rated_satisfied"] + sums["rated_basically"], sums["rated"]),
        "avg_handling_days": round(sums["handling_seconds"] / 86400 / closed, 2) if closed else None,
        "supervision": {SUPERVISION_KEYS[k]: sums[k] for k in LEVEL_COUNTERS.values()},
    }


# group_by=dept: the same keys, over the tasks each unit held (a resident department, a handling unit); the
# figures of cases (化解, 响应, 满意, 督办) are null there.
TASK_FIGURES = (
    Figure("received", "承办任务数", "tasks_opened", None, "the day the task opened"),
    Figure("closed", "办结任务数", "tasks_completed", None, "the day a person completed it"),
    Figure("closed_rate", "任务办结率", "tasks_completed", "tasks_opened", "each on its own day"),
    Figure("closed_on_time_rate", "任务按期办结率", "tasks_completed_on_time", "tasks_completed",
           "the day a person completed it"),
    Figure("overdue_open", "超期任务数", "open tasks past their due date held by the unit", None, "now"),
    Figure("avg_handling_days", "任务平均办理天数", "task_handling_seconds / 86400", "tasks_completed",
           "the day a person completed it"),
)


def task_figures_of(sums: dict) -> dict:
    """The figures of a unit's tasks (TASK_FIGURES), in the shape of figures_of."""
    def rate(numerator: float, denominator: int):
        return round(numerator / denominator, 4) if denominator else None

    done = sums["tasks_completed"]
    return {
        "received": sums["tasks_opened"], "closed": done, "closed_rate": rate(done, sums["tasks_opened"]),
        "closed_on_time_rate": rate(sums["tasks_completed_on_time"], done), "resolved": None, "resolved_rate": None,
        "responded_on_time_rate": None, "overdue_open": sums.get("overdue_open"), "satisfaction_rate": None,
        "avg_handling_days": round(sums["task_handling_seconds"] / 86400 / done, 2) if done else None,
        "supervision": None,
    }


# ---------------------------------------------------------------- counting what a command recorded

@dataclass
class CaseState:
    """What counting needs to remember about a case between its commands: when it first responded (its first
    completed task) and when it first went late (a task completed after its due date). Live, the case row
    keeps them (cases.responded_at, cases.late_at); a rebuild keeps them while it replays the history."""

    opened_at: datetime
    responded_at: datetime | None = None
    late_at: datetime | None = None


def _due(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return _as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class TaskFacts:
    """What counting a completed task needs of it: its due date, the unit that held it, when it opened."""

    due_at: datetime | str | None = None
    org_unit_id: int | None = None
    created_at: datetime | None = None


def count(rows: Iterable[dict], state: CaseState, task_of) -> dict[tuple[date, int | None], dict[str, int]]:
    """The counters a case's history rows add, by (China day, unit): the unit is None for the case's own unit,
    else the unit that held the task (the task counters). `task_of(row)`: the TaskFacts of the task a
    task_completed row completed. Changes `state` (first response, lateness)."""
    out: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        kind, at, payload = row["type"], _as_utc(row["at"]), row.get("payload") or {}
        day = out[(china_day(at), None)]
        if kind == "case_started":
            day["received"] += 1
        elif kind == "task_opened" and payload.get("roles") is not None and "sheet" not in payload:
            out[(china_day(at), payload.get("org_unit_id"))]["tasks_opened"] += 1  # a process task, not a follow-up
        elif kind == "task_completed" and "command" in payload:  # a person completed it (not the process)
            task = task_of(row) or TaskFacts()
            due = _due(task.due_at)
            late = due is not None and at > due
            held = out[(china_day(at), task.org_unit_id)]
            held["tasks_completed"] += 1
            held["tasks_completed_on_time"] += 0 if late else 1
            if task.created_at is not None:
                held["task_handling_seconds"] += max(int((at - _as_utc(task.created_at)).total_seconds()), 0)
            if state.responded_at is None:
                state.responded_at = at
                day["responded"] += 1
                day["responded_on_time"] += 0 if late else 1
            if late and state.late_at is None:
                state.late_at = at
        elif kind == "case_closed":
            day["closed"] += 1
            day["closed_on_time"] += 1 if state.late_at is None else 0
            day["resolved"] += 1 if payload.get("outcome_class") == "resolved" else 0
            day["handling_seconds"] += int((at - _as_utc(state.opened_at)).total_seconds())
        elif kind == "task_escalated" and payload.get("level") in LEVEL_COUNTERS:
            day[LEVEL_COUNTERS[payload["level"]]] += 1
        for key, (before, after) in (payload.get("changes") or {}).items():
            if key in RATING_FIELDS and before != after:
                if before in RATINGS:  # a rating corrected: the old one no longer counts
                    day["rated"] -= 1
                    day[RATINGS[before]] -= 1
                if after in RATINGS:
                    day["rated"] += 1
                    day[RATINGS[after]] += 1
    return {key: dict(c) for key, c in out.items() if any(c.values())}


def _upsert(dialect: str):
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(S)
    stmt = insert.values({c: bindparam(c, type_=S.c[c].type) for c in KEY + COUNTERS})
    return stmt.on_conflict_do_update(index_elements=list(KEY),
                                      set_={c: S.c[c] + stmt.excluded[c] for c in COUNTERS})


_UPSERTS = {name: _upsert(name) for name in ("sqlite", "postgresql")}


def key_of(case: CaseModel, day: date, unit_id: int | None = None) -> dict:
    return {"day": day, "org_unit_id": unit_id or case.org_unit_id, "process_id": case.process_id,
            "category": case.category or "", "channel": case.channel or ""}


def add(session: Session, case: CaseModel, counts: dict[tuple, dict[str, int]], writes: list | None = None) -> None:
    """Add the counts to the case's daily rows: buffered in `writes` (a command's save) or sent now."""
    if not counts:
        return
    stmt = _UPSERTS[session.get_bind().dialect.name]
    # in key order: two commands upserting the same rows lock them in the same order (no deadlock)
    params = sorted(({**key_of(case, day, unit), **{c: counters.get(c, 0) for c in COUNTERS}}
                     for (day, unit), counters in counts.items()), key=lambda p: (p["day"], p["org_unit_id"]))
    if writes is not None:
        writes.extend((stmt, p) for p in params)
    else:
        session.execute(stmt, params)


def count_events(session: Session, case: CaseModel, rows: list[dict], task_rows: dict | None = None,
                 writes: list | None = None, refiled: dict | None = None) -> None:
    """Count a command's history rows for the case (under its lock) and keep the case's first response and
    lateness on its row. `task_rows`: the case's task rows read by the command (for the due date of the task
    it completed); without them that one row is read. `refiled`: the category and channel the case had before
    this command changed them — its receipt moves from those to the case's own (a case opened first and
    registered by its first task is received under what it was registered as, as a rebuild counts it)."""
    if refiled is not None:
        _refile_receipt(session, case, refiled, writes)
    if not any(r["type"] in _COUNTED or (r.get("payload") or {}).get("changes") for r in rows):
        return

    def task_of(row):
        task = (task_rows or {}).get(row["task_id"])
        if task is None and task_rows is None and row["task_id"]:
            with session.no_autoflush:  # the case row is written by the command's own UPDATE, not a flush
                task = session.execute(select(_TASKS.c.due_at, _TASKS.c.org_unit_id, _TASKS.c.created_at)
                                       .where(_TASKS.c.id == row["task_id"])).first()
        return TaskFacts(task.due_at, task.org_unit_id, task.created_at) if task is not None else None

    state = CaseState(case.opened_at, case.responded_at, case.late_at)
    counts = count(rows, state, task_of)
    if state.responded_at != case.responded_at:
        case.responded_at = state.responded_at
    if state.late_at != case.late_at:
        case.late_at = state.late_at
    add(session, case, counts, writes)


def _refile_receipt(session: Session, case: CaseModel, before: dict, writes: list | None) -> None:
    """Move the case's receipt (received, on its opening day at the unit that received it) from the category
    and channel it had to the ones it has now: −1 there, +1 here, in the command's transaction."""
    stmt = _UPSERTS[session.get_bind().dialect.name]
    day = china_day(_as_utc(case.opened_at))
    unit = case.first_unit_id or case.org_unit_id
    old = {**key_of(case, day, unit), "category": before.get("category") or "", "channel": before.get("channel") or ""}
    new = key_of(case, day, unit)
    params = [{**old, **dict.fromkeys(COUNTERS, 0), "received": -1}, {**new, **dict.fromkeys(COUNTERS, 0), "received": 1}]
    if writes is not None:
        writes.extend((stmt, p) for p in params)
    else:
        session.execute(stmt, params)


_COUNTED = {"case_started", "task_opened", "task_completed", "case_closed", "task_escalated"}
_TASKS = TaskModel.__table__


# ---------------------------------------------------------------- recounting from the history

def rebuild(session: Session, chunk: int = 5000) -> int:
    """Recount every daily row from the cases' history (the counts a command adds, replayed case by case, at
    the cases' units and categories now) and set each case's first response and lateness. Returns the number
    of cases read. Flushes only: the caller commits. Reads the whole history: an administrator's command, not a
    request's."""
    cases_t, events_t = CaseModel.__table__, CaseEventModel.__table__
    session.flush()
    session.execute(delete(S))
    totals: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    mark = (update(cases_t).where(cases_t.c.id == bindparam("case_id"))
            .values(responded_at=bindparam("responded"), late_at=bindparam("late")))
    last_id, seen = 0, 0
    while True:
        cases = session.execute(select(cases_t.c.id, cases_t.c.opened_at, cases_t.c.org_unit_id, cases_t.c.process_id,
                                       cases_t.c.category, cases_t.c.channel)
                                .where(cases_t.c.id > last_id).order_by(cases_t.c.id).limit(chunk)).all()
        if not cases:
            break
        last_id = cases[-1].id
        events = defaultdict(list)
        for e in session.execute(select(events_t.c.case_id, events_t.c.type, events_t.c.at, events_t.c.payload,
                                        events_t.c.task_id)
                                 .where(events_t.c.case_id.between(cases[0].id, last_id))
                                 .order_by(events_t.c.case_id, events_t.c.seq)):
            events[e.case_id].append({"type": e.type, "at": e.at, "payload": e.payload, "task_id": e.task_id})
        marks = []
        for case in cases:
            rows = events.get(case.id, [])
            opened = {row["task_id"]: TaskFacts((row["payload"] or {}).get("due_at"),
                                                (row["payload"] or {}).get("org_unit_id"), row["at"])
                      for row in rows if row["type"] == "task_opened"}
            state = CaseState(case.opened_at)
            for (day, unit), counters in count(rows, state, lambda row, opened=opened: opened.get(row["task_id"])).items():
                total = totals[tuple(key_of(case, day, unit).values())]
                for name, value in counters.items():
                    total[name] += value
            if state.responded_at or state.late_at:
                marks.append({"case_id": case.id, "responded": state.responded_at, "late": state.late_at})
        if marks:
            session.execute(mark, marks)
        seen += len(cases)
    rows = [{**dict(zip(KEY, key, strict=True)), **{c: counters.get(c, 0) for c in COUNTERS}}
            for key, counters in totals.items()]
    for start in range(0, len(rows), 1000):
        session.execute(S.insert(), rows[start:start + 1000])
    session.expire_all()  # the case rows' responded_at / late_at were written around the ORM
    log.info("stats: recounted %s daily rows from %s cases", len(rows), seen)
    return seen


# ---------------------------------------------------------------- reading the counters

def month_of(dialect: str, column):
    """YYYY-MM of a day column, in SQL."""
    if dialect == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def summed(session: Session, start: date, end: date, unit_ids, dimension: str | None):
    """Rows (org_unit_id, dimension value or None, sum of each counter) of the daily rows of the units
    `unit_ids` (a subquery of ids) from `start` to `end` (China days, both included)."""
    dialect = session.get_bind().dialect.name
    column = {"category": S.c.category, "channel": S.c.channel, "process": S.c.process_id,
              "month": month_of(dialect, S.c.day), None: None}[dimension]
    columns = [S.c.org_unit_id, (column if column is not None else func.cast(None, Integer)).label("dim")]
    stmt = (select(*columns, *[func.coalesce(func.sum(S.c[c]), 0).label(c) for c in COUNTERS])
            .where(S.c.day >= start, S.c.day <= end, S.c.org_unit_id.in_(unit_ids))
            .group_by(*([S.c.org_unit_id, column] if column is not None else [S.c.org_unit_id])))
    return session.execute(stmt).all()
