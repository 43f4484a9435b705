"""The center's statistics (issue 18 §2): the figures of engine/stats.py for a period, a unit (rolled up over its
subtree) and a grouping. Read-only: no commit.

Who may read them: supervisors and directors over the units they supervise and every unit below, auditors
everything; anyone else is refused."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import runtime, stats
from engine.actors import SUPERVISORY_ROLES, Actor
from engine.case_list import day_start
from engine.errors import Forbidden, InvalidData
from engine.messages import msg
from engine.models import CaseModel, OrgUnitModel, TaskModel

GROUPS = ("org_unit", "category", "channel", "process", "dept", "month")
MAX_DAYS = 3 * 366  # a request reads at most this many days of counters

K, T = CaseModel.__table__.c, TaskModel.__table__.c


@dataclass
class Group:
    key: str
    label: str
    figures: dict
    includes_units_below: bool = False  # an org unit's figures include its subtree
    units: int = 1  # how many units they add up (the unit and those below it)


@dataclass
class Stats:
    start: date
    end: date
    group_by: str
    unit: OrgUnitModel
    total: dict
    groups: list[Group] = field(default_factory=list)
    units: int = 1  # units the total adds up


def _scope(session: Session, actor: Actor, org_unit: str | None) -> OrgUnitModel:
    """The unit whose subtree the figures cover: `org_unit` (a code) if the actor may read it, else the
    highest unit they supervise (the top center for an auditor). Raises Forbidden, InvalidData."""
    if not (actor.is_auditor or actor.is_system) and not any(g.role in SUPERVISORY_ROLES for g in actor.grants):
        raise Forbidden(msg("stats.forbidden"))
    supervised = sorted({g.org_path for g in actor.grants if g.role in SUPERVISORY_ROLES}, key=len)
    if org_unit:
        unit = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == org_unit))
        if unit is None:
            message = msg("ledger.unknown_org_unit", org_unit=org_unit)
            raise InvalidData(message, {"org_unit": [message]})
    elif actor.is_auditor or actor.is_system:
        unit = session.scalar(select(OrgUnitModel).where(OrgUnitModel.parent_id.is_(None)).order_by(OrgUnitModel.id))
    else:
        unit = session.scalar(select(OrgUnitModel).where(OrgUnitModel.path == supervised[0]))
    if unit is None:
        raise InvalidData(msg("stats.no_units"), {"org_unit": [msg("stats.no_units")]})
    if not (actor.is_auditor or actor.is_system) and not any(unit.path.startswith(p) for p in supervised):
        raise Forbidden(msg("stats.unit_forbidden", org_unit=unit.code))
    return unit


def _zero() -> dict:
    return dict.fromkeys(stats.COUNTERS, 0)


def _add(into: dict, row) -> None:
    for name in stats.COUNTERS:
        into[name] += int(getattr(row, name) or 0)


def _overdue_open(session: Session, units, dimension, now: datetime) -> dict:
    """Open cases of these units with a BPMN task past its due date at `now`, by (unit, dimension value): the
    cases whose earliest due date (cases.due_at) is before now, one range of ix_cases_open_due."""
    column = {"category": K.category, "channel": K.channel, "process": K.process_id, None: None}.get(dimension)
    columns = [K.org_unit_id] + ([column] if column is not None else [])
    stmt = (select(*columns, func.count()).select_from(CaseModel.__table__)
            .where(K.status == "open", K.due_at < now, K.org_unit_id.in_(units)).group_by(*columns))
    return {(row[0], row[1] if column is not None else None): row[-1] for row in session.execute(stmt)}


def get_stats(session: Session, actor: Actor, start: date, end: date, group_by: str = "org_unit",
              org_unit: str | None = None, now: datetime | None = None) -> Stats:
    """The figures of engine/stats.FIGURES from `start` to `end` (China days, both included) over `org_unit`
    and every unit below it, in total and by `group_by`. Raises Forbidden (not a supervisor, director or
    auditor; a unit they do not supervise), InvalidData (bad period, grouping or unit)."""
    if group_by not in GROUPS:
        raise InvalidData(msg("stats.unknown_group", group_by=group_by), {"group_by": [", ".join(GROUPS)]})
    if end < start:
        raise InvalidData(msg("stats.bad_period"), {"to": [msg("stats.bad_period")]})
    if (end - start).days >= MAX_DAYS:
        raise InvalidData(msg("stats.period_too_long", days=MAX_DAYS), {"to": [msg("stats.period_too_long",
                                                                                    days=MAX_DAYS)]})
    unit = _scope(session, actor, org_unit)
    now = now or runtime.of(session).clock.now()
    subtree = list(session.scalars(select(OrgUnitModel).where(OrgUnitModel.path.startswith(unit.path))))
    ids = select(OrgUnitModel.id).where(OrgUnitModel.path.startswith(unit.path))
    # overdue_open is a figure of the period's end: known from the open cases when that end is today or later
    live = day_start(end + timedelta(days=1)) > now
    dimension = group_by if group_by in ("category", "channel", "process", "month") else None
    rows = stats.summed(session, start, end, ids, dimension)
    if group_by == "dept":
        return _by_dept(session, Stats(start, end, group_by, unit, {}, units=len(subtree)), subtree, rows,
                        now if live else None)
    overdue = _overdue_open(session, ids, dimension if dimension != "month" else None, now) if live else {}

    total = _zero()
    for row in rows:
        _add(total, row)
    total["overdue_open"] = sum(overdue.values()) if live else None
    result = Stats(start, end, group_by, unit, stats.figures_of(total), units=len(subtree))

    if group_by == "org_unit":
        # the unit itself, then each unit directly below it with its own subtree rolled up
        heads = [unit] + sorted((u for u in subtree if u.parent_id == unit.id), key=lambda u: u.path)
        head_of = {}
        for u in subtree:
            head_of[u.id] = unit.id if u.id == unit.id else next(
                (h.id for h in heads[1:] if u.path.startswith(h.path)), unit.id)
        sums = {h.id: _zero() for h in heads}
        late = defaultdict(int)
        for row in rows:
            _add(sums[head_of[row.org_unit_id]], row)
        for (unit_id, _), n in overdue.items():
            late[head_of[unit_id]] += n
        for h in heads:
            sums[h.id]["overdue_open"] = late[h.id] if live else None
            below = 1 if h.id == unit.id else sum(1 for u in subtree if u.path.startswith(h.path))
            result.groups.append(Group(h.code, h.name + ("（本级）" if h.id == unit.id else ""),
                                       stats.figures_of(sums[h.id]), includes_units_below=below > 1, units=below))
        return result

    sums: dict = defaultdict(_zero)
    for row in rows:
        _add(sums[row.dim or ""], row)
    late = defaultdict(int)
    for (_, value), n in overdue.items():
        late[value or ""] += n
    keys = sorted(set(sums) | (set(late) if dimension != "month" else set()))
    for key in keys:  # labels of categories, channels and processes are the caller's (the forms' names)
        figures = sums[key]
        figures["overdue_open"] = (late.get(key, 0) if dimension != "month" else None) if live else None
        label = f"{key[:4]}年{int(key[5:])}月" if dimension == "month" else key
        result.groups.append(Group(key, label, stats.figures_of(figures)))
    return result


def _by_dept(session: Session, result: Stats, subtree: list[OrgUnitModel], rows, now: datetime | None) -> Stats:
    """group_by=dept: each unit of the subtree that held tasks in the period (a resident department, a
    handling unit), with the figures of its tasks (stats.TASK_FIGURES); the total is theirs summed."""
    by_unit: dict = defaultdict(_zero)
    for row in rows:
        _add(by_unit[row.org_unit_id], row)
    late: dict = {}
    if now is not None:  # open tasks past due held by each unit now: per unit a range of ix_tasks_org_due
        late = dict(session.execute(select(T.org_unit_id, func.count()).where(
            T.org_unit_id.in_([u.id for u in subtree]), T.due_at < now).group_by(T.org_unit_id)).all())
    total = _zero()
    for sums in by_unit.values():
        for name in stats.COUNTERS:
            total[name] += sums[name]
    total["overdue_open"] = sum(late.values()) if now is not None else None
    result.total = stats.task_figures_of(total)
    for unit in sorted(subtree, key=lambda u: u.path):
        sums = by_unit.get(unit.id)
        if (sums is None or not any(sums[c] for c in stats.TASK_COUNTERS)) and not late.get(unit.id):
            continue
        sums = sums or _zero()
        sums["overdue_open"] = late.get(unit.id, 0) if now is not None else None
        result.groups.append(Group(unit.code, unit.name, stats.task_figures_of(sums)))
    return result


def rebuild_stats(session: Session, actor: Actor) -> int:
    """Recount the statistics' daily counters from every case's history (engine/stats.rebuild): after an upgrade
    that added them, or to check them. Returns the number of cases read. Raises Forbidden (not an
    administrator or the system)."""
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("stats.rebuild_forbidden"))
    seen = stats.rebuild(session)
    session.commit()
    return seen
