"""API views: parse, call one engine service, return what the response schema dumps. Errors are mapped in
webui/errors.py; each view documents the ones it can answer with ApiError, so /api/v1/openapi.json is true."""
from __future__ import annotations

import re

from flask import current_app, request, send_file
from flask_smorest import Blueprint
from marshmallow import RAISE, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest

from engine import access, case_data
from engine.clock import CHINA_TZ
from engine.errors import Forbidden, InvalidData
from engine.messages import msg
from engine.services import (attachments, cases, documents, history, ledger, migration, oversight, processes,
                             stats, tasks, timers, users)
from webui import labels as ui_labels
from webui.api import schemas as s
from webui.audit.views import dossier_response
from webui.auth import bearer_token, current_actor
from webui.errors import Unauthorized
from webui.extensions import current_runtime, db
from webui.i18n import api_text
from webui.ledger import export as ledger_export
from webui.ledger import views as ledger_views


class _ArgumentsParser(FlaskParser):
    """flask-smorest's parser for `@blp.arguments`, answering bad input as `_load` does: 422 with the API's
    error shape and per-field messages (webargs would nest them under the location and abort)."""

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        [messages] = error.messages.values()  # {location: {field: [messages]}}: one location per decorator
        raise InvalidData("请求数据无效 / invalid request", messages) from error


class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = _ArgumentsParser()


blp = _Blueprint("api", __name__, url_prefix="/api/v1", description="jiefen case engine API")

_ERRORS = {
    401: "no valid bearer token (or a browser session without its X-CSRFToken header)",
    403: "the caller's roles or units do not allow this",
    404: "no such process, case or task",
    409: "the task or case changed: already claimed or completed, or a stale lock_version",
    422: "invalid request; `details` maps each field to its messages",
    413: "the request body is larger than JIEFEN_MAX_BODY_BYTES (a BPMN deploy: JIEFEN_MAX_UPLOAD_BYTES)",
    500: "an unexpected server error (logged with its traceback)",
    503: "the database connection was lost (a write may have happened: retry with the same Idempotency-Key), or "
         "the PDF engine (WeasyPrint / Pango) is not installed on this server",
}
# Any request may meet these, whatever the view does.
_ANY_REQUEST = (413, 500, 503)


def _errors(*statuses: int):
    """Document the error answers of a view, each with the API's one error shape."""
    def decorate(view):
        for status in sorted(set(statuses) | set(_ANY_REQUEST)):
            view = blp.alt_response(status, schema=s.ApiError, description=_ERRORS[status])(view)
        return view
    return decorate


def _json_request(schema_cls):
    """Document a JSON body that the view itself validates with `_load(schema_cls, _json_body())`: the body is
    read and bounded in one place for every view (not by webargs), and bad bodies get the API's 422 shape."""
    return blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": schema_cls}}})


def _load(schema_cls, data):
    """Shape validation, once, in the view: 422 with per-field messages."""
    if data is None:
        raise InvalidData("请求体必须是 JSON 对象 / the body must be a JSON object", {"body": ["JSON object expected"]})
    try:
        return schema_cls().load(data)
    except ValidationError as exc:
        raise InvalidData("请求数据无效 / invalid request", exc.messages) from exc


def _json_body():
    """The request's JSON (None unless it is sent as JSON). Malformed or non-standard JSON (NaN, lone
    surrogates, absurd nesting: webui.inputs) is a 422 naming the problem."""
    if not request.is_json:
        return None
    try:
        return request.get_json()
    except BadRequest as exc:
        cause: BaseException = exc
        while cause.__cause__ or cause.__context__:  # Flask's BadRequest from werkzeug's from the ValueError
            cause = cause.__cause__ or cause.__context__
        reason = str(cause) if isinstance(cause, ValueError) else str(exc.description)
        raise InvalidData(f"请求体不是有效的 JSON / the body is not valid JSON: {reason[:200]}",
                          {"body": [reason[:200]]}) from exc


def _plain_file_name(given: str | None) -> str:
    """An uploaded file's name as stored: its base name only (no folders, either slash), without control or
    bidi-override characters, at most 200 characters; "upload.bpmn" when nothing is left."""
    name = re.split(r"[\\/]", given or "")[-1]
    name = "".join(ch for ch in name if not case_data.bad_character(ch)).strip().lstrip(".")
    return name[:200] or "upload.bpmn"


@blp.route("/auth/token", methods=["POST"])
@blp.doc(security=[])
@_json_request(s.TokenRequest)
@_errors(401, 403, 422, 503)
@blp.response(200, s.TokenResponse)
def token():
    """Exchange a username and password for a bearer token valid for JIEFEN_TOKEN_DAYS days.

    Wrong credentials and a locked (username, address) pair answer 401."""
    body = _load(s.TokenRequest, _json_body())
    cfg = current_app.config
    actor = users.authenticate(db.session, body["username"], body["password"], request.remote_addr or "",
                               cfg["JIEFEN_LOGIN_MAX_FAILURES"], cfg["JIEFEN_LOGIN_LOCK_MINUTES"])
    if actor.must_change_password:  # a one-time password from a reset opens the browser's change page only
        raise Forbidden(msg("password.must_change"))
    issued = users.new_token(db.session, body["username"], cfg["JIEFEN_TOKEN_DAYS"])
    return {"token": issued.token, "id": issued.id, "expires_at": s.iso(issued.expires_at)}


