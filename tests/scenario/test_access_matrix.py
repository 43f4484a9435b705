"""Need to know (issue 15 §7): who reads which case, through every read of the API and the UI.

The matrix is role × process × unit × involvement: the center's users (tests/scenario/conftest.py, one per role
at the county, the township and the village) against cases of the three shipped processes at different units
and stages. Each case lists the users who may read it, worked out by hand from the rule in docs/operations.md
("Who may read a case"); everyone else must be refused, on every endpoint.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.scenario.conftest import CENTER_USERS
from tests.scenario.test_dispute import AGREE, register
from tests.scenario.test_petition import registered

COUNTY_DISPUTE_ROLES = {"clerk", "screener", "grassroots", "director", "revisit"}  # dispute's roles at the county
# director and supervisor at the county, and the city director above it: every unit below
SUPERVISING_COUNTY = {"director", "supervisor", "c_director"}
READ_ALL = {"admin", "auditor"}


def build(c) -> dict[str, tuple[int, set[str]]]:
    """The cases of the matrix: name -> (case id, the users who may read it)."""
    world = {}
    # a county dispute waiting at 研判: its roles at the county, the supervisors, admin and auditor — not the county
    # mediator (mediation is not routed to them yet), no resident department, no petition role, nobody below
    world["dispute_county_screening"] = (register(c), COUNTY_DISPUTE_ROLES | SUPERVISING_COUNTY | READ_ALL)
    # the same once mediation is routed to the county mediators (candidateGroups="=mediation_roles")
    cid = register(c)
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "ordinary"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "people"})
    world["dispute_county_mediation"] = (cid, COUNTY_DISPUTE_ROLES | SUPERVISING_COUNTY | READ_ALL | {"mediator"})
    # routed to the police (公安介入稳控): the police reads it, the court (also resident) does not
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "high", "tier": "major"})
    world["dispute_routed_to_police"] = (cid, COUNTY_DISPUTE_ROLES | SUPERVISING_COUNTY | READ_ALL | {"police"})
    # ... and after the police handled it (the case is closed): the police still reads it, from the history
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "high", "tier": "major"})
    c.complete(cid, "report_police", "police", {"police_disposition": "police_case", "police_measures": "传唤双方",
                                                "police_unit": "北山派出所"})
    world["dispute_handled_by_police"] = (cid, COUNTY_DISPUTE_ROLES | SUPERVISING_COUNTY | READ_ALL | {"police"})
    # a village dispute: the village's own roles, the supervisors of the village, township and county
    world["dispute_village"] = (register(c, user="v_clerk"),
                                {"v_clerk", "v_screener", "v_director", "v_mediator", "t_director"}
                                | SUPERVISING_COUNTY | READ_ALL)
    # judicial confirmation at the county: its roles there (the police of the example does not read it)
    world["confirmation_county"] = (c.open("judicial_confirmation", "mediator")["id"],
                                    {"mediator", "court_clerk", "judge", "enforcement", "unit_head"}
                                    | SUPERVISING_COUNTY | READ_ALL)
    # petitions are confidential: the petition process's roles, the case's supervisors, auditors — no admin
    petition_roles_county = {"petition", "competent", "review", "revisit", "clerk", "screener", "mediator",
                             "competent_head", "director"}  # the body's own head approves an extension
    world["petition_county"] = (registered(c), petition_roles_county | SUPERVISING_COUNTY | {"auditor"})
    world["petition_township"] = (registered(c, office="t_petition"),
                                  {"t_petition", "t_competent", "t_review", "t_revisit", "t_clerk", "t_screener",
                                   "t_mediator", "t_director", "t_competent_head"} | SUPERVISING_COUNTY | {"auditor"})
    return world


def test_every_user_reads_exactly_the_cases_the_rule_gives_them(center):
    c = center
    world = build(c)
    wrong = []
    for name, (case_id, readers) in world.items():
        assert readers <= set(CENTER_USERS), readers - set(CENTER_USERS)
        for user in CENTER_USERS:
            status = c.client.get(f"/api/v1/cases/{case_id}", headers=c.login(user)).status_code
            if status != (200 if user in readers else 403):
                wrong.append((name, user, status))
    assert not wrong, "\n".join(map(str, sorted(wrong)))


ENDPOINTS = ("/api/v1/cases/{id}", "/api/v1/cases/{id}/events", "/api/v1/cases/{id}/verify", "/cases/{id}",
             "/cases/{id}/diagram.bpmn", "/cases/{id}/receipt")


@pytest.mark.parametrize("name", ["petition_county", "dispute_routed_to_police", "dispute_village"])
def test_every_read_of_a_case_follows_the_same_rule(center, name):
    c = center
    case_id, readers = build(c)[name]
    task_ids = [t["id"] for t in c.case(case_id)["tasks"]]
    wrong = []
    for user in CENTER_USERS:
        expected = 200 if user in readers else 403
        for url in ENDPOINTS + tuple(f"/api/v1/tasks/{t}" for t in task_ids) + tuple(f"/tasks/{t}" for t in task_ids):
            status = c.client.get(url.format(id=case_id), headers=c.login(user)).status_code
            if status != expected:
                wrong.append((url, user, status))
    assert not wrong, "\n".join(map(str, sorted(wrong)))


def test_the_police_no_longer_reads_every_case_of_the_county(center):
    """The issue's reproduction: the resident police officer read disputes, confirmations and petitions alike."""
    c = center
    world = build(c)
    readable = {name for name, (case_id, _) in world.items()
                if c.client.get(f"/api/v1/cases/{case_id}", headers=c.login("police")).status_code == 200}
    assert readable == {"dispute_routed_to_police", "dispute_handled_by_police"}


