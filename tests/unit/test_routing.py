"""A task without an explicit unit goes to the case's unit, or the nearest unit above it where the role is held."""
import pytest

from engine.errors import InvalidData
from engine.models import OrgUnitModel
from engine.services import cases
from engine.services.users import SYSTEM
from tests.support import PASSWORD


def _intake_unit(session, org_code: str) -> str:
    case = cases.start_case(session, "small_mediation", {}, SYSTEM, org_unit=org_code)
    [intake] = cases.open_tasks(session, case.id)
    return session.get(OrgUnitModel, intake.org_unit_id).code


def test_village_case_goes_to_the_nearest_unit_holding_the_role(session, directory):
    # intake_clerk is held only at the county center
    assert _intake_unit(session, "330106001001") == "330106000"
    directory.create_user(session, "township_clerk", PASSWORD, ["intake_clerk"], ["330106001"])
    assert _intake_unit(session, "330106001001") == "330106001"
    directory.create_user(session, "village_clerk", PASSWORD, ["intake_clerk"], ["330106001001"])
    assert _intake_unit(session, "330106001001") == "330106001001"


def test_a_deep_unit_tree_still_routes_up_to_the_staffed_unit(session, directory):
    parent = "330106001001"
    for depth in range(9):  # twelve levels in all: beyond the prebuilt statement's eight slots
        code = f"{parent}{depth}"
        directory.add_org_unit(session, code, f"第{depth}层", "village", parent)
        parent = code
    assert _intake_unit(session, parent) == "330106000"
    directory.create_user(session, "deep_clerk", PASSWORD, ["intake_clerk"], ["3301060010010"])
    assert _intake_unit(session, parent) == "3301060010010"


def test_the_look_up_reads_one_row_per_staffed_unit_however_many_hold_the_role(session, directory):
    """Thirty clerks at the township and one at the county: two rows, not thirty-one (each would be fetched)."""
    from engine import routing

    for i in range(30):
        directory.create_user(session, f"clerk{i}", PASSWORD, ["intake_clerk", "mediator"], ["330106001"])
    village = session.query(OrgUnitModel).filter_by(code="330106001001").one()
    chain = [int(part) for part in village.path.strip("/").split("/") if part]
    params = {f"unit_{i}": chain[i] if i < len(chain) else village.id for i in range(routing._CHAIN_SLOTS)}
    rows = session.execute(routing._STAFFED_UNITS, {"role": "intake_clerk", **params}).scalars().all()
    assert sorted(rows) == sorted(chain[:2])  # the county center and the township, once each
    assert _intake_unit(session, "330106001001") == "330106001"


def test_units_below_list_the_roles_they_staff_in_tree_order(session, directory):
    from engine import routing

    directory.ensure_roles(session, {"grassroots_mediator": "村/社区调解员"})
    session.commit()
    directory.create_user(session, "village_mediator", PASSWORD, ["grassroots_mediator"], ["330106001001"])
    county = session.query(OrgUnitModel).filter_by(code="330106000").one()
    below = routing.units_below(session, county)
    assert [code for code, _name, _roles, _presence in below] == ["330106001", "330106001001"]
    assert below[0][2] == ["调解室"] and below[1] == ("330106001001", "曙光社区调解室", ["村/社区调解员"], None)
    village = session.query(OrgUnitModel).filter_by(code="330106001001").one()
    assert routing.units_below(session, village) == []


def test_org_units_take_their_level_from_their_kind(session, directory):
    county = session.query(OrgUnitModel).filter_by(code="330106000").one()
    assert (county.kind, county.level) == ("county", 1)
    township = session.query(OrgUnitModel).filter_by(code="330106001").one()
    village = session.query(OrgUnitModel).filter_by(code="330106001001").one()
    assert (township.level, village.level) == (2, 3)
    with pytest.raises(InvalidData):
        directory.add_org_unit(session, "x1", "某省", "province", "330106000")
    assert directory.LEVELS == {"city": 0, "county": 1, "township": 2, "village": 3}
