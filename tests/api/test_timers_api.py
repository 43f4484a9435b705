"""Timers through the API and the scheduler wiring (APScheduler wakes the drain loop)."""
import time
from datetime import timedelta

import pytest

from tests.conftest import START
from tests.support.cases import INTAKE


def _case_at_mediation(client, login):
    clerk = login("clerk")
    case = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=clerk).get_json()
    client.post(f"/api/v1/tasks/{case['tasks'][0]['id']}/complete", json={"data": INTAKE}, headers=clerk)
    return client.get(f"/api/v1/cases/{case['id']}", headers=clerk).get_json()


def test_case_lists_its_pending_timers_in_china_time(client, login):
    case = _case_at_mediation(client, login)
    timers = {t["name"]: t for t in case["timers"]}
    assert timers["调解期满"] == {"due_at": "2026-04-01T23:59:59+08:00", "kind": "bpmn", "name": "调解期满"}
    assert {t["kind"] for t in case["timers"]} == {"bpmn", "ladder"}
    assert any(t["name"].startswith("提示") for t in case["timers"])


@pytest.mark.committed_db  # the scheduler's thread has its own connection
def test_scheduler_fires_due_timers_on_its_own(app, client, login, clock):
    from webui.scheduler import start_scheduler
    case = _case_at_mediation(client, login)
    clock.set(START + timedelta(days=40))  # everything of this case is overdue now
    app.config["JIEFEN_SCHEDULER_INTERVAL"] = 1
    scheduler = start_scheduler(app)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            body = client.get(f"/api/v1/cases/{case['id']}", headers=login("auditor")).get_json()
            if body["status"] == "closed":
                break
            time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)
    assert body["status"] == "closed" and body["outcome"] == "调解期满终止"
    events = client.get(f"/api/v1/cases/{case['id']}/events", headers=login("auditor")).get_json()["items"]
    fired = [e for e in events if e["type"] in ("timer_fired", "task_escalated")]
    assert [e["at"] for e in fired] == sorted(e["at"] for e in fired)
    assert {e["type"] for e in fired} == {"timer_fired", "task_escalated"}


def test_task_shows_its_own_org_unit_not_the_cases(app, client, login):
    from engine.services import cases
    from engine.services.users import SYSTEM
    from webui.extensions import db
    with app.app_context():
        # nobody holds intake_clerk at the township, so its registration task goes to the county's clerks
        case_id = cases.start_case(db.session, "small_mediation", {}, SYSTEM, org_unit="330106001").id
    body = client.get(f"/api/v1/cases/{case_id}", headers=login("auditor")).get_json()
    assert body["org_unit"] == "330106001"
    assert body["tasks"][0]["org_unit"] == "330106000"
