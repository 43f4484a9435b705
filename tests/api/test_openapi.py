"""What /api/v1/openapi.json promises: every field of an answer listed and always sent, every error documented.

The answers themselves are checked against the document in every test of tests/api (openapi_contract.py)."""
from openapi_spec_validator import validate

from tests.api.openapi_contract import openapi_document, response_schemas

# The constraints of a form field that do not apply to it are left out of the answer (webui/api/views.get_task).
OPTIONAL = {"FormField": {"enum", "default", "min", "max", "min_date", "max_date", "minlength", "maxlength", "phone",
                          "show_if", "options_from"},
            "EnumOption": {"roles", "presence"}}  # roles: units of a jiefen.options field only; presence: resident departments
# What anyone may ask without a token.
PUBLIC = {("post", "/api/v1/auth/token")}
# What answers with a file instead of JSON.
FILES = {("get", "/api/v1/cases/export"), ("get", "/api/v1/admin/log/export"),
         ("get", "/api/v1/attachments/{attachment_id}"), ("get", "/api/v1/cases/{case_id}/dossier.pdf"),
         ("get", "/api/v1/documents/{document_id}.pdf"), ("get", "/api/v1/documents/{document_id}.html"),
         ("get", "/api/v1/audit/events.csv"), ("get", "/api/v1/audit/access-log.csv")}
METHODS = {"get", "put", "post", "patch", "delete"}


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_openapi_document_is_valid_openapi(app):
    validate(openapi_document(app))


def test_every_answer_field_is_listed_and_promised(app):
    schemas = response_schemas(openapi_document(app))
    assert {"Case", "Task", "TaskDetail", "FormField", "Event", "ApiError", "DeployResult"} <= set(schemas)
    for name, schema in schemas.items():
        assert schema.get("additionalProperties") is False, f"{name} may carry fields it does not list"
        unpromised = set(schema["properties"]) - set(schema.get("required", [])) - OPTIONAL.get(name, set())
        assert not unpromised, f"{name} lists fields that answers may lack: {sorted(unpromised)}"


def test_every_error_answer_is_documented_with_the_api_error_shape(app):
    document = openapi_document(app)
    error = {"$ref": "#/components/schemas/ApiError"}
    assert document["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"] == error
    for method, path, operation in _operations(document):
        statuses = {int(s) for s in operation["responses"] if s != "default"}
        if (method, path) not in PUBLIC:
            assert 401 in statuses, f"{method} {path}: a call without a token is answered 401"
        if method == "post":
            assert 422 in statuses or "{task_id}/claim" in path or "{task_id}/unclaim" in path, (method, path)
            assert 503 in statuses, f"{method} {path}: a write can lose its database"
        assert {413, 500, 503} <= statuses, f"{method} {path}: any request may be too large or meet a lost database"
        for status in statuses:
            if status == 204:
                assert "content" not in operation["responses"]["204"], f"{method} {path}: 204 has no body"
                continue
            content = operation["responses"][str(status)]["content"]
            if status >= 400:
                assert content["application/json"]["schema"] == error, f"{method} {path} {status}"
            else:  # an answer is JSON, or a file (the ledger's export) of a media type other than JSON
                assert "application/json" in content or (method, path) in FILES, f"{method} {path} {status}"


def test_the_task_list_documents_its_filters(app):
    operation = openapi_document(app)["paths"]["/api/v1/tasks"]["get"]
    params = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(params) == {"overdue", "assigned", "q", "process_id", "category", "scope", "sort", "page", "per_page"}
    assert params["sort"]["schema"]["enum"] == ["due", "-due", "created", "-created", "warning"]


def test_request_bodies_are_documented(app):
    paths = openapi_document(app)["paths"]
    for path in ("/api/v1/auth/token", "/api/v1/cases", "/api/v1/tasks/{task_id}/complete"):
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].startswith("#/components/schemas/"), path
    assert "application/xml" in paths["/api/v1/processes"]["post"]["requestBody"]["content"]


def test_unknown_task_list_filter_is_a_422_with_the_api_error_shape(client, login):
    response = client.get("/api/v1/tasks?sort=due&colour=red", headers=login("clerk"))
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation" and body["details"] == {"colour": ["Unknown field."]}