@blp.route("/auth/token", methods=["DELETE"])
@_errors(401, 503)
@blp.response(204)
def revoke_token():
    """Revoke the bearer token this request is made with (log out an API client)."""
    token = bearer_token()
    if not token:
        raise Unauthorized("需要 Authorization: Bearer 令牌 / an Authorization: Bearer token is required")
    users.revoke_own_token(db.session, token)
    return None


@blp.route("/processes", methods=["GET"])
@_errors(401)
@blp.response(200, s.ProcessList)
def list_processes():
    """The newest version of every deployed process."""
    current_actor()
    items = [{"process_id": p.process_id, "version": p.version, "active_version": p.version, "sha256": p.sha256,
              "name": p.name, "deployed_at": s.iso(p.deployed_at), "file_name": p.file_name}
             for p in processes.list_processes(db.session)]
    return {"items": items}


@blp.route("/processes/validate", methods=["POST"])
@blp.doc(parameters=[
    {"in": "query", "name": "filename", "schema": {"type": "string"}, "description": "the file's name (or X-Filename)"}],
    requestBody={"required": True, "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
                 "description": "the BPMN 2.0 XML file"})
@_errors(401, 403, 422, 503)
@blp.response(200, s.ValidationResult)
def validate_process():
    """Every problem deploying this BPMN file would be refused for (element id, line, message), nothing
    deployed: the modeler's live check. Administrators and process designers. An empty body is a 422."""
    name = _plain_file_name(request.headers.get("X-Filename") or request.args.get("filename"))
    body = request.get_data()
    if not body.strip():
        raise InvalidData("请求体必须是 BPMN XML / the body must be the BPMN XML", {"body": ["BPMN XML expected"]})
    problems = processes.validate(db.session, {name: body}, current_actor())
    return {"problems": [{**p.as_dict(), "severity": "error"} for p in problems]}


@blp.route("/processes/drafts", methods=["GET"])
@blp.doc(parameters=[{"in": "query", "name": "process_id", "schema": {"type": "string"}}])
@_errors(401, 403)
@blp.response(200, s.ProcessDraftList)
def list_process_drafts():
    """The caller's own process drafts (of one process with ?process_id=), the latest saved first.
    Administrators and process designers."""
    items = processes.list_drafts(db.session, current_actor(), request.args.get("process_id") or None)
    return {"items": [s.draft_json(d) for d in items]}


@blp.route("/processes/drafts", methods=["POST"])
@_json_request(s.ProcessDraftCreateRequest)
@_errors(401, 403, 404, 409, 422)
@blp.response(201, s.ProcessDraftSchema)
def create_process_draft():
    """Start a draft: from a deployed process (`process_id`, its active version or `version`), or a new process
    from the template (`new_process_id`: a start event, 受理登记 with a form, 调解处理, an end event, two lanes).
    The draft is the caller's. Administrators and process designers."""
    body = _load(s.ProcessDraftCreateRequest, _json_body())
    draft = processes.create_draft(db.session, current_actor(), process_id=body["process_id"],
                                   version=body["version"], new_process_id=body["new_process_id"], name=body["name"])
    return s.draft_json(draft), 201


@blp.route("/processes/drafts/<int:draft_id>", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.ProcessDraftSchema)
def get_process_draft(draft_id: int):
    """One of the caller's drafts, with its XML."""
    return s.draft_json(processes.get_draft(db.session, draft_id, current_actor()))


@blp.route("/processes/drafts/<int:draft_id>/diff", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.ProcessDraftDiff)
def process_draft_diff(draft_id: int):
    """What the draft changes in the version it was opened from, element by element (by id): added, removed, and
    changed with what changed. The layout is not compared. Its author only."""
    base, changes = processes.draft_diff(db.session, draft_id, current_actor())
    return {"base_version": base, "items": [vars(c) for c in changes]}


@blp.route("/processes/drafts/<int:draft_id>", methods=["PUT"])
@_json_request(s.ProcessDraftSaveRequest)
@_errors(401, 403, 404, 422)
@blp.response(200, s.ProcessDraftSchema)
def save_process_draft(draft_id: int):
    """Save a draft's XML (the modeler's autosave; a half-drawn process is fine). Its author only."""
    body = _load(s.ProcessDraftSaveRequest, _json_body())
    return s.draft_json(processes.save_draft(db.session, draft_id, body["xml"], current_actor(), body["name"]))


@blp.route("/processes/drafts/<int:draft_id>", methods=["DELETE"])
@_errors(401, 403, 404)
@blp.response(204)
def discard_process_draft(draft_id: int):
    """Discard a draft. Its author only."""
    processes.discard_draft(db.session, draft_id, current_actor())
    return None


@blp.route("/processes/drafts/submitted", methods=["GET"])
@blp.doc(parameters=[{"in": "query", "name": "process_id", "schema": {"type": "string"}}])
@_errors(401, 403)
@blp.response(200, s.ProcessDraftList)
def list_submitted_drafts():
    """The drafts designers submitted for deployment (of one process with ?process_id=), the earliest first.
    Administrators only."""
    items = processes.submitted_drafts(db.session, current_actor(), request.args.get("process_id") or None)
    return {"items": [s.draft_json(d) for d in items]}


