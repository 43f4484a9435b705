"""Linked cases are named only to a reader who may read them too (need to know)."""
from engine import access
from engine.services import cases, history
from engine.services.users import SYSTEM


def test_a_linked_case_the_reader_may_not_read_is_not_named(session, directory, actor):
    county = cases.start_case(session, "small_mediation", {}, SYSTEM)
    township = cases.start_case(session, "small_mediation", {}, SYSTEM, "330106001", county.id, "relapse")
    reader = actor("township_mediator")
    assert access.decide(session, reader, township).allowed
    assert not access.decide(session, reader, county).allowed
    links = history.case_links(session, township.id, reader)
    assert links.linked_to is None and links.link_kind == "relapse"
    # the county's auditor reads both: the link is named to them
    links = history.case_links(session, county.id, actor("auditor"))
    assert [c.id for c in links.linked_from] == [township.id]
