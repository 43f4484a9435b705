"""Issue 20 §4 and §5: the supervision ladder's policy in the console (GET/PUT /api/v1/admin/ladder), checked per
field, recorded (history, admin log), used by the engine for tasks opened after the change, and — when asked — for
the open ones; the other settings (lane map, group cases, ranking) through /api/v1/admin/settings."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta

from engine.clock import CHINA_TZ
from tests.support.cases import INTAKE


def _case_at_mediation(client, login) -> dict:
    clerk = login("clerk")
    case = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=clerk).get_json()
    client.post(f"/api/v1/tasks/{case['tasks'][0]['id']}/complete", json={"data": INTAKE}, headers=clerk)
    return client.get(f"/api/v1/cases/{case['id']}", headers=clerk).get_json()


def _ladder(case: dict) -> list[tuple[str, str]]:
    return [(t["name"].partition("：")[0], t["due_at"]) for t in case["timers"] if t["kind"] == "ladder"]


def _policy(client, headers) -> dict:
    response = client.get("/api/v1/admin/ladder", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["policy"]


def test_the_default_policy_is_config_org_toml_for_every_tier(client, login):
    body = client.get("/api/v1/admin/ladder", headers=login("auditor")).get_json()
    assert body["version"] is None and body["saved_by"] is None  # never saved: the file's
    tiers = body["policy"]["tiers"]
    assert set(tiers) == {"simple", "ordinary", "complex", "major"}
    for tier in tiers.values():
        assert tier["enabled"] is True
        assert tier["steps"] == [
            {"step": "prompt", "direction": "before", "amount": 3, "unit": "days", "two_thirds": True},
            {"step": "reminder", "direction": "after", "amount": 0, "unit": "days", "two_thirds": False},
            {"step": "notice", "direction": "after", "amount": 1, "unit": "days", "two_thirds": False},
            {"step": "listing", "direction": "after", "amount": 5, "unit": "workdays", "two_thirds": False}]
    assert body["policy"]["roles"]["village"] == {"notice": "unit_head", "listing": "supervisor"}


def test_only_admin_changes_auditor_reads_others_403(client, login):
    policy = _policy(client, login("auditor"))
    for name in ("clerk", "super", "head"):
        assert client.get("/api/v1/admin/ladder", headers=login(name)).status_code == 403
    for name in ("auditor", "clerk", "super"):
        assert client.put("/api/v1/admin/ladder", json={"policy": policy}, headers=login(name)).status_code == 403
        assert client.put("/api/v1/admin/settings/lane_roles", json={"value": {"调解员": "mediator"}},
                          headers=login(name)).status_code == 403
    assert client.get("/api/v1/admin/settings", headers=login("clerk")).status_code == 403
    assert client.get("/api/v1/admin/settings", headers=login("auditor")).status_code == 200


def test_a_wrong_policy_is_refused_naming_each_field(client, login):
    admin = login("admin")
    policy = _policy(client, admin)
    bad = copy.deepcopy(policy)
    bad["tiers"]["ordinary"]["steps"][2]["amount"] = 0  # 督办 at the due date: not after 催办
    bad["tiers"]["ordinary"]["steps"][2]["direction"] = "before"
    bad["tiers"]["major"]["steps"] = []
    bad["tiers"]["simple"]["steps"][1]["unit"] = "weeks"
    bad["tiers"]["complex"]["steps"].reverse()
    bad["roles"]["village"]["notice"] = "wizard"
    response = client.put("/api/v1/admin/ladder", json={"policy": bad}, headers=admin)
    assert response.status_code == 422
    fields = response.get_json()["details"]
    assert set(fields) >= {"tiers.ordinary.steps.2.amount", "tiers.major.steps", "tiers.simple.steps.1.unit",
                           "tiers.complex.steps.1.step", "roles.village.notice"}
    assert "督办" in str(fields["tiers.ordinary.steps.2.amount"]) and "wizard" in str(fields["roles.village.notice"])
    assert client.get("/api/v1/admin/ladder", headers=admin).get_json()["version"] is None  # nothing saved


def _fire_due(app, clock, moment):
    from engine.services.timers import fire_due_timers
    from webui.extensions import db
    clock.set(moment)
    with app.app_context():
        fire_due_timers(db.session, moment)
        db.session.remove()


def test_a_task_opened_after_a_change_follows_the_new_steps_and_open_ones_when_asked(app, client, login, clock):
    admin, auditor = login("admin"), login("auditor")
    before = _case_at_mediation(client, login)
    old_steps = _ladder(before)
    assert old_steps[0][0] == "提示"

    policy = _policy(client, admin)
    # 一般 (a case without a tier follows it): no 提示, 催办 two days before the deadline, 督办 3 working days after
    policy["tiers"]["ordinary"]["steps"] = [
        {"step": "reminder", "direction": "before", "amount": 2, "unit": "days", "two_thirds": False},
        {"step": "notice", "direction": "after", "amount": 3, "unit": "workdays", "two_thirds": False}]
    saved = client.put("/api/v1/admin/ladder", json={"policy": policy, "note": "试行"}, headers=admin)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json() == {"key": "ladder", "changed": True, "version": 1, "cases": 0, "moved": 0}
    assert client.get("/api/v1/admin/ladder", headers=auditor).get_json()["saved_by"] == "admin"

    # the case opened before keeps its steps; a case opened now follows the new ones
    assert _ladder(client.get(f"/api/v1/cases/{before['id']}", headers=auditor).get_json()) == old_steps
    clock.advance(minutes=5)
    after = _case_at_mediation(client, login)
    steps = _ladder(after)
    assert [name for name, _ in steps] == ["催办", "督办"]
    [task] = [t for t in after["tasks"] if t.get("due_at")]
    due = datetime.fromisoformat(task["due_at"])
    reminder = datetime.fromisoformat(steps[0][1])
    assert due - timedelta(days=2) <= reminder < due  # two days before, or the next working day's start
    assert datetime.fromisoformat(steps[1][1]).astimezone(CHINA_TZ).date() > due.astimezone(CHINA_TZ).date()

    # time passes: the 催办 fires at its moment (level 2, a 催办 follow-up), no 提示 ever
    _fire_due(app, clock, reminder + timedelta(seconds=2))
    events = client.get(f"/api/v1/cases/{after['id']}/events", headers=auditor).get_json()["items"]
    escalated = [e["payload"]["step"] for e in events if e["type"] == "task_escalated"]
    assert escalated == ["reminder"]
    case = client.get(f"/api/v1/cases/{after['id']}", headers=auditor).get_json()
    assert [name for name, _ in _ladder(case)] == ["督办"]

    # applied to the open tasks too: the case opened before moves to the new steps, with an event
    applied = client.put("/api/v1/admin/ladder", json={"policy": policy, "apply_to_open_tasks": True},
                         headers=admin).get_json()
    assert applied["changed"] and applied["version"] == 2 and applied["cases"] >= 1 and applied["moved"] >= 1
    events = client.get(f"/api/v1/cases/{before['id']}/events", headers=auditor).get_json()["items"]
    [event] = [e for e in events if e["type"] == "ladder_policy_applied"]
    assert event["actor"] == "admin"
    moved = client.get(f"/api/v1/cases/{before['id']}", headers=auditor).get_json()
    assert _ladder(moved) != old_steps and all(name != "提示" for name, _ in _ladder(moved))
    verified = client.get(f"/api/v1/cases/{before['id']}/verify", headers=auditor).get_json()
    assert verified["chain_ok"] and verified["replay_ok"], verified["problems"]

    history = client.get("/api/v1/admin/settings/ladder/history", headers=auditor).get_json()["items"]
    assert [h["version"] for h in history] == [2, 1]
    assert history[1]["note"] == "试行" and history[1]["old"]["tiers"]["ordinary"]["steps"][0]["step"] == "prompt"
    assert history[0]["applies_to_open"] is True
    log = client.get("/api/v1/admin/log?action=setting_saved", headers=auditor).get_json()["items"]
    assert len(log) == 2 and log[0]["target"] == "ladder"
    assert client.get("/api/v1/admin/log/verify", headers=auditor).get_json()["ok"] is True


def test_a_tier_turned_off_gets_no_ladder(client, login, clock):
    admin = login("admin")
    policy = _policy(client, admin)
    policy["tiers"]["ordinary"]["enabled"] = False
    assert client.put("/api/v1/admin/ladder", json={"policy": policy}, headers=admin).status_code == 200
    clock.advance(minutes=1)  # tasks opened after the save follow it
    case = _case_at_mediation(client, login)
    assert _ladder(case) == []


def test_saving_the_same_policy_writes_nothing(client, login):
    admin = login("admin")
    policy = _policy(client, admin)
    body = client.put("/api/v1/admin/ladder", json={"policy": policy}, headers=admin).get_json()
    assert body["changed"] is False and body["version"] is None
    assert client.get("/api/v1/admin/settings/ladder/history", headers=admin).get_json()["items"] == []


def test_the_lane_map_group_cases_and_ranking_are_saved_checked_and_in_force(app, client, login):
    admin, auditor = login("admin"), login("auditor")
    listed = {s["key"]: s for s in client.get("/api/v1/admin/settings", headers=auditor).get_json()["items"]}
    assert set(listed) == {"ladder", "lane_roles", "group_case", "ranking"}
    assert listed["lane_roles"]["value"]["调解员"] == "mediator" and listed["lane_roles"]["version"] is None

    lanes = dict(listed["lane_roles"]["value"], 人民调解员="mediator")
    bad = client.put("/api/v1/admin/settings/lane_roles", json={"value": {**lanes, "回访员": "wizard"}}, headers=admin)
    assert bad.status_code == 422 and "lane_roles.回访员" in bad.get_json()["details"]
    ok = client.put("/api/v1/admin/settings/lane_roles", json={"value": lanes}, headers=admin)
    assert ok.status_code == 200 and ok.get_json()["changed"]
    roles = client.get("/api/v1/admin/roles", headers=auditor).get_json()["lane_roles"]
    assert {"lane": "人民调解员", "role": "mediator"} in roles

    bad = client.put("/api/v1/admin/settings/group_case", json={"value": {
        "people_involved_at_least": 1, "director_role": "director", "consultation_roles": []}}, headers=admin)
    assert bad.status_code == 422
    assert set(bad.get_json()["details"]) == {"people_involved_at_least", "consultation_roles"}
    ok = client.put("/api/v1/admin/settings/group_case", json={"value": {
        "people_involved_at_least": 20, "director_role": "director", "consultation_roles": ["dept_police"]}},
        headers=admin)
    assert ok.status_code == 200
    from webui.extensions import current_runtime
    with app.app_context():
        assert current_runtime().settings.group_people_at_least == 20

    bad = client.put("/api/v1/admin/settings/ranking", json={"value": {"weights": {"speed": 1}}}, headers=admin)
    assert bad.status_code == 422 and "weights.speed" in bad.get_json()["details"]
    ok = client.put("/api/v1/admin/settings/ranking", json={"value": {"weights": {"satisfaction_rate": 1}}},
                    headers=admin)
    assert ok.status_code == 200
    with app.app_context():
        assert current_runtime().settings.ranking_weights == {"satisfaction_rate": 1.0}
    assert client.put("/api/v1/admin/settings/colour", json={"value": {}}, headers=admin).status_code == 422
    assert client.put("/api/v1/admin/settings/lane_roles", json={"value": lanes, "apply_to_open_tasks": True},
                      headers=admin).status_code == 422  # unknown field
    actions = [e["action"] for e in client.get("/api/v1/admin/log", headers=auditor).get_json()["items"]]
    assert actions.count("setting_saved") == 3