@blp.route("/processes/drafts/<int:draft_id>/submit", methods=["POST"])
@_json_request(s.DraftNoteRequest)
@_errors(401, 403, 404, 422)
@blp.response(200, s.ProcessDraftSchema)
def submit_process_draft(draft_id: int):
    """Submit a draft for deployment (提交审核) with a note: administrators then see, open, deploy or return it.
    Its author only."""
    body = _load(s.DraftNoteRequest, _json_body())
    return s.draft_json(processes.submit_draft(db.session, draft_id, current_actor(), body["note"]))


@blp.route("/processes/drafts/<int:draft_id>/return", methods=["POST"])
@_json_request(s.DraftNoteRequest)
@_errors(401, 403, 404, 409, 422)
@blp.response(200, s.ProcessDraftSchema)
def return_process_draft(draft_id: int):
    """Send a submitted draft back to its author with a note. Administrators only."""
    body = _load(s.DraftNoteRequest, _json_body())
    return s.draft_json(processes.return_draft(db.session, draft_id, current_actor(), body["note"]))


@blp.route("/processes/drafts/<int:draft_id>/deploy", methods=["POST"])
@_json_request(s.ProcessDraftDeployRequest)
@_errors(401, 403, 404, 422)
@blp.response(201, s.DeployResult, description="a new version was deployed; the draft is gone")
@blp.alt_response(200, schema=s.DeployResult, success=True, description="identical to the deployed version")
def deploy_process_draft(draft_id: int):
    """Deploy a draft as the next version with a change note and remove the draft. A draft the deploy check
    refuses is a 422 listing every problem (`details`: element_id, line, message) and stays. Administrators."""
    body = _load(s.ProcessDraftDeployRequest, _json_body())
    results = processes.deploy_draft(db.session, draft_id, current_actor(), body["note"])
    first = results[0]
    status = 201 if any(r.created for r in results) else 200
    return {"process_id": first.process_id, "version": first.version, "sha256": first.sha256,
            "processes": results}, status


@blp.route("/processes/<process_id>/versions", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.ProcessVersions)
def process_versions(process_id: str):
    """Every version of a process, newest first: who deployed it when with what note, whether new cases start on
    it, how many open cases run on it. Administrators, auditors and process designers."""
    return s.process_versions_json(processes.process_overview(db.session, current_actor(), process_id)[0])


@blp.route("/processes/<process_id>/activate", methods=["POST"])
@_json_request(s.ActivateRequest)
@_errors(401, 403, 404, 422)
@blp.response(200, s.ProcessVersions)
def activate_process_version(process_id: str):
    """Make a version the one new cases start on (roll back, or forward again), recorded with the note.
    Running cases keep their version. Administrators only."""
    body = _load(s.ActivateRequest, _json_body())
    info = processes.activate_version(db.session, process_id, body["version"], current_actor(), body["note"])
    return s.process_versions_json(info)


@blp.route("/processes/<process_id>/diff", methods=["GET"])
@blp.arguments(s.VersionDiffQuery, location="query", unknown=RAISE)
@_errors(401, 403, 404, 422)
@blp.response(200, s.VersionDiff)
def process_version_diff(query: dict, process_id: str):
    """What one deployed version changes in another, element by element (by id): added, removed, and changed
    with what changed. The layout is not compared. Administrators, auditors and process designers."""
    items = processes.version_diff(db.session, current_actor(), process_id, query["from_version"],
                                   query["to_version"])
    return {"from_version": query["from_version"], "to_version": query["to_version"], "items": [vars(c) for c in items]}


@blp.route("/processes/<process_id>/migrations", methods=["POST"])
@_json_request(s.MigrationRequest)
@_errors(401, 403, 404, 422)
@blp.response(200, s.MigrationReportSchema)
def migrate_process_cases(process_id: str):
    """Move the open cases of `from_version` to `to_version`: with `dry_run` (the default) a report per case —
    its open steps and their counterparts, whether it can move and why not — and nothing moved; without, each
    movable (chosen) case moves in its own transaction with a `case_migrated` event, keeping every task's due
    date and every timer's moment, and the rest are reported untouched. Administrators only."""
    body = _load(s.MigrationRequest, _json_body())
    report = migration.migrate_cases(db.session, process_id, body["from_version"], body["to_version"],
                                     current_actor(), task_mapping=body["task_mapping"], dry_run=body["dry_run"],
                                     case_ids=body["case_ids"], note=body["note"])
    return s.migration_json(report, api_text)


@blp.route("/processes/audit", methods=["GET"])
@blp.doc(parameters=[{"in": "query", "name": "process_id", "schema": {"type": "string"}}])
@_errors(401, 403)
@blp.response(200, s.AuditList)
def process_audit():
    """Deploys and activations, newest first (the last 200): who, when, which version, the note."""
    items = processes.process_audit(db.session, current_actor(), request.args.get("process_id") or None)
    return {"items": [{"at": s.iso(a.at), "actor": a.actor, "action": a.action, "process_id": a.process_id,
                       "version": a.version, "note": a.note} for a in items]}


@blp.route("/processes", methods=["POST"])
@blp.doc(parameters=[
    {"in": "header", "name": "X-Filename", "schema": {"type": "string"}, "description": "the file's name"},
    {"in": "query", "name": "filename", "schema": {"type": "string"}, "description": "the file's name (or X-Filename)"},
    {"in": "query", "name": "note", "schema": {"type": "string"}, "description": "the change note (变更说明)"}],
    requestBody={"required": True, "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
                 "description": "the BPMN 2.0 XML file"})
