"""Input is validated and bounded (issue 15 §3): the reproductions of security.md M2, L5 and I2, each a 4xx in
the API's JSON error shape, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.models import CaseModel, ProcessVersionModel
from tests.support.cases import PHONE, intake
from tests.support.web import ui_login

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
INTAKE = intake(party_phone=PHONE)


def _error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert set(body) == {"error", "message", "details"}, body
    return body


def _start(client, headers, data, process_id="small_mediation"):
    return client.post("/api/v1/cases", json={"process_id": process_id, "data": data}, headers=headers)


def _raw(client, url, text: str, headers):
    return client.post(url, data=text.encode("utf-8", "surrogatepass"),
                       headers={**headers, "Content-Type": "application/json"})


def _case_count(session) -> int:
    return session.scalar(select(func.count()).select_from(CaseModel))


# --------------------------------------------------------------------------------------------- M2: start data


def test_start_data_is_checked_against_the_registration_form_like_the_intake(client, login, session):
    clerk = login("clerk")
    assert _start(client, clerk, INTAKE).status_code == 201  # a prefill: required fields may come later
    body = _error(_start(client, clerk, {"tier": "'><svg/onload=alert(3)>", "<b>key</b>": "<script>"}), 422)
    assert set(body["details"]) == {"tier", "<b>key</b>"}
    assert "tier" in body["message"] and "<b>key</b>" in body["message"]
    body = _error(_start(client, clerk, {**INTAKE, "channel": "fax"}), 422)
    assert list(body["details"]) == ["channel"]
    body = _error(_start(client, clerk, {"amount": "lots"}), 422)
    assert list(body["details"]) == ["amount"]
    assert _case_count(session) == 1


def test_keys_that_hide_the_calendar_helpers_are_refused(client, login, session):
    body = _error(_start(client, login("clerk"), {"workdays": 1, "legal_days": 2}), 422)
    assert {"workdays", "legal_days"} <= set(body["details"])
    assert "workdays" in body["details"]["workdays"][0]
    assert _case_count(session) == 0


def test_start_data_nested_600_deep_is_refused_and_opens_no_case(client, login, session):
    clerk = login("clerk")
    deep = {"x": json.loads("[" * 600 + "]" * 600)}
    _error(_start(client, clerk, deep), 422)
    eleven = {"party_name": json.loads("[" * 10 + "]" * 10)}  # the data object and 10 lists: 11 levels
    body = _error(_start(client, clerk, eleven), 422)
    assert "10" in json.dumps(body["details"], ensure_ascii=False)
    assert _case_count(session) == 0


def test_a_text_longer_than_the_limit_is_refused_with_its_field(client, login):
    body = _error(_start(client, login("clerk"), {"party_name": "张" * 10_001}), 422)
    assert list(body["details"]) == ["party_name"]


@pytest.mark.parametrize("token", ["NaN", "1e999", "-Infinity", "Infinity", "-1e400"])
def test_non_standard_numbers_are_refused_while_parsing(client, login, session, token):
    response = _raw(client, "/api/v1/cases", f'{{"process_id": "small_mediation", "data": {{"amount": {token}}}}}',
                    login("clerk"))
    body = _error(response, 422)
    assert "body" in body["details"]
    assert _case_count(session) == 0


def test_a_10_mb_body_is_refused_before_it_is_read(client, login, session):
    body = json.dumps({"process_id": "small_mediation", "data": {"blob": "x" * (10 * 1024 * 1024)}})
    response = client.post("/api/v1/cases", data=body, headers={**login("clerk"), "Content-Type": "application/json"})
    assert _error(response, 413)["error"] == "request_entity_too_large"
    assert _case_count(session) == 0


def test_many_keys_within_the_body_limit_are_refused(client, login, session):
    clerk = login("clerk")
    body = _error(_start(client, clerk, {f"key_{i}": i for i in range(50_000)}), 422)  # 640 kB of data
    assert list(body["details"]) == ["data"] and "262144" in body["details"]["data"][0]
    body = _error(_start(client, clerk, {f"k{i}": 1 for i in range(15_000)}), 422)  # 190 kB: every one unknown
    assert len(body["details"]) == 15_000 and _case_count(session) == 0


def test_a_bpmn_deploy_may_be_larger_than_a_json_body_but_not_unbounded(app, client, login):
    admin = login("admin")
    xml = (FIXTURES / "small_mediation.bpmn").read_bytes()
    comment = b"<!-- " + b"x" * (2 * 1024 * 1024) + b" -->"
    big = xml.replace(b"?>", b"?>" + comment, 1).replace(b"small_mediation", b"big_mediation")
    assert len(big) > app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/api/v1/processes", data=big, headers={**admin, "Content-Type": "application/xml"})
    assert response.status_code == 201, response.get_json()
    app.config["JIEFEN_MAX_UPLOAD_BYTES"] = 1024 * 1024
    response = client.post("/api/v1/processes", data=big.replace(b"big_mediation", b"bigger_mediation"),
                           headers={**admin, "Content-Type": "application/xml"})
    _error(response, 413)


# A process whose start event has a Camunda start form, and one without any form.
START_FORM_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://example.org/jiefen">
  <bpmn:process id="{pid}" name="表单" isExecutable="true" camunda:candidateStarterGroups="intake_clerk">
    <bpmn:startEvent id="start">
      {form}
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:userTask id="work" name="办理" camunda:candidateGroups="mediator">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""
FORM = """<bpmn:extensionElements><camunda:formData>
        <camunda:formField id="subject" label="事由" type="string">
          <camunda:validation><camunda:constraint name="required" /></camunda:validation>
        </camunda:formField>
        <camunda:formField id="kind" label="类型" type="enum">
          <camunda:value id="family" name="家事" /><camunda:value id="labour" name="劳动" />
        </camunda:formField>
      </camunda:formData></bpmn:extensionElements>"""


def _deploy(client, admin, pid: str, form: str):
    xml = START_FORM_BPMN.format(pid=pid, form=form).encode()
    response = client.post("/api/v1/processes", data=xml, headers={**admin, "Content-Type": "application/xml",
                                                                     "X-Filename": f"{pid}.bpmn"})
    assert response.status_code == 201, response.get_json()


def test_start_data_is_checked_against_the_start_event_form(client, login, session):
    _deploy(client, login("admin"), "start_form", FORM)
    clerk = login("clerk")
    assert list(_error(_start(client, clerk, {"kind": "family"}, "start_form"), 422)["details"]) == ["subject"]
    assert list(_error(_start(client, clerk, {"subject": "邻里", "kind": "other"}, "start_form"),
                       422)["details"]) == ["kind"]
    assert list(_error(_start(client, clerk, {"subject": "邻里", "extra": 1}, "start_form"),
                       422)["details"]) == ["extra"]
    response = _start(client, clerk, {"subject": "邻里", "kind": "family"}, "start_form")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["subject"] == "邻里"


def test_a_process_with_no_start_or_registration_form_refuses_data(client, login, session):
    _deploy(client, login("admin"), "no_form", "")
    clerk = login("clerk")
    body = _error(_start(client, clerk, {"anything": 1}, "no_form"), 422)
    assert list(body["details"]) == ["anything"]
    assert _start(client, clerk, {}, "no_form").status_code == 201


# --------------------------------------------------------------------------------------------- L5: 500s → 4xx


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_100000_deep_is_a_422(client, login):
    clerk = login("clerk")
    text = f'{{"process_id": "small_mediation", "data": {{"x": {_deep(100_000)}}}}}'
    _error(_raw(client, "/api/v1/cases", text, clerk), 422)
    _error(_raw(client, "/api/v1/auth/token", f'{{"username": {_deep(100_000)}}}', {}), 422)


def test_lone_surrogates_are_a_422_everywhere(client, login, session):
    clerk = login("clerk")
    body = _error(_raw(client, "/api/v1/cases", '{"process_id": "small_mediation", "data": {"party_name": "\\ud800"}}',
                       clerk), 422)
    assert "surrogate" in body["details"]["body"][0]
    _error(_raw(client, "/api/v1/auth/token", '{"username": "\\udfff", "password": "x"}', {}), 422)
    case = _start(client, clerk, {}).get_json()
    task = case["tasks"][0]["id"]
    _error(_raw(client, f"/api/v1/tasks/{task}/complete", '{"data": {"party_name": "a\\ud800b"}}', clerk), 422)
    _error(_raw(client, "/api/v1/cases", '{"process_id": "small_mediation", "data": {"\\ud800": 1}}', clerk), 422)


@pytest.mark.parametrize("scope", ["mine", "all", "supervised"])
def test_a_huge_page_number_is_a_422(client, login, scope):
    user = login("admin" if scope == "all" else "super" if scope == "supervised" else "clerk")
    body = _error(client.get(f"/api/v1/tasks?page=99999999999999999999&scope={scope}", headers=user), 422)
    assert "page" in body["details"]


def test_a_huge_page_number_in_the_task_list_page_is_a_4xx(client, directory):
    ui_login(client, "super", expect=302)
    for query in ("page=99999999999999999999", "tab=supervised&page=99999999999999999999",
                  "tab=done&page=99999999999999999999"):
        response = client.get(f"/tasks/?{query}")
        assert response.status_code == 422, query


@pytest.mark.parametrize("case_id", ["99999999999999999999", "9223372036854775808", str(2**31)])
def test_a_huge_case_id_is_a_404(client, login, case_id):
    auditor = login("auditor")
    for suffix in ("", "/events", "/verify"):
        _error(client.get(f"/api/v1/cases/{case_id}{suffix}", headers=auditor), 404)
    ui_login(client, "auditor", expect=302)
    for suffix in ("", "/receipt", "/diagram.bpmn"):
        assert client.get(f"/cases/{case_id}{suffix}").status_code == 404, suffix


def test_the_largest_32_bit_case_id_still_reaches_the_engine(client, login):
    body = _error(client.get(f"/api/v1/cases/{2**31 - 1}", headers=login("auditor")), 404)
    assert body["error"] == "not_found" and str(2**31 - 1) in body["message"]


# --------------------------------------------------------------------------------------------- I2: names


def test_an_uploaded_file_name_is_stored_as_a_plain_base_name(client, login, session):
    xml = START_FORM_BPMN.format(pid="named", form="").encode()
    response = client.post("/api/v1/processes", data=xml, headers={
        **login("admin"), "Content-Type": "application/xml", "X-Filename": "../../../..scratch/pw\x1bned\u202e.bpmn"
        .encode("utf-8").decode("latin-1")})
    assert response.status_code == 201, response.get_json()
    stored = session.scalar(select(ProcessVersionModel.file_name).where(ProcessVersionModel.process_id == "named"))
    assert "/" not in stored and "\\" not in stored and "\x1b" not in stored and not stored.startswith(".")
    assert stored.endswith(".bpmn")


@pytest.mark.parametrize("name", ["张\u202e三", "张\x00三", "\u2066张三\u2069"])
def test_bidi_overrides_and_nul_in_a_party_name_are_a_field_error(client, login, name):
    body = _error(_start(client, login("clerk"), {"party_name": name}), 422)
    assert list(body["details"]) == ["party_name"]


# --------------------------------------------------------------------------------------------- outside Flask


def test_a_teardown_on_a_lost_connection_keeps_the_answer(app, client, login, session, db_engine, caplog):
    """security.md M4: the server process behind the request's connection ends after the command committed;
    the teardown's rollback on that dead connection used to escape Flask (waitress: a plain-text 500)."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("a server connection to lose: PostgreSQL")
    from webui.extensions import db

    clerk = login("clerk")

    def lose_the_connection(response):  # after the view (and its commit), before the teardown
        pid = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db_engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        return response

    # after_request functions run last-registered first: at the front of the list, this one runs after the
    # others (the Idempotency-Key's response store among them), just before the teardown
    app.after_request_funcs.setdefault(None, []).insert(0, lose_the_connection)
    response = _start(client, clerk, INTAKE)
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    assert response.get_json()["data"]["party_name"] == "张三"
    assert "closing the request's database session failed" in caplog.text
    assert _case_count(session) == 1
    app.after_request_funcs[None].remove(lose_the_connection)
    assert client.get("/api/v1/tasks", headers=clerk).status_code == 200  # the next request gets a live connection


def test_an_error_escaping_flask_is_the_api_json_error(app, client, login):
    clerk = login("clerk")

    def broken_teardown(exc):
        raise RuntimeError("a teardown that fails")

    app.teardown_request_funcs.setdefault(None, []).append(broken_teardown)
    response = client.get("/api/v1/processes", headers=clerk)
    body = _error(response, 500)
    assert body["error"] == "internal_error" and response.content_type == "application/json"
    with pytest.raises(RuntimeError):  # pages are left to the server's own 500
        client.get("/login")
