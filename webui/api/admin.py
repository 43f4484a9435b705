"""API of the administration console (issue 20): the admin log and users. Registered on the API blueprint
(webui/api/views.py imports this module); one engine service call per request."""
from __future__ import annotations

from flask import Response, request
from marshmallow import RAISE

from engine.services import admin_log, calendar_admin, users
from webui.admin import files
from webui.api import schemas as s
from webui.api.views import _errors, _json_body, _json_request, _load, blp
from webui.auth import current_actor
from webui.extensions import current_runtime, db
from webui.i18n import api_text


def _log_filter(query: dict) -> admin_log.AdminLogFilter:
    since, until = files.day_bounds(query["since"], query["until"])
    return admin_log.AdminLogFilter(actor=query["actor"], action=query["action"], target=query["target"],
                                    since=since, until=until)


@blp.route("/admin/log", methods=["GET"])
@blp.arguments(s.AdminLogQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.AdminLogList)
def admin_log_list(query: dict):
    """The admin log, newest first: every administrative act (who, when, what, on whom, old -> new), filtered
    by actor, action, target and period, paged. Administrators and auditors."""
    page = admin_log.list_admin_events(db.session, current_actor(), _log_filter(query), query["page"],
                                       query["per_page"])
    return {"items": [s.admin_event_json(e) for e in page.items], "total": page.total, "page": page.page,
            "per_page": page.per_page}