@_errors(401, 403, 422, 503)
@blp.response(201, s.DeployResult, description="a new version of at least one process was deployed")
@blp.alt_response(200, schema=s.DeployResult, success=True, description="identical to the deployed versions")
def deploy_process():
    """Deploy a BPMN file (body: the XML). Identical content returns the existing version with 200."""
    actor = current_actor()
    body = request.get_data()
    name = _plain_file_name(request.headers.get("X-Filename") or request.args.get("filename"))
    results = processes.deploy(db.session, {name: body}, actor, request.args.get("note"))
    first = results[0]
    status = 201 if any(r.created for r in results) else 200
    return {"process_id": first.process_id, "version": first.version, "sha256": first.sha256,
            "processes": results}, status


@blp.route("/decisions", methods=["GET"])
@_errors(401, 403)
@blp.response(200, s.DecisionList)
def list_decisions():
    """Every deployed DMN decision table with its versions (newest first) and the processes using it.
    Administrators, auditors and process designers."""
    return {"items": [s.decision_json(d) for d in processes.list_decisions(db.session, current_actor())]}


@blp.route("/decisions/drafts", methods=["GET"])
@blp.doc(parameters=[{"in": "query", "name": "decision_id", "schema": {"type": "string"}}])
@_errors(401, 403)
@blp.response(200, s.DecisionDraftList)
def list_decision_drafts():
    """The caller's own decision table drafts (of one table with ?decision_id=), the latest saved first.
    Administrators and process designers."""
    items = processes.list_decision_drafts(db.session, current_actor(), request.args.get("decision_id") or None)
    return {"items": [s.decision_draft_json(d) for d in items]}


@blp.route("/decisions/drafts", methods=["POST"])
@_json_request(s.DecisionDraftCreateRequest)
@_errors(401, 403, 404, 409, 422)
@blp.response(201, s.DecisionDraftSchema)
def create_decision_draft():
    """Start a decision table draft: from a deployed table (`decision_id`, its newest version or `version`), or a
    new table from the template (`new_decision_id`: hit policy FIRST, one input, one output, two rules). The draft
    is the caller's. Administrators and process designers."""
    body = _load(s.DecisionDraftCreateRequest, _json_body())
    draft = processes.create_decision_draft(db.session, current_actor(), decision_id=body["decision_id"],
                                            version=body["version"], new_decision_id=body["new_decision_id"],
                                            name=body["name"])
    return s.decision_draft_json(draft), 201


@blp.route("/decisions/drafts/submitted", methods=["GET"])
@blp.doc(parameters=[{"in": "query", "name": "decision_id", "schema": {"type": "string"}}])
@_errors(401, 403)
@blp.response(200, s.DecisionDraftList)
def list_submitted_decision_drafts():
    """The decision table drafts designers submitted for deployment (of one table with ?decision_id=), the
    earliest first. Administrators only."""
    items = processes.submitted_decision_drafts(db.session, current_actor(), request.args.get("decision_id") or None)
    return {"items": [s.decision_draft_json(d) for d in items]}


@blp.route("/decisions/drafts/<int:draft_id>/submit", methods=["POST"])
@_json_request(s.DraftNoteRequest)
@_errors(401, 403, 404, 422)
@blp.response(200, s.DecisionDraftSchema)
def submit_decision_draft(draft_id: int):
    """Submit a decision table draft for deployment (提交审核) with a note: administrators then see, open, deploy
    or return it. Its author only."""
    body = _load(s.DraftNoteRequest, _json_body())
    return s.decision_draft_json(processes.submit_decision_draft(db.session, draft_id, current_actor(), body["note"]))


@blp.route("/decisions/drafts/<int:draft_id>/return", methods=["POST"])
@_json_request(s.DraftNoteRequest)
@_errors(401, 403, 404, 409, 422)
@blp.response(200, s.DecisionDraftSchema)
def return_decision_draft(draft_id: int):
    """Send a submitted decision table draft back to its author with a note. Administrators only."""
    body = _load(s.DraftNoteRequest, _json_body())
    return s.decision_draft_json(processes.return_decision_draft(db.session, draft_id, current_actor(), body["note"]))


@blp.route("/decisions/drafts/<int:draft_id>", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.DecisionDraftSchema)
def get_decision_draft(draft_id: int):
    """One decision table draft, with its XML: its author's, or one submitted for deployment (administrators)."""
    return s.decision_draft_json(processes.get_decision_draft(db.session, draft_id, current_actor()))


@blp.route("/decisions/drafts/<int:draft_id>", methods=["PUT"])
@_json_request(s.DecisionDraftSaveRequest)
@_errors(401, 403, 404, 422)
@blp.response(200, s.DecisionDraftSchema)
def save_decision_draft(draft_id: int):
    """Save a decision table draft's XML (the editor's autosave; a half-edited table is fine). Its author only."""
    body = _load(s.DecisionDraftSaveRequest, _json_body())
    return s.decision_draft_json(processes.save_decision_draft(db.session, draft_id, body["xml"], current_actor()))


@blp.route("/decisions/drafts/<int:draft_id>", methods=["DELETE"])
@_errors(401, 403, 404)
@blp.response(204)
def discard_decision_draft(draft_id: int):
    """Discard a decision table draft. Its author only."""
    processes.discard_decision_draft(db.session, draft_id, current_actor())
    return None


