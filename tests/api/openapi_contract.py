"""The API's answers checked against its own OpenAPI document (/api/v1/openapi.json) with openapi-core.

`ContractClient` is a Flask test client that checks every /api/ response it receives: its status must be one the
operation lists by number (the `default` entry does not count: each view names the errors it answers), and its
body must match that status's schema. tests/api/conftest.py makes it the client of every test in tests/api."""
from __future__ import annotations

import re

from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

OPENAPI_PATH = "/api/v1/openapi.json"


def openapi_document(app) -> dict:
    """The document as clients get it (one per app: flask-smorest builds it at start-up)."""
    key = "jiefen-tests-openapi"
    if key not in app.extensions:
        response = FlaskClient(app).get(OPENAPI_PATH)
        assert response.status_code == 200
        app.extensions[key] = (response.get_json(), OpenAPI.from_dict(response.get_json()))
    return app.extensions[key][0]


def _validator(app) -> OpenAPI:
    openapi_document(app)
    return app.extensions["jiefen-tests-openapi"][1]


class _RequestOfResponse(WerkzeugOpenAPIRequest):
    """The request as seen after its answer: its body stream is spent, and checking an answer needs only the
    method and path."""

    @property
    def body(self) -> bytes | None:
        return None


def _operation(document: dict, request) -> dict | None:
    """The operation the request was routed to, by its path template (`{name}` matches one path segment); a
    literal segment wins over a placeholder, as in Flask's routing (/admin/users/import before /admin/users/{login})."""
    for template, item in sorted(document["paths"].items(), key=lambda entry: entry[0].count("{")):
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.path):
            return item.get(request.method.lower())
    return None


def check_response(app, response) -> None:
    """Raise AssertionError naming the request when the response breaks the API's document."""
    request = response.request
    document = openapi_document(app)
    operation = _operation(document, request)
    where = f"{request.method} {request.full_path.rstrip('?')} -> {response.status_code}"
    body = response.get_data()[:2000].decode("utf-8", "replace")  # a file answer (an XLSX) is not text
    assert operation is not None, f"{where}: the OpenAPI document has no such operation"
    assert str(response.status_code) in operation["responses"], (
        f"{where}: status not documented for this operation (it lists {sorted(operation['responses'])}); "
        f"body {body}")
    try:
        _validator(app).validate_response(_RequestOfResponse(request), WerkzeugOpenAPIResponse(response))
    except Exception as exc:  # openapi-core's errors: the jsonschema ones hang on the cause chain
        raise AssertionError(f"{where}: answer does not match its schema: {'; '.join(_reasons(exc))}; "
                             f"body {body}") from exc


def _reasons(exc: BaseException) -> list[str]:
    reasons = []
    while exc is not None:
        errors = getattr(exc, "schema_errors", None)
        if errors:
            reasons += [f"{'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message[:300]}"
                        for error in errors]
        elif not reasons and exc.__cause__ is None:
            reasons.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__
    return reasons


class ContractClient(FlaskClient):
    """A test client that checks every /api/ answer against the OpenAPI document."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        request = response.request
        if request.path.startswith("/api/") and request.path != OPENAPI_PATH:
            check_response(self.application, response)
        return response


def response_schemas(document: dict) -> dict[str, dict]:
    """Every component schema that a response of the API may carry, by name (nested ones included)."""
    names: set[str] = set()

    def refs(node) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in names:
                names.add(ref.rsplit("/", 1)[1])
                refs(document["components"]["schemas"][ref.rsplit("/", 1)[1]])
            for value in node.values():
                refs(value)
        elif isinstance(node, list):
            for value in node:
                refs(value)

    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):  # beside the operations: the path's own `parameters` list
                refs(operation.get("responses", {}))
    for response in document.get("components", {}).get("responses", {}).values():
        refs(response)
    return {name: document["components"]["schemas"][name] for name in sorted(names)}