@blp.route("/admin/log/export", methods=["GET"])
@blp.arguments(s.AdminLogQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.doc(responses={"200": {"description": "the filtered admin log as CSV, oldest first", "content": {"text/csv": {}}}})
def admin_log_export(query: dict):
    """The filtered admin log as CSV (page and per_page ignored). Administrators and auditors."""
    rows = admin_log.export_admin_events(db.session, current_actor(), _log_filter(query))
    stamp = current_runtime().clock.now().strftime("%Y%m%d")
    return Response(files.log_csv(rows, {}), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="admin-log-{stamp}.csv"'})


@blp.route("/admin/log/verify", methods=["GET"])
@_errors(401, 403)
@blp.response(200, s.AdminLogVerify)
def admin_log_verify():
    """Recompute the admin log's hash chain. Administrators and auditors."""
    check = admin_log.verify_admin_log(db.session, current_actor())
    return {"ok": check.ok, "checked": check.checked, "broken_at": check.broken_at}


@blp.route("/admin/users", methods=["GET"])
@blp.arguments(s.UserQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.AdminUserList)
def admin_users(query: dict):
    """Users by login, searched by login or name, role, unit and active, with their memberships and last login.
    Administrators and auditors."""
    page = users.list_users(db.session, current_actor(), users.UserFilter(
        q=query["q"], role=query["role"], org_unit=query["org_unit"], active=query["active"]),
        query["page"], query["per_page"])
    return {"items": [s.admin_user_json(u) for u in page.items], "total": page.total, "page": page.page,
            "per_page": page.per_page}


@blp.route("/admin/users", methods=["POST"])
@_json_request(s.CreateUserRequest)
@_errors(401, 403, 409, 422, 503)
@blp.response(201, s.AdminUserSchema)
def admin_create_user():
    """Create a user with their memberships (role at org unit). Administrators only; the login taken is a 409."""
    body = _load(s.CreateUserRequest, _json_body())
    user = users.add_user(db.session, current_actor(), body["login"], body["display_name"], body["password"],
                          [(m["role"], m["org_unit"]) for m in body["memberships"]], body["phone"])
    return s.admin_user_json(user), 201


@blp.route("/admin/users/<login>", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.AdminUserSchema)
def admin_get_user(login: str):
    """One user. Administrators and auditors."""
    return s.admin_user_json(users.get_user(db.session, current_actor(), login))


@blp.route("/admin/users/<login>", methods=["PATCH"])
@_json_request(s.UpdateUserRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.AdminUserSchema)
def admin_update_user(login: str):
    """Change a user: display_name, phone, active, memberships (the full new set). Disabling the user or revoking
    a role ends their sessions and tokens at once and returns the tasks they can no longer act on to the pool.
    Administrators only."""
    body = _load(s.UpdateUserRequest, _json_body())
    changes = {k: body[k] for k in ("display_name", "phone") if k in body}
    if "memberships" in body:
        changes["memberships"] = [(m["role"], m["org_unit"]) for m in body["memberships"]]
    user = users.update_user(db.session, current_actor(), login, active=body.get("active"), **changes)
    return s.admin_user_json(user)


@blp.route("/admin/users/<login>/reset-password", methods=["POST"])
@_errors(401, 403, 404, 422, 503)  # 422: a malformed Idempotency-Key
@blp.response(200, s.PasswordResetResponse)
def admin_reset_password(login: str):
    """A one-time password for the user (shown once); they must set a new one at the next login. Every session
    and token of the user ends. Administrators only."""
    return {"login": login, "one_time_password": users.reset_password(db.session, current_actor(), login)}


@blp.route("/admin/users/import", methods=["POST"])
@blp.doc(parameters=[
    {"in": "query", "name": "apply", "schema": {"type": "boolean", "default": False},
     "description": "false (default): check only, nothing saved; true: save every row, or none if any is wrong"},
    {"in": "query", "name": "filename", "schema": {"type": "string"}, "description": "users.xlsx or users.csv"}],
    requestBody={"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                 "description": "the filled-in template (XLSX, or CSV in UTF-8)"})
@_errors(401, 403, 422, 503)
@blp.response(200, s.ImportResultSchema)
def admin_import_users():
    """Bulk import from the template (GET /admin/users/import/template.xlsx in the console): a dry run lists every
    error by row and column; with apply=true every row is saved in one transaction, or none. Administrators only."""
    users.check_administrator(current_actor())  # before reading the file: its errors are for administrators only
    apply = request.args.get("apply", "false").lower() in ("1", "true", "yes")
    rows, shape_errors = files.read_import(request.get_data(), request.args.get("filename") or "", files.role_names())
    result = users.import_users(db.session, current_actor(), rows, apply and not shape_errors) if rows else None
    errors = sorted([*shape_errors, *((e.row, e.column, e.message) for e in (result.errors if result else []))])
    return {"applied": bool(result and result.applied),
            "errors": [{"row": r, "column": c, "message": api_text(m)} for r, c, m in errors],
            "created": [{"login": login, "one_time_password": password}
                        for login, password in (result.created if result else [])]}


@blp.route("/admin/calendar/<int:year>", methods=["GET"])
@_errors(401, 403, 422)
@blp.response(200, s.CalendarYearSchema)
def admin_calendar_year(year: int):
    """A year's holidays, 调休 working days and closures, each with its source, and whether the year is
    provisional. Administrators and auditors."""
    return s.calendar_year_json(calendar_admin.year_view(db.session, current_actor(), year))


@blp.route("/admin/calendar/<int:year>", methods=["PUT"])
@blp.arguments(s.CalendarSaveQuery, location="query", unknown=RAISE)
@_json_request(s.CalendarYearRequest)
@_errors(401, 403, 422, 503)
@blp.response(200, s.CalendarSaveResponse)
def admin_save_calendar_year(query: dict, year: int):
    """Enter a year's State Council notice (holidays and 调休 working days) and the center's closures; every
    pending deadline and timer it moves is recomputed (an event per case) and the act is in the admin log.
    `dry_run=1`: how many would move, nothing saved. Administrators only."""
    body = _load(s.CalendarYearRequest, _json_body())
    done = calendar_admin.save_notice(db.session, current_actor(), year, body["holidays"], body["workdays"],
                                      body.get("closures"), body["provisional"], dry_run=query["dry_run"])
    return {"year": year, "dry_run": done.dry_run, "moved": done.moved, "cases": len(done.cases),
            "unsure": done.unsure}
