"""Issue 20 §5 for the org tree: a unit moved, a presence changed and a role renamed through one process are in
force in another process (its own app, runtime and connections: committed mode) from its next request, and in
its engine sessions from their next statement: nothing holds the tree in a process's memory."""
from __future__ import annotations

import pytest

from engine import runtime
from engine.services import org, users
from tests.conftest import make_runtime
from tests.support import PASSWORD


@pytest.fixture
def other_process(committed_db, database_url, clock):
    """A second web process on the same database: another app with its own runtime and engine."""
    from webui import create_app
    from webui.extensions import db

    rt2 = make_runtime(clock)
    app2 = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "JIEFEN_RUNTIME": rt2,
                       "SECRET_KEY": "test", "JIEFEN_SCHEDULER_ENABLED": False})
    yield app2
    with app2.app_context():
        db.session.remove()
        db.engine.dispose()


def _token(client, name: str) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_a_move_a_presence_and_a_role_name_are_seen_by_the_other_process_at_once(committed_db, client, login,
                                                                                  other_process, session):
    users.add_org_unit(session, "330106002", "西溪街道综治中心", "township", "330106000")
    users.add_org_unit(session, "330106-union", "区总工会", "department", "330106000", presence="resident")
    users.create_user(session, "xsuper", "Lake-Lantern-Pebble-93", ["supervisor"], ["330106002"])
    other = other_process.test_client()
    other_admin = _token(other, "admin")
    before = {u["code"]: u for u in other.get("/api/v1/admin/org-units", headers=other_admin).get_json()["items"]}
    assert before["330106001001"]["parent"] == "330106001"  # the other process has read the tree once already

    admin = login("admin")
    assert client.patch("/api/v1/admin/org-units/330106001001", json={"parent": "330106002"},
                        headers=admin).status_code == 200
    assert client.patch("/api/v1/admin/org-units/330106-union", json={"presence": "rota", "rota_days": [2, 4]},
                        headers=admin).status_code == 200
    assert client.patch("/api/v1/admin/roles/mediator", json={"name_zh": "专职调解员"}, headers=admin).status_code == 200

    after = {u["code"]: u for u in other.get("/api/v1/admin/org-units", headers=other_admin).get_json()["items"]}
    assert after["330106001001"]["parent"] == "330106002"
    assert after["330106-union"]["presence"] == {"presence": "rota", "rota_days": [2, 4], "today": "absent"}
    roles = {r["name"]: r for r in other.get("/api/v1/admin/roles", headers=other_admin).get_json()["items"]}
    assert roles["mediator"]["shown_zh"] == "专职调解员"

    # the other process's engine: oversight and the roster follow the tree from the next statement
    from webui.extensions import db
    with other_process.app_context():
        rt2 = runtime.of(db.session)
        assert rt2 is not runtime.of(session)
        path = next(r.unit.path for r in org.org_tree(db.session, users.SYSTEM) if r.unit.code == "330106001001")
        assert users.load_actor(db.session, "xsuper").supervises(path)
        [row] = org.week_roster(db.session, users.SYSTEM).rows
        assert [p.state for p in row.days][:5] == ["absent", "present", "absent", "present", "absent"]
        db.session.remove()
