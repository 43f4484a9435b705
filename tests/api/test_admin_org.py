"""Issue 20 §2 through the API: the org tree (add, change, move with its preview, delete), resident departments'
presence and the week's roster, the dispatcher's note on a unit away today, the roles' names; administrators
change, auditors read, everyone else 403; every change a row of the admin log."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine.models import OrgUnitModel
from engine.services import cases, processes, users
from engine.services.users import SYSTEM, load_actor
from tests.support import PASSWORD
from tests.unit.test_specs import process, user_task

VILLAGE = {"code": "330106001003", "name": "玉泉社区调解室", "kind": "village", "parent": "330106001",
           "phone": "0571-8702 1103"}


def _log(client, headers, **query) -> list[dict]:
    response = client.get("/api/v1/admin/log", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def _units(client, headers) -> dict[str, dict]:
    response = client.get("/api/v1/admin/org-units", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {u["code"]: u for u in response.get_json()["items"]}


def _add(client, headers, **body):
    return client.post("/api/v1/admin/org-units", json=body, headers=headers)


def test_admin_adds_a_village_under_a_township_its_level_and_area_following(client, login):
    admin = login("admin")
    response = _add(client, admin, **VILLAGE)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kind"], body["level"], body["area_code"], body["parent"], body["phone"]) == (
        "village", 3, "330106", "330106001", "0571-8702 1103")
    units = list(_units(client, login("auditor")))
    # tree order: the village comes after its township and that township's other village, before nothing else
    assert units.index("330106001") < units.index("330106001001") < units.index("330106001003")
    [event] = _log(client, admin, action="org_unit_added", target="330106001003")
    assert event["actor"] == "admin" and event["new"]["parent"] == "330106001" and event["old"] is None


def test_only_administrators_change_the_tree_and_auditors_read_it(client, login):
    auditor, clerk = login("auditor"), login("clerk")
    assert client.get("/api/v1/admin/org-units", headers=auditor).status_code == 200
    assert client.get("/api/v1/admin/roster", headers=auditor).status_code == 200
    assert _add(client, auditor, **VILLAGE).status_code == 403
    assert client.patch("/api/v1/admin/org-units/330106001", json={"name": "x"}, headers=auditor).status_code == 403
    for path in ("/api/v1/admin/org-units", "/api/v1/admin/roster", "/api/v1/admin/roles"):
        assert client.get(path, headers=clerk).status_code == 403, path
    assert client.delete("/api/v1/admin/org-units/330106001001", headers=clerk).status_code == 403


@pytest.mark.parametrize(("body", "status", "field"), [
    ({**VILLAGE, "code": "330106001"}, 422, "code"),  # a village has 12 digits
    ({**VILLAGE, "code": "33010600100A"}, 422, "code"),
    ({**VILLAGE, "kind": "township"}, 422, "kind"),  # a township under a township
    ({**VILLAGE, "parent": "330106001001", "code": "330106001001001"}, 422, "kind"),  # nothing under a village
    ({**VILLAGE, "code": "330106001001"}, 409, "code"),  # taken
    ({**VILLAGE, "parent": "330106999"}, 404, "parent"),
    ({**VILLAGE, "area_code": "3301"}, 422, "area_code"),
    ({**VILLAGE, "phone": "call us"}, 422, "phone"),
    ({**VILLAGE, "presence": "rota", "rota_days": [2]}, 422, "presence"),  # only departments have a presence
    ({"code": "330106-union", "name": "区总工会", "kind": "department", "parent": "330106000", "presence": "rota"},
     422, "rota_days"),
    ({**VILLAGE, "name": "  "}, 422, "name"),
])
def test_adding_refuses_bad_input_naming_the_field(client, login, body, status, field):
    admin = login("admin")
    response = _add(client, admin, **body)
    assert response.status_code == status, response.get_json()
    assert field in response.get_json()["details"], response.get_json()
    assert "330106001003" not in _units(client, admin)
    assert not _log(client, admin, action="org_unit_added")


def test_renaming_and_changing_phone_and_code_are_logged_old_to_new(client, login):
    admin = login("admin")
    assert _add(client, admin, **VILLAGE).status_code == 201
    response = client.patch("/api/v1/admin/org-units/330106001003", headers=admin,
                            json={"name": "玉泉社区人民调解委员会", "phone": None, "code": "330106001009"})
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["name"], response.get_json()["phone"]) == ("玉泉社区人民调解委员会", None)
    assert "330106001009" in _units(client, admin) and "330106001003" not in _units(client, admin)
    [event] = _log(client, admin, action="org_unit_updated")
    assert event["old"] == {"code": "330106001003", "name": "玉泉社区调解室", "phone": "0571-8702 1103"}
    assert event["new"] == {"code": "330106001009", "name": "玉泉社区人民调解委员会", "phone": None}
    taken = client.patch("/api/v1/admin/org-units/330106001009", json={"code": "330106001001"}, headers=admin)
    assert taken.status_code == 409 and "code" in taken.get_json()["details"]


def test_a_code_a_process_names_cannot_change(client, login, session):
    xml = process(user_task(' camunda:candidateGroups="mediator@330106001001"'))
    processes.deploy(session, {"p.bpmn": xml.encode()}, SYSTEM)
    response = client.patch("/api/v1/admin/org-units/330106001001", json={"code": "330106001008"},
                            headers=login("admin"))
    assert response.status_code == 409, response.get_json()
    assert "code" in response.get_json()["details"]
    assert session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == "330106001001")) is not None


@pytest.fixture
def village_case(session, directory, actor):
    """A second township, and an open case handled at 曙光社区 (registered there by its clerk)."""
    directory.add_org_unit(session, "330106002", "西溪街道综治中心", "township", "330106000")
    directory.create_user(session, "vclerk", PASSWORD, ["intake_clerk"], ["330106001001"], "曙光受理员")
    directory.create_user(session, "bsuper", PASSWORD, ["supervisor"], ["330106001"], "北山督办")
    directory.create_user(session, "xsuper", PASSWORD, ["supervisor"], ["330106002"], "西溪督办")
    case = cases.start_case(session, "small_mediation", {}, actor("vclerk"), "330106001001")
    session.commit()
    return case


def test_moving_a_village_shows_what_changes_then_moves_it_and_everything_below(client, login, session,
                                                                                 village_case):
    admin = login("admin")
    preview = client.patch("/api/v1/admin/org-units/330106001001", query_string={"dry_run": 1},
                           json={"parent": "330106002"}, headers=admin)
    assert preview.status_code == 202, preview.get_json()
    body = preview.get_json()
    assert (body["units"], body["open_cases"], body["open_tasks"], body["members"]) == (1, 1, 1, 1)
    assert body["old_chain"] == ["北山街道综治中心", "西湖区综治中心"]
    assert body["new_chain"] == ["西溪街道综治中心", "西湖区综治中心"]
    assert _units(client, admin)["330106001001"]["parent"] == "330106001"  # nothing saved
    assert load_actor(session, "bsuper").supervises(session.get(OrgUnitModel, village_case.org_unit_id).path)

    moved = client.patch("/api/v1/admin/org-units/330106001001", json={"parent": "330106002"}, headers=admin)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["parent"] == "330106002" and moved.get_json()["level"] == 3
    session.expire_all()
    village = session.get(OrgUnitModel, village_case.org_unit_id)
    township = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == "330106002"))
    assert village.path == f"{township.path}{village.id}/"
    # oversight follows the tree at once: the new township's supervisor sees the case, the old one's no more
    assert load_actor(session, "xsuper").supervises(village.path)
    assert not load_actor(session, "bsuper").supervises(village.path)
    [event] = _log(client, admin, action="org_unit_moved")
    assert event["old"]["parent"] == "330106001" and event["new"]["parent"] == "330106002"


def test_a_move_is_refused_under_itself_at_the_top_and_under_the_wrong_kind(client, login):
    admin = login("admin")
    cases_ = [("330106001", "330106001001", "parent"), ("330106000", "330106001", "code"),
              ("330106001001", "330106000", "parent"), ("330106001001", "330106001", "parent")]
    for code, parent, field in cases_:
        response = client.patch(f"/api/v1/admin/org-units/{code}", json={"parent": parent}, headers=admin)
        assert response.status_code == 422, (code, response.get_json())
        assert field in response.get_json()["details"], (code, response.get_json())
    assert not _log(client, admin, action="org_unit_moved")


def test_a_unit_is_deleted_only_when_nothing_refers_to_it(client, login):
    admin = login("admin")
    used = client.delete("/api/v1/admin/org-units/330106001", headers=admin)
    assert used.status_code == 409, used.get_json()
    assert used.get_json()["details"]["uses"]["units"] == 1
    assert client.delete("/api/v1/admin/org-units/330106000", headers=admin).status_code == 409  # the top
    assert _add(client, admin, **VILLAGE).status_code == 201
    assert client.delete("/api/v1/admin/org-units/330106001003", headers=admin).status_code == 204
    assert "330106001003" not in _units(client, admin)
    [event] = _log(client, admin, action="org_unit_deleted")
    assert event["old"]["name"] == "玉泉社区调解室" and event["new"] is None


def test_a_rota_department_is_absent_on_its_off_days_and_nobody_on_a_holiday(client, login):
    admin = login("admin")
    response = _add(client, admin, code="330106-union", name="区总工会", kind="department", parent="330106000",
                    presence="rota", rota_days=[4, 2])
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["presence"] == {"presence": "rota", "rota_days": [2, 4], "today": "absent"}  # Monday
    assert response.get_json()["level"] == 1  # its center's
    # the week of National Day 2026: Thursday 1 October is a holiday
    roster = client.get("/api/v1/admin/roster", query_string={"week": "2026-09-30"}, headers=login("auditor"))
    assert roster.status_code == 200, roster.get_json()
    body = roster.get_json()
    assert body["monday"] == "2026-09-28"
    [row] = body["rows"]
    days = dict(zip([d["date"] for d in body["days"]], row["days"], strict=True))
    assert days["2026-09-28"] == "absent" and days["2026-09-29"] == "present"
    assert days["2026-10-01"] == "rest_day" and days["2026-10-03"] == "rest_day"
    assert row["center"] == "西湖区综治中心"

    changed = client.patch("/api/v1/admin/org-units/330106-union", json={"presence": "resident"}, headers=admin)
    assert changed.get_json()["presence"] == {"presence": "resident", "rota_days": [], "today": "present"}
    [event] = _log(client, admin, action="org_unit_updated")
    assert event["old"] == {"presence": "rota", "rota_days": "2,4"}
    assert event["new"] == {"presence": "resident", "rota_days": None}


DISPATCH = process(user_task(' camunda:candidateGroups="intake_clerk"', form=(
    '<camunda:formField id="unit" label="交办单位" type="enum"><camunda:properties>'
    '<camunda:property id="jiefen.options" value="org_units_below" /></camunda:properties></camunda:formField>')))


def test_the_dispatcher_sees_a_rota_department_away_today_and_it_still_gets_the_case(client, login, session,
                                                                                      directory, actor):
    directory.add_org_unit(session, "330106-union", "区总工会", "department", "330106000", presence="rota",
                           rota_days="2,4")
    processes.deploy(session, {"p.bpmn": DISPATCH.encode()}, SYSTEM)
    case = cases.start_case(session, "p", {}, actor("clerk"), "330106000")
    [task] = cases.open_tasks(session, case.id)
    session.commit()
    clerk = login("clerk")
    form = client.get(f"/api/v1/tasks/{task.id}", headers={**clerk, "Accept-Language": "zh-CN"}).get_json()["form"]
    options = {o["id"]: o for o in form[0]["enum"]}
    union = options["330106-union"]["presence"]
    assert (union["presence"], union["rota_days"], union["today"]) == ("rota", [2, 4], "absent")
    assert union["note"] == "今日不在岗（轮驻：周二、周四）"
    assert "presence" not in options["330106001"]  # a township center has none
    done = client.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"unit": "330106-union"}}, headers=clerk)
    assert done.status_code == 200, done.get_json()  # chosen all the same: routing never depends on presence


def test_roles_are_renamed_in_both_languages_and_their_key_stays(client, login, session):
    admin = login("admin")
    listed = client.get("/api/v1/admin/roles", headers=login("auditor")).get_json()
    mediator = next(r for r in listed["items"] if r["name"] == "mediator")
    assert (mediator["shown_zh"], mediator["shown_en"], mediator["name_zh"]) == ("调解员", "Mediator", None)
    assert {"lane": "调解员", "role": "mediator"} in listed["lane_roles"]
    response = client.patch("/api/v1/admin/roles/mediator", json={"name_zh": "专职调解员", "name_en": "Full-time mediator"},
                            headers=admin)
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["shown_zh"], response.get_json()["shown_en"]) == ("专职调解员", "Full-time mediator")
    [event] = _log(client, admin, action="role_renamed", target="mediator")
    assert event["old"] == {"name_zh": None, "name_en": None}
    assert users.load_actor(session, "mediator1").roles == {"mediator"}
    assert client.patch("/api/v1/admin/roles/wizard", json={"name_zh": "巫师"}, headers=admin).status_code == 404
    assert client.patch("/api/v1/admin/roles/mediator", json={"name_zh": "x"}, headers=login("auditor")).status_code == 403
    back = client.patch("/api/v1/admin/roles/mediator", json={"name_zh": "", "name_en": None}, headers=admin)
    assert back.get_json()["shown_zh"] == "调解员"


def test_week_is_a_date(client, login):
    response = client.get("/api/v1/admin/roster", query_string={"week": "next"}, headers=login("admin"))
    assert response.status_code == 422 and "week" in str(response.get_json()["details"])
    assert date.fromisoformat(client.get("/api/v1/admin/roster", headers=login("admin")).get_json()["monday"]) \
        == date(2026, 3, 2)


def test_a_move_is_sent_on_its_own(client, login, session, directory):
    directory.add_org_unit(session, "330106002", "西溪街道综治中心", "township", "330106000")
    response = client.patch("/api/v1/admin/org-units/330106001001", json={"parent": "330106002", "name": "新名"},
                            headers=login("admin"))
    assert response.status_code == 422 and "parent" in response.get_json()["details"]
    assert _units(client, login("admin"))["330106001001"]["parent"] == "330106001"