def test_task_lists_show_only_readable_cases(center):
    """An administrator's list of all tasks leaves the confidential petitions out; an auditor's has them."""
    c = center
    world = build(c)
    petitions = {world["petition_county"][0], world["petition_township"][0]}
    listed = {user: {t["case_id"] for t in c.get("/api/v1/tasks?scope=all&per_page=200", user)["items"]}
              for user in ("admin", "auditor")}
    assert petitions <= listed["auditor"]
    assert not petitions & listed["admin"]
    assert listed["admin"] == listed["auditor"] - petitions
    # and every task in anybody's own list is of a case they may read
    for user in CENTER_USERS:
        for item in c.get("/api/v1/tasks?per_page=200", user)["items"]:
            readers = next(r for cid, r in world.values() if cid == item["case_id"])
            assert user in readers, (user, item["case_id"], item["name"])


@pytest.mark.committed_db  # the access log's own transaction outlives the read's
def test_every_auditor_read_is_recorded_on_its_own(center):
    from engine.models import AccessLogModel

    c = center
    case_id, _ = build(c)["petition_county"]
    c.session.commit()
    before = c.session.scalars(select(AccessLogModel.id)).all()
    for url in ENDPOINTS:
        assert c.client.get(url.format(id=case_id), headers=c.login("auditor")).status_code == 200
    task_id = c.case(case_id, "petition")["tasks"][0]["id"]
    assert c.client.get(f"/tasks/{task_id}", headers=c.login("auditor")).status_code == 200
    # a handler's reads are not recorded
    assert c.client.get(f"/cases/{case_id}", headers=c.login("petition")).status_code == 200
    c.session.expire_all()
    rows = c.session.scalars(select(AccessLogModel).where(AccessLogModel.id.not_in(before))
                             .order_by(AccessLogModel.id)).all()
    assert [(r.username, r.case_id, r.what, r.basis) for r in rows] == [
        ("auditor", case_id, what, "auditor") for what in ("case", "events", "verify", "case", "diagram", "receipt",
                                                           "task")]
    assert all(r.at == c.clock.now() for r in rows)


def test_phone_numbers_are_whole_for_handlers_and_masked_for_everyone_else(center):
    c = center
    cid = register(c)  # party_phone 13800000000, waiting at 研判
    whole, masked = "13800000000", "138****0000"
    for user in ("clerk", "screener"):  # registered it / holds its screening task: handlers
        assert c.get(f"/api/v1/cases/{cid}", user)["data"]["party_phone"] == whole
    for user in ("supervisor", "auditor", "admin"):  # read it, but do not handle it
        body = c.get(f"/api/v1/cases/{cid}", user)
        assert body["data"]["party_phone"] == masked
        events = c.get(f"/api/v1/cases/{cid}/events", user)["items"]
        assert whole not in str(events) and masked in str(events)  # the register event's changes carry it
        for url in (f"/cases/{cid}", f"/cases/{cid}/receipt", f"/tasks/{c.task(cid, 'screen')['id']}"):
            html = c.client.get(url, headers=c.login(user)).get_data(as_text=True)
            assert whole not in html, (user, url)
        assert masked in c.client.get(f"/cases/{cid}", headers=c.login(user)).get_data(as_text=True)
    html = c.client.get(f"/cases/{cid}", headers=c.login("clerk")).get_data(as_text=True)
    assert whole in html
    assert re.search(r"138\*{4}0000", str(c.get(f"/api/v1/cases/{cid}/events", "auditor")))


def test_claim_and_complete_tell_nothing_to_who_may_not_read_the_task(center):
    """I1: a claimed or completed task's id answered 409 "already claimed by X" / "completed by X at T" / the
    current lock_version to anybody; now the read check comes first."""
    c = center
    cid = register(c)
    screen = c.task(cid, "screen")
    assert c.post(f"/api/v1/tasks/{screen['id']}/claim", "screener").status_code == 200
    for user in ("police", "t_screener", "petition"):  # may not read the case
        claim = c.post(f"/api/v1/tasks/{screen['id']}/claim", user)
        assert claim.status_code == 403 and "screener" not in str(claim.get_json()), claim.get_json()
        done = c.post(f"/api/v1/tasks/{screen['id']}/complete", user, {"data": {}, "lock_version": 1})
        assert done.status_code == 403 and "lock_version" not in str(done.get_json()), done.get_json()
        assert c.post(f"/api/v1/tasks/{screen['id']}/unclaim", user).status_code == 403
    # who may read the case still learns the conflict
    claim = c.post(f"/api/v1/tasks/{screen['id']}/claim", "clerk")
    assert claim.status_code == 409 and claim.get_json()["details"]["assignee"] == "screener"
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "ordinary"})
    for user in ("police", "t_screener"):
        gone = c.post(f"/api/v1/tasks/{screen['id']}/complete", user, {"data": {}})
        assert gone.status_code == 403 and "screener" not in str(gone.get_json()), gone.get_json()
        assert c.post(f"/api/v1/tasks/{screen['id']}/claim", user).status_code == 403
        assert c.client.get(f"/api/v1/tasks/{screen['id']}", headers=c.login(user)).status_code == 403
    gone = c.post(f"/api/v1/tasks/{screen['id']}/complete", "clerk", {"data": {}})
    assert gone.status_code == 409 and gone.get_json()["details"]["by"] == "screener"
