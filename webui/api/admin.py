"""API of the administration console (issue 20): the admin log, users, calendar years, the org tree and roles.
Registered on the API blueprint (webui/api/views.py imports this module); one engine service call per request."""
from __future__ import annotations

import json

from flask import Response, request
from flask_babel import force_locale
from marshmallow import RAISE

from engine.errors import InvalidData
from engine.messages import msg
from engine.services import admin_log, calendar_admin, org, settings_admin, users
from webui import labels
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


# ---------------------------------------------------------------- the org tree, roster and roles (issue 20 §2)

def _unit_json(code: str) -> dict:
    row = next(r for r in org.org_tree(db.session, current_actor()) if r.unit.code == code)
    return s.org_unit_json(row)


@blp.route("/admin/org-units", methods=["GET"])
@_errors(401, 403)
@blp.response(200, s.OrgUnitList)
def admin_org_units():
    """Every org unit in tree order (the top first, each unit before those below it), with its members, open
    cases and a resident department's presence today. Administrators and auditors."""
    return {"items": [s.org_unit_json(r) for r in org.org_tree(db.session, current_actor())]}


@blp.route("/admin/org-units", methods=["POST"])
@_json_request(s.CreateOrgUnitRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(201, s.OrgUnitSchema)
def admin_add_org_unit():
    """Add a unit under `parent`: its level follows from its kind (a department takes its center's), its area
    code from the parent unless given; the code is shaped like an administrative division code and unique
    (taken: 409). Administrators only."""
    body = _load(s.CreateOrgUnitRequest, _json_body())
    unit = org.add_unit(db.session, current_actor(), body["code"], body["name"], body["kind"], body["parent"],
                        body["area_code"], body["phone"], body["presence"], body["rota_days"])
    return _unit_json(unit.code), 201


@blp.route("/admin/org-units/<code>", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.OrgUnitSchema)
def admin_org_unit(code: str):
    """One unit. Administrators and auditors."""
    org.get_unit(db.session, current_actor(), code)
    return _unit_json(code)


@blp.route("/admin/org-units/<code>", methods=["PATCH"])
@blp.arguments(s.OrgUnitChangeQuery, location="query", unknown=RAISE)
@_json_request(s.UpdateOrgUnitRequest)
@_errors(401, 403, 404, 409, 422, 503)
@blp.response(200, s.OrgUnitSchema)
@blp.alt_response(202, schema=s.MovePreviewSchema, description="dry_run=1 with parent: what the move changes")
def admin_update_org_unit(query: dict, code: str):
    """Rename a unit, change its code, area code, phone or presence, or move it (`parent`) with everything
    below it: with `dry_run=1` the answer is what the move changes (open cases and tasks, the centers it
    reports up to before and after), nothing saved. Administrators only."""
    body = _load(s.UpdateOrgUnitRequest, _json_body())
    actor = current_actor()
    if "parent" in body and query["dry_run"]:
        preview = s.MovePreviewSchema().dump(s.move_preview_json(org.move_preview(db.session, actor, code, body["parent"])))
        return Response(json.dumps(preview, ensure_ascii=False), status=202, mimetype="application/json")
    changes = {"name": "name", "code": "new_code", "area_code": "area_code", "phone": "phone",
               "presence": "presence_kind", "rota_days": "rota_days"}
    edits = {changes[k]: body[k] for k in changes if k in body}
    if edits and "parent" in body:  # one request, one command: a move is its own
        raise InvalidData(msg("org.move_alone"), {"parent": [msg("org.move_alone")]})
    if "active" in body:  # 停用 / 启用: its own command too
        if edits or "parent" in body:
            raise InvalidData(msg("org.active_alone"), {"active": [msg("org.active_alone")]})
        org.set_unit_active(db.session, actor, code, body["active"])
        return _unit_json(code)
    if edits:
        code = org.update_unit(db.session, actor, code, **edits).code
    if "parent" in body:
        org.move_unit(db.session, actor, code, body["parent"])
    return _unit_json(code)


@blp.route("/admin/org-units/<code>/open-tasks", methods=["GET"])
@_errors(401, 403, 404)
@blp.response(200, s.OpenTaskList)
def admin_org_unit_open_tasks(code: str):
    """The open tasks held at a unit, soonest due first: what stays there if it is disabled (停用).
    Administrators and auditors."""
    return {"items": [{"id": t.id, "title": t.title, "case_code": case_code, "due_at": t.due_at,
                       "assignee": t.assignee} for t, case_code in org.open_tasks_at(db.session, current_actor(), code)]}


@blp.route("/admin/org-units/<code>", methods=["DELETE"])
@_errors(401, 403, 404, 409, 503)
@blp.response(204)
def admin_delete_org_unit(code: str):
    """Delete a unit nothing refers to (no unit below, member, case, task, statistics or process naming it;
    otherwise 409 naming what does). Administrators only."""
    org.delete_unit(db.session, current_actor(), code)


@blp.route("/admin/roster", methods=["GET"])
@blp.arguments(s.RosterQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.RosterSchema)
def admin_roster(query: dict):
    """The resident departments' duty roster for the week holding `week`: per day, present, absent, on call or a
    rest day of the work calendar. Administrators and auditors."""
    return s.roster_json(org.week_roster(db.session, current_actor(), query["week"]))


def _roles_json() -> dict:
    actor = current_actor()
    roles = org.list_roles(db.session, actor)
    with force_locale("zh_CN"):
        zh = {r.name: str(labels.role_title(r, True) or r.name) for r in roles}
    with force_locale("en"):
        en = {r.name: str(labels.role_title(r, False) or r.name) for r in roles}
    return {"items": [{"name": r.name, "builtin": bool(r.builtin), "name_zh": r.name_zh, "name_en": r.name_en,
                       "shown_zh": zh[r.name], "shown_en": en[r.name]} for r in roles],
            "lane_roles": [{"lane": lane, "role": role} for lane, role in org.lane_roles(db.session, actor)]}


@blp.route("/admin/roles", methods=["GET"])
@_errors(401, 403)
@blp.response(200, s.RoleList)
def admin_roles():
    """The roles with their Chinese and English names (the administrator's, else the built-in ones) and the
    lane -> role map in force (PUT /admin/settings/lane_roles changes it). Administrators and auditors."""
    return _roles_json()


@blp.route("/admin/roles/<name>", methods=["PATCH"])
@_json_request(s.UpdateRoleRequest)
@_errors(401, 403, 404, 422, 503)
@blp.response(200, s.RoleSchema)
def admin_rename_role(name: str):
    """Name a role in Chinese and English (null or empty: the built-in name); its key never changes.
    Administrators only."""
    body = _load(s.UpdateRoleRequest, _json_body())
    org.rename_role(db.session, current_actor(), name, body["name_zh"], body["name_en"])
    return next(r for r in _roles_json()["items"] if r["name"] == name)


# ---------------------------------------------------------------- settings and the ladder policy (issue 20 §4, §5)

def _save_result(done) -> dict:
    return {"key": done.key, "changed": done.changed, "version": done.version, "cases": len(done.cases),
            "moved": done.moved}


@blp.route("/admin/ladder", methods=["GET"])
@_errors(401, 403)
@blp.response(200, s.LadderSchema)
def admin_ladder():
    """The supervision ladder's policy in force: per case tier whether it runs and its steps (offset before or
    after the due date in days, working days or hours), per kind of unit who answers and who reviews.
    Administrators and auditors."""
    view = settings_admin.get_setting(db.session, current_actor(), "ladder")
    return {"policy": view.value, "version": view.version, "saved_by": view.saved_by, "saved_at": view.saved_at}


@blp.route("/admin/ladder", methods=["PUT"])
@_json_request(s.LadderSaveRequest)
@_errors(401, 403, 409, 422, 503)
@blp.response(200, s.SettingSaveResponse)
def admin_save_ladder():
    """Save the ladder's policy (checked: every wrong field named, e.g. tiers.major.steps.2.amount). It applies
    to tasks opened from now on; with apply_to_open_tasks also to the open ones (their next step recomputed, an
    event per case whose step moves). Recorded with its history and in the admin log. Administrators only."""
    body = _load(s.LadderSaveRequest, _json_body())
    done = settings_admin.save_setting(db.session, current_actor(), "ladder", body["policy"],
                                       body["apply_to_open_tasks"], body["note"])
    return _save_result(done)


@blp.route("/admin/settings", methods=["GET"])
@_errors(401, 403)
@blp.response(200, s.SettingList)
def admin_settings():
    """Every organisation setting in force (ladder, lane_roles, group_case, ranking), with who saved it when
    (null: config/org.toml's value). Administrators and auditors."""
    actor = current_actor()
    return {"items": [s.setting_json(settings_admin.get_setting(db.session, actor, key))
                      for key in settings_admin.KEYS]}


@blp.route("/admin/settings/<key>", methods=["GET"])
@_errors(401, 403, 422)
@blp.response(200, s.SettingSchema)
def admin_setting(key: str):
    """One setting in force. Administrators and auditors."""
    return s.setting_json(settings_admin.get_setting(db.session, current_actor(), key))


@blp.route("/admin/settings/<key>", methods=["PUT"])
@_json_request(s.SettingSaveRequest)
@_errors(401, 403, 409, 422, 503)
@blp.response(200, s.SettingSaveResponse)
def admin_save_setting(key: str):
    """Save a setting (checked, every wrong field named); in force in every process within seconds, recorded
    with its history and in the admin log. Administrators only."""
    body = _load(s.SettingSaveRequest, _json_body())
    return _save_result(settings_admin.save_setting(db.session, current_actor(), key, body["value"],
                                                    note=body["note"]))


@blp.route("/admin/settings/<key>/history", methods=["GET"])
@_errors(401, 403, 422)
@blp.response(200, s.SettingHistory)
def admin_setting_history(key: str):
    """Every value the setting had, newest first: who saved it when, old -> new. Administrators and auditors."""
    return {"items": [s.setting_version_json(r) for r in settings_admin.history(db.session, current_actor(), key)]}
