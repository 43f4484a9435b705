"""The overdue board of the dashboard (督办看板): open tasks at each step of the supervision ladder (提示 → 催办 →
督办 → 挂牌督办) by handling unit, for those who oversee a unit and the units below it.

Reads only the open tasks that have reached the ladder (tasks.warning_level > 0: a small share of the open ones,
and tasks hold open work only — closed work lives in the history), grouped in one query."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.actors import SUPERVISORY_ROLES, Actor
from engine.errors import Forbidden, InvalidData
from engine.ladder import LEVEL_NAMES
from engine.messages import msg
from engine.models import OrgUnitModel, TaskModel

LEVELS = tuple(sorted(level for level, name in LEVEL_NAMES.items() if name))  # 1 提示 … 4 挂牌督办


@dataclass
class UnitLine:
    code: str
    name: str
    counts: dict[int, int] = field(default_factory=dict)  # warning level -> open late tasks held there

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class OverdueBoard:
    levels: dict[int, int]  # level -> open tasks at that step, in the whole scope
    units: list[UnitLine]  # units with any, the most listed (挂牌督办) first, then by total


def may_oversee(actor: Actor) -> bool:
    """Supervisors and directors (over their units and below), auditors and administrators (everything)."""
    return actor.can_read_all() or bool(actor.roles & SUPERVISORY_ROLES)


def _scope_paths(session: Session, actor: Actor, org_unit: str | None) -> list[str] | None:
    """The org paths the board covers (None: every unit). Raises Forbidden, InvalidData (unknown unit)."""
    if not may_oversee(actor):
        raise Forbidden(msg("oversight.forbidden"))
    mine = None if actor.can_read_all() else sorted({g.org_path for g in actor.grants if g.role in SUPERVISORY_ROLES})
    if org_unit is None:
        return mine
    path = session.scalar(select(OrgUnitModel.path).where(OrgUnitModel.code == org_unit))
    if path is None:
        raise InvalidData(msg("ledger.unknown_org_unit", org_unit=org_unit),
                          {"org_unit": [msg("field.unknown_org", org_unit=org_unit)]})
    if mine is not None and not any(path.startswith(p) for p in mine):
        raise Forbidden(msg("oversight.unit_forbidden", org_unit=org_unit))
    return [path]


def overdue_board(session: Session, actor: Actor, org_unit: str | None = None) -> OverdueBoard:
    """Open tasks at each ladder step, by handling unit, in the actor's units and below (or `org_unit` and below,
    within them). Read-only. Raises Forbidden, InvalidData."""
    paths = _scope_paths(session, actor, org_unit)
    query = (select(OrgUnitModel.code, OrgUnitModel.name, OrgUnitModel.path, TaskModel.warning_level, func.count())
             .join(OrgUnitModel, OrgUnitModel.id == TaskModel.org_unit_id)
             .where(TaskModel.warning_level > 0)
             .group_by(OrgUnitModel.code, OrgUnitModel.name, OrgUnitModel.path, TaskModel.warning_level))
    if paths is not None:
        query = query.where(or_(*[OrgUnitModel.path.startswith(p) for p in paths]))
    levels = dict.fromkeys(LEVELS, 0)
    units: dict[str, UnitLine] = {}
    for code, name, _path, level, count in session.execute(query):
        level = min(int(level), LEVELS[-1])
        levels[level] += count
        line = units.setdefault(code, UnitLine(code, name, dict.fromkeys(LEVELS, 0)))
        line.counts[level] += count
    ordered = sorted(units.values(), key=lambda u: (-u.counts[LEVELS[-1]], -u.total, u.code))
    return OverdueBoard(levels, ordered)
