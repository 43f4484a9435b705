"""The diagram a case is drawn on: the version it runs on, one its history ran on before a migration (the
replay draws each step on the version of its time), and a called process as the caller's version embeds it
(drill-down)."""
from __future__ import annotations

import json
import re

from sqlalchemy import select

from engine.models import CaseEventModel
from engine.services import cases, history, migration, processes
from engine.services.users import SYSTEM
from tests.support.caller import CALLER
from tests.support.cases import registered
from tests.support.web import ui_login
from tests.unit.test_case_migration import V2


def _browser(app, user):
    client = app.test_client()
    ui_login(client, user, expect=302)
    return client


def test_replay_steps_before_a_migration_are_drawn_on_the_version_of_their_time(app, session, actor):
    case = registered(session, actor("clerk"))
    v1 = case.process_version_id
    processes.deploy(session, {"small_mediation.bpmn": V2.encode("utf-8")}, SYSTEM, "加复核")
    migration.migrate_cases(session, "small_mediation", 1, 2, actor("admin"), dry_run=False)
    session.refresh(case)
    v2 = case.process_version_id
    assert v2 != v1 and history.case_versions(session, case.id) == [v1, v2]
    auditor = _browser(app, "auditor")
    html = auditor.get(f"/audit/cases/{case.id}").get_data(as_text=True)
    steps = json.loads(re.search(r'id="replay-steps">(.*?)</script>', html, re.S).group(1))
    seq = session.scalar(select(CaseEventModel.seq).where(CaseEventModel.case_id == case.id,
                                                          CaseEventModel.type == "case_migrated"))
    migrated = next(i for i, s in enumerate(steps) if s["seq"] == seq)
    assert {s["version"] for s in steps[:migrated]} == {v1} and {s["version"] for s in steps[migrated:]} == {v2}
    old = auditor.get(f"/cases/{case.id}/diagram.bpmn", query_string={"version": v1}).get_data(as_text=True)
    new = auditor.get(f"/cases/{case.id}/diagram.bpmn", query_string={"version": v2}).get_data(as_text=True)
    assert 'id="review"' not in old and 'id="review"' in new
    assert auditor.get(f"/cases/{case.id}/diagram.bpmn").get_data(as_text=True) == new
    processes.deploy(session, {"small_mediation.bpmn": V2.replace("复核", "复审").encode("utf-8")}, SYSTEM)
    other = processes.active_version(session, "small_mediation").id
    assert other not in (v1, v2)
    assert auditor.get(f"/cases/{case.id}/diagram.bpmn", query_string={"version": other}).status_code == 404
    assert auditor.get(f"/cases/{case.id}/diagram.bpmn", query_string={"version": "x"}).status_code == 422


def test_a_call_activity_drills_down_into_the_called_process_as_embedded(app, session, actor):
    processes.deploy(session, {"caller.bpmn": CALLER.encode("utf-8")}, SYSTEM)
    case = cases.start_case(session, "caller", {}, actor("clerk"))
    clerk = _browser(app, "clerk")
    page = clerk.get(f"/cases/{case.id}").get_data(as_text=True)
    called = json.loads(re.search(r"data-called='(.*?)'", page).group(1).replace("&#34;", '"'))
    assert list(called) == ["small_mediation"]
    xml = clerk.get(f"/cases/{case.id}/diagram.bpmn", query_string={"process": "small_mediation"})
    assert xml.status_code == 200 and 'id="intake"' in xml.get_data(as_text=True)
    assert "intake" in [t.spec_name for t in cases.open_tasks(session, case.id)]  # waiting inside the call
    assert clerk.get(f"/cases/{case.id}/diagram.bpmn", query_string={"process": "dispute"}).status_code == 404
    # a small_mediation case calls nothing
    plain = registered(session, actor("clerk"))
    assert clerk.get(f"/cases/{plain.id}/diagram.bpmn", query_string={"process": "small_mediation"}).status_code == 404
    assert "data-called='{}'" in clerk.get(f"/cases/{plain.id}").get_data(as_text=True)
