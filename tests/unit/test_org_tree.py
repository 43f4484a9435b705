"""The org tree's engine side (engine/services/org.py, engine/presence.py): presence on a day, moving a subtree
(every path below rewritten, a department's level following its center), the tree order, the roster's rest days."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine import presence
from engine.errors import InvalidData
from engine.models import AdminEventModel, OrgUnitModel
from engine.services import org
from engine.services.users import SYSTEM


@pytest.mark.parametrize(("kind", "days", "day", "working", "state"), [
    ("resident", None, date(2026, 3, 2), True, "present"),
    ("rota", "2,4", date(2026, 3, 2), True, "absent"),  # a Monday
    ("rota", "2,4", date(2026, 3, 3), True, "present"),
    ("rota", "2,4", date(2026, 3, 3), False, "rest_day"),
    ("rota", "6", date(2026, 3, 7), True, "present"),  # a 调休 Saturday that its rota names
    ("on_call", None, date(2026, 3, 2), True, "on_call"),
    (None, None, date(2026, 3, 2), True, "none"),
])
def test_presence_on_a_day(kind, days, day, working, state):
    assert presence.on_day(kind, days, day, working).state == state


def test_presence_is_normalised_and_bad_values_name_their_field():
    assert presence.normalise("轮驻", "4, 2，4") == ("rota", "2,4")
    assert presence.normalise("resident", [1, 2]) == ("resident", None)  # days only for a rota
    assert presence.normalise("", None) == (None, None)
    for value, days, field in (("weekly", None, "presence"), ("rota", None, "rota_days"), ("rota", "8", "rota_days"),
                               ("rota", "Tue", "rota_days")):
        with pytest.raises(InvalidData) as info:
            presence.normalise(value, days)
        assert field in info.value.details, (value, days)


def _unit(session, code: str) -> OrgUnitModel:
    return session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == code))


def test_moving_a_township_rewrites_every_path_below_and_a_department_takes_its_new_centers_level(session, directory):
    org.add_unit(session, SYSTEM, "330106002", "西溪街道综治中心", "township", "330106000")
    org.add_unit(session, SYSTEM, "330106002-police", "西溪派出所", "department", "330106002", presence_kind="on_call")
    org.add_unit(session, SYSTEM, "330106002001", "翠苑一区调解室", "village", "330106002")
    org.add_unit(session, SYSTEM, "330106003", "灵隐街道综治中心", "township", "330106000")
    assert _unit(session, "330106002-police").level == 2

    org.move_unit(session, SYSTEM, "330106002-police", "330106000")  # a township's department moves up to the county
    police = _unit(session, "330106002-police")
    assert police.level == 1 and police.path == f"{_unit(session, '330106000').path}{police.id}/"

    with pytest.raises(InvalidData) as info:  # a township does not belong under a township
        org.move_preview(session, SYSTEM, "330106002", "330106003")
    assert "parent" in info.value.details
    org.move_unit(session, SYSTEM, "330106002001", "330106003")
    village, lingyin = _unit(session, "330106002001"), _unit(session, "330106003")
    assert village.path == f"{lingyin.path}{village.id}/" and village.parent_id == lingyin.id

    # a township and everything below it, to another district under a city center put above the county
    directory.init_directory(session, "330100000", "杭州市综治中心", "330100", kind="city")
    org.add_unit(session, SYSTEM, "330108000", "滨江区综治中心", "county", "330100000")
    preview = org.move_preview(session, SYSTEM, "330106003", "330108000")
    assert (preview.units, preview.old_chain, preview.new_chain) == (
        2, ["西湖区综治中心", "杭州市综治中心"], ["滨江区综治中心", "杭州市综治中心"])
    org.move_unit(session, SYSTEM, "330106003", "330108000")
    binjiang, lingyin, village = (_unit(session, c) for c in ("330108000", "330106003", "330106002001"))
    assert lingyin.path == f"{binjiang.path}{lingyin.id}/" and village.path == f"{lingyin.path}{village.id}/"
    assert lingyin.level == 2 and village.level == 3
    moved = session.scalars(select(AdminEventModel).where(AdminEventModel.action == "org_unit_moved")).all()
    assert [e.target for e in moved] == ["330106002-police", "330106002001", "330106003"]


def test_the_tree_lists_each_unit_before_those_below_it_centers_before_departments(session, directory):
    org.add_unit(session, SYSTEM, "330106-court", "区人民法院", "department", "330106000", presence_kind="resident")
    org.add_unit(session, SYSTEM, "330106002", "西溪街道综治中心", "township", "330106000")
    codes = [r.unit.code for r in org.org_tree(session, SYSTEM)]
    assert codes == ["330106000", "330106001", "330106001001", "330106002", "330106-court"]
    depths = {r.unit.code: r.depth for r in org.org_tree(session, SYSTEM)}
    assert depths == {"330106000": 0, "330106001": 1, "330106001001": 2, "330106002": 1, "330106-court": 1}


def test_the_roster_has_nobody_on_a_holiday(session, directory):
    org.add_unit(session, SYSTEM, "330106-court", "区人民法院", "department", "330106000", presence_kind="resident")
    roster = org.week_roster(session, SYSTEM, date(2026, 10, 1))  # National Day week
    assert roster.monday == date(2026, 9, 28)
    [row] = roster.rows
    states = {d.day: p.state for d, p in zip(roster.days, row.days, strict=True)}
    assert states[date(2026, 9, 28)] == "present" and states[date(2026, 10, 1)] == "rest_day"
    assert [d.working for d in roster.days][3:] == [False, False, False, False]
