"""A higher center put above the present top (issue 17 §1: a county initialised alone gets its city later)."""
import pytest

from engine.errors import InvalidData
from engine.models import OrgUnitModel
from engine.services import users


def _unit(session, code):
    return session.query(OrgUnitModel).filter_by(code=code).one()


def test_a_city_goes_above_a_county_and_every_path_follows(session):
    county = users.init_directory(session, "990106000", "某区中心", "990106")
    users.add_org_unit(session, "990106001", "某街道", "township", "990106000")
    users.add_org_unit(session, "990106001001", "某社区", "village", "990106001")
    users.add_org_unit(session, "990106-court", "区法院", "department", "990106000")
    city = users.init_directory(session, "990100000", "某市中心", "990100", kind="city")
    assert city.parent_id is None and city.kind == "city" and city.level == 0 and city.path == f"/{city.id}/"
    session.refresh(county)
    assert county.parent_id == city.id and county.path == f"/{city.id}/{county.id}/"
    village = _unit(session, "990106001001")
    assert village.path.startswith(county.path) and village.level == 3
    assert _unit(session, "990106-court").path.startswith(county.path)
    # idempotent: the city is the top now
    assert users.init_directory(session, "990100000", "某市中心", "990100", kind="city").id == city.id


def test_a_lower_kind_never_goes_above_and_a_taken_code_is_refused(session):
    county = users.init_directory(session, "990106000", "某区中心", "990106")
    assert users.init_directory(session, "990106001", "某街道", "990106", kind="township").id == county.id
    users.add_org_unit(session, "990106001", "某街道", "township", "990106000")
    with pytest.raises(InvalidData):
        users.init_directory(session, "990106001", "同码市中心", "990100", kind="city")