@blp.route("/decisions/drafts/<int:draft_id>/diff", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.DecisionDiff)
def decision_draft_diff(draft_id: int):
    """What the draft changes in the version it was opened from: the table (name, hit policy), columns and rules
    added, removed, moved and changed, cell by cell. Its author only."""
    base, changes = processes.decision_draft_diff(db.session, draft_id, current_actor())
    return {"base_version": base, "version": None, "items": [s.table_change_json(c) for c in changes]}


@blp.route("/decisions/drafts/<int:draft_id>/deploy", methods=["POST"])
@_json_request(s.ProcessDraftDeployRequest)
@_errors(401, 403, 404, 422)
@blp.response(201, s.DecisionDeployResult, description="a new version was deployed; the draft is gone")
@blp.alt_response(200, schema=s.DecisionDeployResult, success=True, description="identical to the deployed version")
def deploy_decision_draft(draft_id: int):
    """Deploy a decision table draft as the next version with a change note (and a new version of every process
    using it) and remove the draft. A table the check refuses is a 422 naming each cell and stays. Administrators."""
    body = _load(s.ProcessDraftDeployRequest, _json_body())
    results = processes.deploy_decision_draft(db.session, draft_id, current_actor(), body["note"])
    return _decision_deploy_answer(results)


@blp.route("/decisions/<decision_id>/diff", methods=["GET"])
@blp.doc(parameters=[{"in": "query", "name": "a", "schema": {"type": "integer"}, "required": True},
                     {"in": "query", "name": "b", "schema": {"type": "integer"}, "required": True}])
@_errors(401, 403, 404, 422)
@blp.response(200, s.DecisionDiff)
def decision_version_diff(decision_id: str):
    """What version b of a decision table changes in version a (either may be the older). Administrators,
    auditors and process designers."""
    a, b = request.args.get("a", type=int), request.args.get("b", type=int)
    if a is None or b is None:
        raise InvalidData(msg("form.invalid"), {k: [msg("field.required")] for k, v in (("a", a), ("b", b)) if v is None})
    changes = processes.decision_version_diff(db.session, current_actor(), decision_id, a, b)
    return {"base_version": a, "version": b, "items": [s.table_change_json(c) for c in changes]}


@blp.route("/decisions/<decision_id>", methods=["GET"])
@blp.doc(parameters=[{"in": "query", "name": "version", "schema": {"type": "integer"}}])
@_errors(401, 403, 404)
@blp.response(200, s.DecisionXml)
def get_decision(decision_id: str):
    """The DMN file of a decision's version (the newest without ?version=), for the editor."""
    version = request.args.get("version", type=int)
    number, xml = processes.decision_xml(db.session, current_actor(), decision_id, version)
    return {"decision_id": decision_id, "version": number, "xml": xml.decode("utf-8")}


def _dmn_file_name() -> str:
    name = _plain_file_name(request.headers.get("X-Filename") or request.args.get("filename") or "upload.dmn")
    return name if name.lower().endswith(".dmn") else name.rsplit(".", 1)[0] + ".dmn"


@blp.route("/decisions/validate", methods=["POST"])
@blp.doc(parameters=[
    {"in": "query", "name": "filename", "schema": {"type": "string"}, "description": "the file's name (or X-Filename)"}],
    requestBody={"required": True, "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
                 "description": "the DMN XML file"})
@_errors(401, 403, 422, 503)
@blp.response(200, s.ValidationResult)
def validate_decision():
    """Every problem deploying this DMN file would be refused for (the cell by rule and column, line), nothing
    deployed: the table editor's check. Administrators and process designers. An empty body is a 422."""
    body = request.get_data()
    if not body.strip():
        raise InvalidData("请求体必须是 DMN XML / the body must be the DMN XML", {"body": ["DMN XML expected"]})
    problems = processes.validate(db.session, {_dmn_file_name(): body}, current_actor())
    return {"problems": [{**p.as_dict(), "severity": "error"} for p in problems]}


@blp.route("/decisions", methods=["POST"])
@blp.doc(parameters=[
    {"in": "header", "name": "X-Filename", "schema": {"type": "string"}, "description": "the file's name"},
    {"in": "query", "name": "filename", "schema": {"type": "string"}, "description": "the file's name (or X-Filename)"},
    {"in": "query", "name": "note", "schema": {"type": "string"}, "description": "the change note (变更说明)"}],
    requestBody={"required": True, "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
                 "description": "the DMN XML file"})
@_errors(401, 403, 422, 503)
@blp.response(201, s.DecisionDeployResult, description="a new version of at least one decision was deployed")
@blp.alt_response(200, schema=s.DecisionDeployResult, success=True, description="identical to the deployed versions")
def deploy_decision():
    """Deploy a DMN file (body: the XML): each changed decision becomes version n+1, and every process using it
    gets a new version embedding it (new cases follow the new table; running cases keep theirs). Identical
    content returns the existing versions with 200. A refused file is a 422 naming each cell (rule, column).
    Administrators."""
    body = request.get_data()
    if not body.strip():
        raise InvalidData("请求体必须是 DMN XML / the body must be the DMN XML", {"body": ["DMN XML expected"]})
    results = processes.deploy(db.session, {_dmn_file_name(): body}, current_actor(), request.args.get("note"))
    return _decision_deploy_answer(results)


