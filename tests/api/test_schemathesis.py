"""A property-based run of the whole API from its own OpenAPI document: schemathesis generates requests for every
operation (valid ones and invalid ones), sends them to the Flask app in process (WSGI) with a bearer token, and
fails on any 500 and on any answer that the document does not describe (status, content type, headers, body).

Bounded for the suite (about a minute per database): EXAMPLES per operation and generation mode, the same examples
on every run. A longer, random exploration: JIEFEN_SCHEMATHESIS_EXAMPLES=300 JIEFEN_SCHEMATHESIS_RANDOM=1."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from tests.support import PASSWORD
from tests.support.cases import PHONE, intake

EXAMPLES = int(os.environ.get("JIEFEN_SCHEMATHESIS_EXAMPLES", "15"))
RANDOM = bool(os.environ.get("JIEFEN_SCHEMATHESIS_RANDOM"))
INTAKE = intake(party_phone=PHONE)
# The checks that say "the API did what its document says": no server error, and status, content type, headers
# and body as documented. (Schemathesis's other checks judge API design, e.g. that every invalid input is a 4xx
# of a given kind, and are left out.)
CHECKS = {"enabled": False, **{name: {"enabled": True} for name in (
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    "response_headers_conformance")}}

@pytest.fixture
def bearer(session, directory, login):
    """A user who may open cases, work the mediation tasks and deploy: most requests get past the role checks."""
    directory.create_user(session, "probe", PASSWORD, ["intake_clerk", "mediator", "admin"])
    return login("probe")


@pytest.fixture
def existing(client, login):
    """Cases and tasks in every state, so generated requests also reach real objects, not only 404s."""
    clerk, mediator = login("clerk"), login("mediator1")
    found = {"case_id": [], "task_id": []}
    for step in range(3):
        case = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=clerk).get_json()
        found["case_id"].append(case["id"])
        found["task_id"].append(case["tasks"][0]["id"])
        if step >= 1:  # registered: the registration is done (409 to act on) and a mediation task is open
            done = client.post(f"/api/v1/tasks/{found['task_id'][-1]}/complete", json={"data": INTAKE},
                               headers=clerk).get_json()
            found["task_id"].append(done["tasks"][0]["id"])
        if step == 2:  # claimed by somebody else
            assert client.post(f"/api/v1/tasks/{found['task_id'][-1]}/claim", headers=mediator).status_code == 200
    return found


def _with_real_body(case):
    """Point a generated body at what exists: the deployed process, a complete registration."""
    if isinstance(case.body, dict):
        if "process_id" in case.body:
            case.body["process_id"] = "small_mediation"
        elif case.path.endswith("/complete"):
            case.body["data"] = dict(INTAKE)
    return case


def _cases(operation, mode: GenerationMode, existing: dict):
    """Generated requests for one operation; a share of them aimed at objects that exist."""
    def generated(**fixed):
        strategy = operation.as_strategy(generation_mode=mode, **fixed)
        return st.one_of(strategy, strategy.map(_with_real_body)) if mode is GenerationMode.POSITIVE else strategy

    [name, *_] = [n for n in existing if "{" + n + "}" in operation.path] or [None]
    if name is None:
        return generated()
    real = st.sampled_from(existing[name]).flatmap(lambda value: generated(path_parameters={name: value}))
    return st.one_of(generated(), real)


def test_api_answers_as_its_openapi_document_says(app, bearer, existing):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app,
                                            config=schemathesis.Config.from_dict({"checks": CHECKS}))
    failures, operations = {}, 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
                      suppress_health_check=list(HealthCheck))
            @given(case=_cases(operation, mode, existing))
            def check(case):
                case.call_and_validate(headers=bearer)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # run every operation, then report every failure
                failures[f"{operation.method.upper()} {operation.path} ({mode.value} data)"] = exc
    assert operations >= 11, "the document lost operations"
    assert not failures, "\n\n".join(f"{name}:\n{exc}" for name, exc in failures.items())
