"""Diagram support for the case page: generated layout for DI-less files, the bpmn-js files, frame robustness."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from tests.support import PASSWORD
from webui.diagram_layout import BPMNDI, with_layout
from webui.i18n import local_dt

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "fixtures" / "engine" / "small_mediation.bpmn"


def test_layout_is_generated_for_files_without_a_diagram():
    xml, generated = with_layout(SMALL.read_bytes())
    assert generated
    root = etree.fromstring(xml)
    drawn = {el.get("bpmnElement") for el in root.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge")}
    model = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")
             and etree.QName(el).localname in {"startEvent", "userTask", "scriptTask", "exclusiveGateway", "endEvent",
                                               "boundaryEvent", "sequenceFlow"}}
    assert model and model <= drawn
    assert with_layout(xml) == (xml, False)  # a file with a diagram is left alone


def test_broken_xml_is_returned_unchanged():
    assert with_layout(b"<not-closed") == (b"<not-closed", False)


def test_local_dt_shows_china_time_and_leaves_junk_alone():
    assert local_dt("2026-03-02T01:00:00+00:00") == "2026-03-02 09:00"
    assert local_dt("not a date") == "not a date"
    assert local_dt(None) == ""


def test_bpmn_js_files_are_served_from_node_modules(client):
    viewer = ROOT / "node_modules" / "bpmn-js" / "dist" / "bpmn-navigated-viewer.production.min.js"
    if viewer.exists():
        response = client.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
        assert response.status_code == 200 and len(response.data) > 1000
        response.close()
    assert client.get("/vendor/bpmn-js/../../package.json").status_code == 404


def test_case_page_shows_a_notice_when_bpmn_js_is_missing(app, session, directory, actor, tmp_path):
    import re

    from engine.services import cases

    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    app.config["JIEFEN_NODE_MODULES"] = str(tmp_path)  # an empty node_modules
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "clerk", "password": PASSWORD, "csrf_token": token})
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="diagram-missing"' in html and "npm install" in html and "bpmn-navigated-viewer" not in html


def test_error_page_renders_with_a_bad_bearer_token(client, directory):
    response = client.get("/no/such/page", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 404 and "未找到" in response.get_data(as_text=True)


def test_page_frame_survives_a_failing_directory_lookup(client, directory, monkeypatch):
    import re

    from engine.services import users

    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "clerk", "password": PASSWORD, "csrf_token": token})

    def broken(_session):
        raise RuntimeError("directory unavailable")

    monkeypatch.setattr(users, "list_roles", broken)
    response = client.get("/lookup")
    assert response.status_code == 200 and "案件进度查询" in response.get_data(as_text=True)