def _decision_deploy_answer(results):
    decided = [r for r in results if r.kind == "decision"]
    first = decided[0]
    status = 201 if any(r.created for r in results) else 200
    return {"decision_id": first.process_id, "version": first.version, "sha256": first.sha256,
            "decisions": [{"decision_id": r.process_id, "version": r.version, "sha256": r.sha256,
                           "created": r.created} for r in decided],
            "processes": [r for r in results if r.kind == "process"]}, status


def _case_response(case):
    open_tasks = cases.open_tasks(db.session, case.id)
    return s.case_json(case, processes.version_number(db.session, case.process_version_id), open_tasks,
                       timers.pending_timers(db.session, case.id, open_tasks),
                       access.masker(db.session, current_actor(), case))


@blp.route("/cases", methods=["POST"])
@_json_request(s.StartCaseRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(201, s.CaseSchema)
def start_case():
    """Open a case of a deployed process."""
    actor = current_actor()
    body = _load(s.StartCaseRequest, _json_body())
    case = cases.start_case(db.session, body["process_id"], body["data"], actor, body["org_unit"],
                            repeat_of=body["repeat_of"])
    return _case_response(case)


@blp.route("/cases", methods=["GET"])
@blp.arguments(s.LedgerQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.LedgerList)
def list_cases(query: dict):
    """The case ledger (台账): the cases the caller may read — their own units' for staff, their unit and every
    unit below for supervisors and directors, all for auditors — filtered and sorted; totals exact up to 1000."""
    page, per_page = query.pop("page"), query.pop("per_page")
    result = ledger.list_cases(db.session, current_actor(), ledger.LedgerFilters(**query), page, per_page)
    now = current_runtime().clock.now()
    return {"items": [s.ledger_row_json(row, now) for row in result.rows], "total": result.total,
            "total_capped": result.more, "page": page, "per_page": per_page}


@blp.route("/cases/same-party", methods=["GET"])
@blp.arguments(s.SamePartyQuery, location="query", unknown=RAISE)
@_errors(401, 422)
@blp.response(200, s.SamePartyResult)
def same_party_cases(query: dict):
    """The same party's other cases by their phone (重复件 / 重复信访): the ones the caller may read, newest
    first, and how many others there are and how many of them are open. The intake form asks before a case is
    registered; a case page leaves itself out with `exclude`."""
    found = ledger.same_party(db.session, current_actor(), query["phone"], query["exclude"])
    return s.same_party_json(found, current_runtime().clock.now())


@blp.route("/dashboard/overdue", methods=["GET"])
@blp.arguments(s.OverdueQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.OverdueBoard)
def overdue_board(query: dict):
    """The overdue board (督办看板): open tasks at each step of the supervision ladder, by handling unit, in the
    caller's units and below. Supervisors, directors, auditors and administrators."""
    return s.overdue_board_json(oversight.overdue_board(db.session, current_actor(), query["org_unit"]))


@blp.route("/stats", methods=["GET"])
@blp.arguments(s.StatsQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.StatsResult)
def get_stats(query: dict):
    """The center's figures (受理数, 办结率, 化解率, 响应率, 满意率 …; docs/statistics.md) for a period, over an org
    unit and every unit below it, in total and by group. Supervisors and directors over their units, auditors
    over all; others 403."""
    today = current_runtime().clock.now().astimezone(CHINA_TZ).date()
    start, end = query["from_"] or today.replace(month=1, day=1), query["to"] or today
    result = stats.get_stats(db.session, current_actor(), start, end, query["group_by"], query["org_unit"])
    names: dict = {}
    if query["group_by"] == "category":
        names = ledger_views.categories()
    elif query["group_by"] == "channel":
        names = {k: str(v) for k, v in ui_labels.CHANNELS.items()}
    elif query["group_by"] == "process":
        names = {p.process_id: p.name or p.process_id for p in processes.list_processes(db.session)}
    return s.stats_json(result, names)


@blp.route("/cases/export", methods=["GET"])
@blp.arguments(s.LedgerExportQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.doc(responses={"200": {"description": "the filtered ledger with Chinese column headers, streamed", "content": {
    "text/csv": {}, ledger_export.MEDIA_TYPES["xlsx"]: {}}}})  # files: no JSON schema to check them by
def export_cases(query: dict):
    """The filtered ledger as CSV or XLSX (same filters as GET /cases; page and per_page ignored)."""
    fmt = query.pop("format")
    query.pop("page"), query.pop("per_page")
    return ledger_views.export_response(current_actor(), ledger.LedgerFilters(**query), fmt)


@blp.route("/cases/<int:case_id>", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.CaseSchema)
def get_case(case_id: int):
    """A case with its open tasks and pending timers."""
    return _case_response(cases.get_case(db.session, case_id, current_actor()))


@blp.route("/cases/<int:case_id>/events", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.EventList)
def case_events(case_id: int):
    """The case's history (hash-chained)."""
    actor = current_actor()
    case = cases.get_case(db.session, case_id, actor, "events")
    mask = access.masker(db.session, actor, case)
    events = history.list_events(db.session, case_id, actor)
    return {"items": [s.event_json(e, mask) for e in events]}


@blp.route("/cases/<int:case_id>/verify", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.VerifySchema)
def verify_case(case_id: int):
    """Recompute the hash chain and replay the case."""
    return history.verify_case(db.session, case_id, current_actor())


@blp.route("/cases/<int:case_id>/attachments", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"},
                   "task_id": {"type": "string", "description": "the open task of the case it belongs to"}}}}}})
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(201, s.AttachmentSchema)
def add_attachment(case_id: int):
    """Attach a file (PDF, JPEG, PNG, MP3/WAV/M4A audio, plain text: judged by content) to the case or one of
    its open tasks: the task's actors, or the case's handling roles. Recorded as an attachment_added event."""
    upload = request.files.get("file")
    if upload is None:
        raise InvalidData(msg("attachment.file_required"), {"file": [msg("attachment.file_required")]})
    try:
        data = upload.read()
    finally:
        upload.close()  # a large upload is a temporary file: closed once read
    row = attachments.add_attachment(db.session, case_id, upload.filename, data, current_actor(),
                                     request.form.get("task_id") or None)
    return s.attachment_json(row), 201


