"""Issue 20 §1 and §5's admin log through the API: users created, changed, disabled, reset and imported by an
administrator, read by an auditor, refused to everyone else; every act a row of the hash-chained admin log."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from engine.models import AdminEventModel, ApiTokenModel, CaseEventModel, TaskModel
from tests.support import PASSWORD
from tests.support.cases import PHONE, intake

NEW = {"login": "wang.wu", "display_name": "王五", "password": "Lake-Lantern-Pebble-93",
       "memberships": [{"role": "mediator", "org_unit": "330106001"}]}


def _log(client, headers, **query) -> list[dict]:
    response = client.get("/api/v1/admin/log", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


@pytest.fixture
def mediate(client, login, directory, session):
    """An open 调解 task of a county case (role mediator at the county: mediator1, mediator2 hold it)."""
    clerk = login("clerk")
    case = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=clerk).get_json()
    [intake_task] = case["tasks"]
    done = client.post(f"/api/v1/tasks/{intake_task['id']}/complete", json={"data": intake(party_phone=PHONE)},
                       headers=clerk)
    [task] = done.get_json()["tasks"]
    return task


def test_admin_creates_a_user_who_logs_in_with_the_role_at_the_unit(client, login):
    admin = login("admin")
    response = client.post("/api/v1/admin/users", json={**NEW, "phone": "0571-8888 1234"}, headers=admin)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["login"], body["display_name"], body["phone"], body["active"], body["last_login_at"]) == (
        "wang.wu", "王五", "0571-8888 1234", True, None)
    assert body["memberships"] == [{"role": "mediator", "org_unit": "330106001"}]
    login("wang.wu", NEW["password"])
    shown = client.get("/api/v1/admin/users/wang.wu", headers=admin).get_json()
    assert shown["last_login_at"] is not None
    [event] = _log(client, admin, action="user_created", target="wang.wu")
    assert event["actor"] == "admin" and event["old"] is None
    assert event["new"]["memberships"] == [{"role": "mediator", "org_unit": "330106001"}]
    assert "password" not in str(event["new"]).lower()


def test_creating_refuses_bad_input_naming_the_field(client, login):
    admin = login("admin")
    cases = [({**NEW, "login": "王 五"}, 422, "login"), ({**NEW, "password": "password12"}, 422, "password"),
             ({**NEW, "memberships": []}, 422, "memberships"),
             ({**NEW, "memberships": [{"role": "wizard", "org_unit": "330106001"}]}, 422, "memberships.0.role"),
             ({**NEW, "memberships": [{"role": "mediator", "org_unit": "999"}]}, 422, "memberships.0.org_unit"),
             ({**NEW, "phone": "call me"}, 422, "phone"), ({**NEW, "display_name": ""}, 422, "display_name"),
             ({**NEW, "login": "clerk"}, 409, "login")]
    for body, status, field in cases:
        response = client.post("/api/v1/admin/users", json=body, headers=admin)
        assert response.status_code == status, (body, response.get_json())
        assert field in response.get_json()["details"], (field, response.get_json())
    assert _log(client, admin, action="user_created", target="wang.wu") == []


def test_only_admin_changes_auditor_reads_everyone_else_is_refused(client, login):
    admin, auditor = login("admin"), login("auditor")
    assert client.get("/api/v1/admin/users", headers=auditor).status_code == 200
    assert client.get("/api/v1/admin/log", headers=auditor).status_code == 200
    assert client.get("/api/v1/admin/users/clerk", headers=auditor).status_code == 200
    for who in ("auditor", "clerk", "super", "head"):
        headers = login(who)
        assert client.post("/api/v1/admin/users", json=NEW, headers=headers).status_code == 403, who
        assert client.patch("/api/v1/admin/users/clerk", json={"active": False}, headers=headers).status_code == 403
        assert client.post("/api/v1/admin/users/clerk/reset-password", headers=headers).status_code == 403
    for who in ("clerk", "super", "mediator1"):
        assert client.get("/api/v1/admin/users", headers=login(who)).status_code == 403, who
        assert client.get("/api/v1/admin/log", headers=login(who)).status_code == 403, who
        assert client.get("/api/v1/admin/log/verify", headers=login(who)).status_code == 403, who
    assert client.get("/api/v1/admin/users").status_code == 401
    assert client.patch("/api/v1/admin/users/nobody", json={"active": False}, headers=admin).status_code == 404


def test_list_searches_by_name_role_unit_and_active(client, login):
    admin = login("admin")
    assert client.post("/api/v1/admin/users", json=NEW, headers=admin).status_code == 201

    def logins(**query):
        response = client.get("/api/v1/admin/users", query_string=query, headers=admin)
        assert response.status_code == 200, response.get_json()
        return [u["login"] for u in response.get_json()["items"]]

    assert logins(q="王") == ["wang.wu"]
    assert logins(q="MEDIATOR") == ["mediator1", "mediator2", "township_mediator"]
    assert logins(role="mediator", org_unit="330106001") == ["township_mediator", "wang.wu"]
    assert "wang.wu" not in logins(role="mediator", org_unit="330106000")
    client.patch("/api/v1/admin/users/wang.wu", json={"active": False}, headers=admin)
    assert logins(active="false") == ["wang.wu"]
    assert "wang.wu" not in logins(active="true")
    page = client.get("/api/v1/admin/users?per_page=2&page=2", headers=admin).get_json()
    assert page["total"] >= 9 and len(page["items"]) == 2 and page["page"] == 2
    assert client.get("/api/v1/admin/users?per_page=500", headers=admin).status_code == 422
    assert client.get("/api/v1/admin/users?colour=red", headers=admin).status_code == 422


def test_disabling_ends_sessions_and_tokens_at_once_and_returns_claims(client, login, mediate, session):
    admin, m1 = login("admin"), login("mediator1")
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=m1).status_code == 200
    response = client.patch("/api/v1/admin/users/mediator1", json={"active": False}, headers=admin)
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert client.get("/api/v1/tasks", headers=m1).status_code == 401  # the token ended with the disable
    session.expire_all()
    assert session.get(TaskModel, mediate["id"]).assignee is None
    [released] = session.scalars(select(CaseEventModel).where(CaseEventModel.task_id == mediate["id"],
                                                              CaseEventModel.type == "task_released")).all()
    assert released.actor == "admin" and released.payload == {"was": "mediator1", "reason": "user_disabled"}
    [event] = _log(client, admin, action="user_disabled")
    assert (event["target"], event["old"], event["new"]) == (
        "mediator1", {"active": True}, {"active": False, "released_tasks": [mediate["id"]]})
    client.post("/api/v1/auth/token", json={"username": "mediator1", "password": PASSWORD})
    assert client.post("/api/v1/auth/token", json={"username": "mediator1", "password": PASSWORD}).status_code == 401
    enabled = client.patch("/api/v1/admin/users/mediator1", json={"active": True}, headers=admin)
    assert enabled.status_code == 200
    login("mediator1")
    assert [e["action"] for e in _log(client, admin, target="mediator1")][:2] == ["user_enabled", "user_disabled"]


def test_revoking_a_role_ends_sessions_and_releases_only_what_it_reached(client, login, mediate, session):
    admin, m1 = login("admin"), login("mediator1")
    assert client.post(f"/api/v1/tasks/{mediate['id']}/claim", headers=m1).status_code == 200
    # a new grant alone ends nothing
    grant = client.patch("/api/v1/admin/users/mediator1", headers=admin, json={"memberships": [
        {"role": "mediator", "org_unit": "330106000"}, {"role": "mediator", "org_unit": "330106001"}]})
    assert grant.status_code == 200, grant.get_json()
    assert client.get("/api/v1/tasks", headers=m1).status_code == 200
    session.expire_all()
    assert session.get(TaskModel, mediate["id"]).assignee == "mediator1"
    # revoking the township grant ends the sessions, but the county task is still theirs
    client.patch("/api/v1/admin/users/mediator1", headers=admin,
                 json={"memberships": [{"role": "mediator", "org_unit": "330106000"}]})
    assert client.get("/api/v1/tasks", headers=m1).status_code == 401
    session.expire_all()
    assert session.get(TaskModel, mediate["id"]).assignee == "mediator1"
    # revoking the county's role returns the task to the pool
    m1 = login("mediator1")
    client.patch("/api/v1/admin/users/mediator1", headers=admin,
                 json={"memberships": [{"role": "mediator", "org_unit": "330106001"}]})
    session.expire_all()
    assert session.get(TaskModel, mediate["id"]).assignee is None
    assert session.scalar(select(ApiTokenModel.revoked).where(ApiTokenModel.id == session.scalar(
        select(ApiTokenModel.id).order_by(ApiTokenModel.id.desc()).limit(1)))) is True
    changes = _log(client, admin, action="memberships_changed", target="mediator1")
    assert len(changes) == 3
    assert changes[0]["old"] == {"memberships": [{"role": "mediator", "org_unit": "330106000"}]}
    assert changes[0]["new"] == {"memberships": [{"role": "mediator", "org_unit": "330106001"}],
                                 "released_tasks": [mediate["id"]]}


def test_edit_name_and_phone_records_old_and_new(client, login):
    admin = login("admin")
    response = client.patch("/api/v1/admin/users/clerk", json={"display_name": "受理员小李", "phone": "13900001111"},
                            headers=admin)
    assert response.status_code == 200
    assert (response.get_json()["display_name"], response.get_json()["phone"]) == ("受理员小李", "13900001111")
    [event] = _log(client, admin, action="user_updated")
    assert event["old"] == {"display_name": "clerk", "phone": None}
    assert event["new"] == {"display_name": "受理员小李", "phone": "13900001111"}
    # the same values again: nothing changed, nothing recorded
    client.patch("/api/v1/admin/users/clerk", json={"display_name": "受理员小李"}, headers=admin)
    assert len(_log(client, admin, action="user_updated")) == 1
    for body, field in (({"phone": "x"}, "phone"), ({"display_name": ""}, "display_name"),
                        ({"active": "maybe"}, "active"), ({"memberships": [{"role": "mediator"}]}, "memberships"),
                        ({"login": "other"}, "login")):
        refused = client.patch("/api/v1/admin/users/clerk", json=body, headers=admin)
        assert refused.status_code == 422 and field in refused.get_json()["details"], (body, refused.get_json())


def test_admin_cannot_lock_themselves_or_the_center_out(client, login, directory, session):
    admin = login("admin")
    myself = client.patch("/api/v1/admin/users/admin", json={"active": False}, headers=admin)
    assert myself.status_code == 409 and "active" in myself.get_json()["details"]
    revoke = client.patch("/api/v1/admin/users/admin", json={"memberships": [
        {"role": "auditor", "org_unit": "330106000"}]}, headers=admin)
    assert revoke.status_code == 409
    # another administrator may disable the first while one stays
    directory.create_user(session, "admin2", PASSWORD, ["admin"])
    assert client.patch("/api/v1/admin/users/admin", json={"active": False},
                        headers=login("admin2")).status_code == 200


def test_reset_password_gives_a_one_time_password_that_must_be_changed(client, login):
    admin, clerk = login("admin"), login("clerk")
    response = client.post("/api/v1/admin/users/clerk/reset-password", headers=admin)
    assert response.status_code == 200
    one_time = response.get_json()["one_time_password"]
    assert len(one_time) == 19 and one_time.count("-") == 3
    assert client.get("/api/v1/tasks", headers=clerk).status_code == 401  # sessions and tokens ended
    assert client.post("/api/v1/auth/token", json={"username": "clerk", "password": PASSWORD}).status_code == 401
    refused = client.post("/api/v1/auth/token", json={"username": "clerk", "password": one_time})
    assert refused.status_code == 403  # the one-time password opens the browser's change page only
    assert client.get("/api/v1/admin/users/clerk", headers=admin).get_json()["must_change_password"] is True
    [event] = _log(client, admin, action="password_reset")
    assert event["target"] == "clerk" and one_time not in str(event)


def test_the_log_filters_pages_exports_and_verifies(client, login, session):
    admin, auditor = login("admin"), login("auditor")
    client.post("/api/v1/admin/users", json=NEW, headers=admin)
    client.patch("/api/v1/admin/users/wang.wu", json={"phone": "13800001111"}, headers=admin)
    client.post("/api/v1/admin/users/wang.wu/reset-password", headers=admin)
    mine = _log(client, auditor, actor="admin")
    assert [e["action"] for e in mine] == ["password_reset", "user_updated", "user_created"]
    assert [e["seq"] for e in mine] == sorted((e["seq"] for e in mine), reverse=True)
    assert _log(client, auditor, actor="admin", since="2000-01-01", until="2000-01-02") == []
    page = client.get("/api/v1/admin/log?actor=admin&per_page=1&page=2", headers=auditor).get_json()
    assert page["total"] == 3 and [e["action"] for e in page["items"]] == ["user_updated"]
    bad = client.get("/api/v1/admin/log?since=2026-02-01&until=2026-01-01", headers=auditor)
    assert bad.status_code == 422 and "until" in bad.get_json()["details"]
    export = client.get("/api/v1/admin/log/export?actor=admin", headers=auditor)
    assert export.status_code == 200 and export.mimetype == "text/csv"
    lines = export.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("序号,时间,操作人") and len(lines) == 4 and "wang.wu" in lines[1]
    check = client.get("/api/v1/admin/log/verify", headers=auditor).get_json()
    assert check["ok"] is True and check["checked"] >= 3
    # an altered row breaks the chain where it was altered
    target = session.scalar(select(AdminEventModel).where(AdminEventModel.action == "user_updated"))
    session.execute(update(AdminEventModel).where(AdminEventModel.id == target.id).values(target="someone.else"))
    session.flush()
    check = client.get("/api/v1/admin/log/verify", headers=auditor).get_json()
    assert check == {"ok": False, "checked": target.seq - 1, "broken_at": target.seq}


def test_import_through_the_api_checks_first_then_saves_all_or_none(client, login):
    admin = login("admin")
    good = "登录名,姓名,手机,初始密码,角色@单位\nzhao.liu,赵六,,,mediator@330106001\nqian.qi,钱七,,,调解员@330106000\n"
    bad = good + "clerk,重名,,,mediator@330106001\n"
    url = "/api/v1/admin/users/import?filename=users.csv"
    checked = client.post(url + "&apply=true", data=bad.encode(), headers=admin).get_json()
    assert checked["applied"] is False and checked["created"] == []
    assert [(e["row"], e["column"]) for e in checked["errors"]] == [(4, "login")]
    assert client.get("/api/v1/admin/users?q=zhao", headers=admin).get_json()["total"] == 0
    dry = client.post(url, data=good.encode(), headers=admin).get_json()
    assert dry == {"applied": False, "errors": [], "created": []}
    done = client.post(url + "&apply=true", data=good.encode(), headers=admin).get_json()
    assert done["applied"] is True and [c["login"] for c in done["created"]] == ["zhao.liu", "qian.qi"]
    assert all(len(c["one_time_password"]) == 19 for c in done["created"])
    qian = client.get("/api/v1/admin/users/qian.qi", headers=admin).get_json()
    assert qian["must_change_password"] is True and qian["memberships"] == [{"role": "mediator", "org_unit": "330106000"}]
    assert len(_log(client, admin, action="user_imported")) == 2
    assert client.post(url, data=good.encode(), headers=login("auditor")).status_code == 403
    assert client.post(url, data=b"a,b\n", headers=login("clerk")).status_code == 403
    assert client.post(url, data=b"a,b\n", headers=admin).status_code == 422


def test_the_log_with_its_last_entries_deleted_does_not_verify(client, login, session):
    """The chain alone holds together when its tail is cut off; the head row written with every append does not
    match it then. Rows added outside jiefen after the head, and a last row replaced and chained anew, are found
    the same way."""
    from engine import admin_log as chain
    from engine.models import AdminLogHeadModel

    admin, auditor = login("admin"), login("auditor")
    client.post("/api/v1/admin/users", json=NEW, headers=admin)
    client.patch("/api/v1/admin/users/wang.wu", json={"phone": "13800001111"}, headers=admin)
    client.post("/api/v1/admin/users/wang.wu/reset-password", headers=admin)
    rows = list(session.scalars(select(AdminEventModel).order_by(AdminEventModel.seq)))
    last = rows[-1]
    head = session.get(AdminLogHeadModel, chain.HEAD_ID)
    assert (head.seq, head.hash) == (last.seq, last.hash)
    assert client.get("/api/v1/admin/log/verify", headers=auditor).get_json()["ok"] is True

    # the last two acts deleted: every remaining row still chains, the log does not verify
    session.execute(delete(AdminEventModel).where(AdminEventModel.seq > last.seq - 2))
    session.flush()
    check = client.get("/api/v1/admin/log/verify", headers=auditor).get_json()
    assert check == {"ok": False, "checked": last.seq - 2, "broken_at": last.seq - 1}

    # put back, then one more row chained on outside jiefen (the head not moved): found at that row
    for row in rows[-2:]:
        session.add(AdminEventModel(**{c: getattr(row, c) for c in ("seq", "at", "actor", "action", "target_type",
                                                                     "target", "old", "new", "prev_hash", "hash")}))
    session.flush()
    assert client.get("/api/v1/admin/log/verify", headers=auditor).get_json()["ok"] is True
    forged = AdminEventModel(seq=last.seq + 1, at=last.at, actor="admin", action="user_updated", target_type="user",
                             target="wang.wu", old=None, new={"phone": "1"}, prev_hash=last.hash, hash="")
    forged.hash = chain.hash_of(forged)
    session.add(forged)
    session.flush()
    check = client.get("/api/v1/admin/log/verify", headers=auditor).get_json()
    assert check == {"ok": False, "checked": last.seq, "broken_at": last.seq + 1}

    # the last row replaced by one chained anew in its place: found at that row
    session.execute(delete(AdminEventModel).where(AdminEventModel.seq >= last.seq))
    forged = AdminEventModel(seq=last.seq, at=last.at, actor="admin", action="user_updated", target_type="user",
                             target="wang.wu", old=None, new={"phone": "2"}, prev_hash=last.prev_hash, hash="")
    forged.hash = chain.hash_of(forged)
    session.add(forged)
    session.flush()
    check = client.get("/api/v1/admin/log/verify", headers=auditor).get_json()
    assert check == {"ok": False, "checked": last.seq - 1, "broken_at": last.seq}