@blp.route("/cases/<int:case_id>/attachments", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.AttachmentList)
def list_attachments(case_id: int):
    """The case's files, for whoever may read the case."""
    return {"items": [s.attachment_json(row) for row in
                      attachments.list_attachments(db.session, case_id, current_actor())]}


@blp.route("/attachments/<int:attachment_id>", methods=["GET"])
@_errors(401, 403, 404)
@blp.doc(responses={"200": {"description": "the file's bytes, always as a download (Content-Disposition: "
                                           "attachment), of the type judged from its content",
                            "content": {t: {} for t in attachments.TYPE_NAMES}}})
def download_attachment(attachment_id: int):
    """Download a file: for whoever may read its case; never rendered inline (nosniff, a sandboxing CSP)."""
    return attachment_response(attachments.download(db.session, attachment_id, current_actor()))


def attachment_response(got):
    """A stored file as a download: its sniffed type, Content-Disposition: attachment (the name RFC 6266-encoded),
    nosniff, and a CSP that runs nothing should a browser render it anyway."""
    import io

    response = send_file(io.BytesIO(got.data), mimetype=got.attachment.content_type, as_attachment=True,
                         download_name=got.attachment.name, etag=got.attachment.sha256, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/cases/<int:case_id>/documents", methods=["POST"])
@_json_request(s.IssueDocumentRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(201, s.DocumentSchema)
def issue_document(case_id: int):
    """Issue a document (PDF) from the case as it stands: those who may act on the case. Refused (422) when the
    case lacks a field the kind needs, naming them. Recorded as a document_issued event with the PDF's sha256;
    issuing the same kind again makes the next version, the earlier ones kept."""
    body = _load(s.IssueDocumentRequest, _json_body())
    row = documents.issue_document(db.session, case_id, body["kind"], current_actor())
    return s.document_json(row), 201


@blp.route("/cases/<int:case_id>/documents", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.DocumentList)
def list_documents(case_id: int):
    """The case's issued documents (every version), and the kinds it may issue; for whoever may read the case."""
    rows = documents.list_documents(db.session, case_id, current_actor())
    case = cases.get_case(db.session, case_id, current_actor(), None)
    return {"items": [s.document_json(row) for row in rows], "kinds": documents.kinds_for(case.process_id)}


@blp.route("/cases/<int:case_id>/dossier.pdf", methods=["GET"])
@_errors(401, 403, 404)
@blp.doc(responses={"200": {"description": "the whole case file (卷宗): summary, full history, the documents issued, "
                                           "the attachments with their hashes, the verification result and the "
                                           "chain's head hash", "content": {"application/pdf": {}}}})
def case_dossier(case_id: int):
    """The case's dossier as a PDF, for whoever may read the case; every export is recorded (access_log)."""
    return dossier_response(case_id)


@blp.route("/documents/<int:document_id>.pdf", methods=["GET"])
@_errors(401, 403, 404)
@blp.doc(responses={"200": {"description": "the PDF as issued", "content": {"application/pdf": {}}}})
def document_pdf(document_id: int):
    """An issued document's PDF, as issued (checked against its recorded hash), for whoever may read its case."""
    return document_response(documents.download(db.session, document_id, current_actor(), "pdf"))


@blp.route("/documents/<int:document_id>.html", methods=["GET"])
@_errors(401, 403, 404)
@blp.doc(responses={"200": {"description": "the print view as issued", "content": {"text/html": {}}}})
def document_html(document_id: int):
    """An issued document's print view (HTML), as issued, for whoever may read its case."""
    return document_response(documents.download(db.session, document_id, current_actor(), "html"))


def document_response(got, inline: bool = True):
    """An issued document: the PDF or print HTML as stored. Rendered from our own escaped templates, so shown
    inline; a CSP that runs no script and loads nothing from outside either way."""
    import io

    ext = "pdf" if got.content_type == "application/pdf" else "html"
    response = send_file(io.BytesIO(got.data), mimetype=got.content_type, as_attachment=not inline,
                         download_name=f"{got.document.name}.{ext}", etag=got.document.sha256, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/tasks", methods=["GET"])
@blp.arguments(s.TaskListQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.TaskList)
def list_tasks(query: dict):
    """Open tasks the caller may act on; filters overdue, assigned=me|none, q, process_id, category."""
    actor = current_actor()
    page = tasks.list_tasks(db.session, actor, **query)
    return {"items": [s.task_json(t) for t in page.items], "total": page.total, "total_capped": page.more,
            "page": query["page"], "per_page": query["per_page"]}


@blp.route("/tasks/<task_id>", methods=["GET"])
@blp.arguments(s.TaskPath, location="path")
@_errors(401, 403, 404, 409, 422)
@blp.response(200, s.TaskDetailSchema)
def get_task(_path: dict, task_id: str):
    """A task with its form."""
    actor = current_actor()
    task = tasks.get_task(db.session, task_id, actor)
    body = s.task_json(task)
    body["form"] = [{k: v for k, v in field.items() if v is not None or k in ("required",)}
                    for field in tasks.task_form(db.session, task)]
    for field in body["form"]:
        for bound in ("min", "max"):  # a date field's bound is a day ('today' or YYYY-MM-DD), not a number
            if isinstance(field.get(bound), str):
                field[f"{bound}_date"] = field.pop(bound)
        if not field.get("phone"):
            field.pop("phone", None)
        field["multiple"] = bool(field.get("multiple"))  # versions deployed before jiefen.multiple lack it
        if field.get("enum") is not None:  # (id, name) or, for units (jiefen.options), (code, name, roles, presence)
            field["enum"] = [{"id": o[0], "name": o[1], **({"roles": o[2]} if len(o) > 2 else {}),
                              **({"presence": {**o[3], "note": str(ui_labels.presence_note(o[3]))}}
                                 if len(o) > 3 and o[3] else {})}
                             for o in field["enum"]]
    body["can_act"] = tasks.can_act(db.session, actor, task)
    return body


@blp.route("/tasks/<task_id>/claim", methods=["POST"])
@blp.arguments(s.TaskPath, location="path")
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.CaseSchema)
def claim(_path: dict, task_id: str):
    """Claim a task."""
    task = tasks.claim_task(db.session, task_id, current_actor())
    return _case_response(cases.get_case(db.session, task.case_id, current_actor()))


@blp.route("/tasks/<task_id>/unclaim", methods=["POST"])
@blp.arguments(s.TaskPath, location="path")
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.CaseSchema)
def unclaim(_path: dict, task_id: str):
    """Give a claimed task back."""
    task = tasks.unclaim_task(db.session, task_id, current_actor())
    return _case_response(cases.get_case(db.session, task.case_id, current_actor()))


@blp.route("/tasks/<task_id>/assignees", methods=["GET"])
@blp.arguments(s.TaskPath, location="path")
@_errors(401, 403, 404, 409, 422)
@blp.response(200, s.AssigneeList)
def assignees(_path: dict, task_id: str):
    """Who a supervisor or director may give the task to (改派): users holding its role at its unit."""
    people = tasks.eligible_assignees(db.session, task_id, current_actor())
    return {"items": [{"username": p.username, "display_name": p.display_name} for p in people]}


@blp.route("/tasks/<task_id>/reassign", methods=["POST"])
@blp.arguments(s.TaskPath, location="path")
@_json_request(s.ReassignRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.TaskSchema)
def reassign(_path: dict, task_id: str):
    """改派: a supervisor or director over the task's unit gives it to another user holding its role there."""
    body = _load(s.ReassignRequest, _json_body())
    return s.task_json(tasks.reassign_task(db.session, task_id, body["username"], current_actor()))


@blp.route("/tasks/<task_id>/release", methods=["POST"])
@blp.arguments(s.TaskPath, location="path")
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.TaskSchema)
def release(_path: dict, task_id: str):
    """Release someone's claim (back to the pool): a supervisor or director over the task's unit."""
    return s.task_json(tasks.release_task(db.session, task_id, current_actor()))


@blp.route("/tasks/<task_id>/urge", methods=["POST"])
@blp.arguments(s.TaskPath, location="path")
@_json_request(s.UrgeRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.TaskSchema)
def urge(_path: dict, task_id: str):
    """催办 by hand: a supervisor or director over the task's unit sends its holder a message, shown on the
    task and marked in the task list."""
    body = _load(s.UrgeRequest, _json_body())
    return s.task_json(tasks.urge_task(db.session, task_id, body["note"], current_actor()))


@blp.route("/tasks/<task_id>/draft", methods=["PUT"])
@blp.arguments(s.TaskPath, location="path")
@_json_request(s.DraftRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.DraftSchema)
def save_draft(_path: dict, task_id: str):
    """Save a task's form without completing it (保存草稿): only its claimant; kept apart from the case data, one
    draft per task, replaced by each save, gone when the task completes."""
    body = _load(s.DraftRequest, _json_body())
    draft = tasks.save_draft(db.session, task_id, body["data"], current_actor())
    return {"task_id": draft.task_id, "username": draft.username, "data": draft.data,
            "saved_at": s.iso(draft.saved_at)}


@blp.route("/tasks/<task_id>/complete", methods=["POST"])
@blp.arguments(s.TaskPath, location="path")
@_json_request(s.CompleteRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.CaseSchema)
def complete(_path: dict, task_id: str):
    """Complete a task with form data."""
    body = _load(s.CompleteRequest, _json_body())
    case = tasks.complete_task(db.session, task_id, body["data"], current_actor(), body["lock_version"])
    return _case_response(case)


from webui.api import admin as _admin  # noqa: F401  (its routes join this blueprint)
from webui.api import audit as _audit  # noqa: E402,F401  (its routes join this blueprint)
