"""/admin/users and /admin/log: the administration console's users (list, search, create, edit, disable, reset,
memberships, bulk import) and the admin log (filter, export, verify). One engine service call per change;
administrators change, auditors read (the engine decides)."""
from __future__ import annotations

from datetime import date

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from engine.errors import Conflict, InvalidData
from engine.messages import msg
from engine.services import admin_log, users
from webui import labels
from webui.admin import files
from webui.admin.views import bp
from webui.auth import current_actor, login_required
from webui.extensions import current_runtime, db
from webui.i18n import localize, localize_details
from webui.shell import org_names, role_titles

PER_PAGE = 50


def _page() -> int:
    try:
        return max(int(request.args.get("page", "1")), 1)
    except ValueError:
        return 1


def _choices() -> dict:
    """Roles and units for the forms' selects, by their names."""
    titles = role_titles()
    return {"roles": [(name, labels.role_name(name, titles)) for name in titles],
            "units": users.list_org_units(db.session), "unit_names": org_names(), "titles": titles}


def _flag(value: str | None) -> bool | None:
    return {"1": True, "0": False}.get(value or "")


@bp.route("/users")
@login_required
def user_list():
    actor = current_actor()
    query = {k: request.args.get(k, "").strip() for k in ("q", "role", "org_unit", "active")}
    flt = users.UserFilter(q=query["q"][:100] or None, role=query["role"] or None,
                           org_unit=query["org_unit"] or None, active=_flag(query["active"]))
    page = users.list_users(db.session, actor, flt, _page(), PER_PAGE)
    pages = max(1, -(-page.total // PER_PAGE))
    return render_template("admin/users.html", result=page, query={k: v for k, v in query.items() if v},
                           pages=pages, page=page.page, can_change=actor.is_admin, **_choices())


def _memberships_from_form() -> list[tuple[str, str]]:
    roles, units = request.form.getlist("role"), request.form.getlist("org_unit")
    return [(r, u) for r, u in zip(roles, units, strict=False) if r or u]


@bp.route("/users/new", methods=["GET", "POST"])
@login_required
def user_new():
    actor = current_actor()
    values, errors, error = {}, {}, None
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in ("login", "display_name", "phone", "password")}
        values["memberships"] = _memberships_from_form()
        try:
            users.add_user(db.session, actor, values["login"].strip(), values["display_name"], values["password"],
                           values["memberships"], values["phone"] or None)
        except (InvalidData, Conflict) as exc:
            db.session.rollback()
            errors, error = localize_details(exc.details or {}), localize(exc.message)
        else:
            flash(gettext("User %(login)s created.", login=values["login"].strip()), "ok")
            return redirect(url_for("admin.user_page", login=values["login"].strip()))
    else:
        users.check_administrator(actor)
    return render_template("admin/user_new.html", values=values, errors=errors, error=error,
                           **_choices()), (422 if error else 200)


@bp.route("/users/<login>")
@login_required
def user_page(login: str):
    actor = current_actor()
    user = users.get_user(db.session, actor, login)
    return _render_user(actor, user)


def _render_user(actor, user, one_time_password: str | None = None):
    history = admin_log.list_admin_events(db.session, actor, admin_log.AdminLogFilter(target=user.username),
                                          1, 20).items
    return render_template("admin/user.html", user=user, history=history, can_change=actor.is_admin,
                           one_time_password=one_time_password, **_choices())


def _current_grants(login: str) -> list[tuple[str, str]]:
    user = users.get_user(db.session, current_actor(), login)
    return [(m.role.name, m.org_unit.code) for m in user.memberships]


@bp.route("/users/<login>", methods=["POST"])
@login_required
def user_change(login: str):
    """One form per change on the user's page: details, active, a grant added, a grant revoked."""
    actor = current_actor()
    what = request.form.get("what", "")
    try:
        if what == "details":
            users.update_user(db.session, actor, login, display_name=request.form.get("display_name", ""),
                              phone=request.form.get("phone") or None)
            flash(gettext("Saved."), "ok")
        elif what in ("disable", "enable"):
            users.update_user(db.session, actor, login, active=what == "enable")
            flash(gettext("User enabled.") if what == "enable" else
                  gettext("User disabled: their sessions ended and their claimed tasks returned to the pool."), "ok")
        elif what == "grant":
            grant = (request.form.get("role", ""), request.form.get("org_unit", ""))
            users.update_user(db.session, actor, login, memberships=[*_current_grants(login), grant])
            flash(gettext("Role granted."), "ok")
        elif what == "revoke":
            gone = (request.form.get("role", ""), request.form.get("org_unit", ""))
            users.update_user(db.session, actor, login, memberships=[g for g in _current_grants(login) if g != gone])
            flash(gettext("Role revoked: their sessions ended."), "ok")
        elif what == "reset":
            # Shown in this response only: never kept in the (signed, not encrypted) session cookie or the database.
            password = users.reset_password(db.session, actor, login)
            return _render_user(actor, users.get_user(db.session, actor, login), password)
        else:
            raise InvalidData(msg("form.invalid"), {"what": [msg("field.required")]})
    except (InvalidData, Conflict) as exc:
        db.session.rollback()
        details = localize_details(exc.details or {})
        flash(localize(exc.message) + "".join(f"（{'；'.join(str(m) for m in v)}）" for v in details.values()), "error")
    return redirect(url_for("admin.user_page", login=login))


@bp.route("/users/import", methods=["GET", "POST"])
@login_required
def user_import():
    actor = current_actor()
    if request.method == "GET":
        users.check_administrator(actor)
        return render_template("admin/user_import.html", result=None, shape_errors=[], error=None)
    users.check_administrator(actor)  # before reading the file: its errors are for administrators only
    upload = request.files.get("file")
    apply = request.form.get("apply") == "1"
    try:
        if upload is None or not upload.filename:
            raise InvalidData(msg("import.empty"), {"file": [msg("field.required")]})
        rows, shape_errors = files.read_import(upload.read(files.MAX_IMPORT_BYTES + 1), upload.filename,
                                               files.role_names())
        result = users.import_users(db.session, actor, rows, apply and not shape_errors) if rows else None
    except InvalidData as exc:
        db.session.rollback()
        return render_template("admin/user_import.html", result=None, shape_errors=[],
                               error=localize(exc.message)), 422
    errors = sorted([*shape_errors, *((e.row, e.column, e.message) for e in (result.errors if result else []))])
    if errors:
        flash(localize(msg("import.has_errors", count=len({e[0] for e in errors}))), "error")
    return render_template("admin/user_import.html", result=result, shape_errors=[
        (row, files.column_name(column), localize(message)) for row, column, message in errors],
        error=None, checked=len(rows), applied=bool(result and result.applied), dry_run=not apply)


@bp.route("/users/import/template.<fmt>")
@login_required
def user_import_template(fmt: str):
    current_actor()
    if fmt not in files.MEDIA_TYPES:
        fmt = "xlsx"
    return Response(files.template(fmt), mimetype=files.MEDIA_TYPES[fmt].split(";")[0],
                    headers={"Content-Disposition": f"attachment; filename=\"users-template.{fmt}\"; "
                                                    f"filename*=UTF-8''%E7%94%A8%E6%88%B7%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.{fmt}"})


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _log_query() -> tuple[dict, admin_log.AdminLogFilter]:
    query = {k: request.args.get(k, "").strip() for k in ("actor", "action", "target", "since", "until")}
    since, until = files.day_bounds(_day(query["since"]), _day(query["until"]))
    return ({k: v for k, v in query.items() if v},
            admin_log.AdminLogFilter(actor=query["actor"] or None, action=query["action"] or None,
                                     target=query["target"] or None, since=since, until=until))


@bp.route("/log")
@login_required
def log_page():
    actor = current_actor()
    query, flt = _log_query()
    try:
        page = admin_log.list_admin_events(db.session, actor, flt, _page(), PER_PAGE)
    except InvalidData as exc:
        flash(localize(exc.message), "error")
        query, flt = {}, admin_log.AdminLogFilter()
        page = admin_log.list_admin_events(db.session, actor, flt, 1, PER_PAGE)
    check = admin_log.verify_admin_log(db.session, actor) if request.args.get("verify") else None
    return render_template("admin/log.html", result=page, query=query, page=page.page,
                           pages=max(1, -(-page.total // PER_PAGE)), check=check)


@bp.route("/log/export.csv")
@login_required
def log_export():
    _query, flt = _log_query()
    rows = admin_log.export_admin_events(db.session, current_actor(), flt)
    stamp = current_runtime().clock.now().strftime("%Y%m%d")
    body = files.log_csv(rows, {k: str(v) for k, v in labels.ADMIN_ACTIONS.items()})
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=\"admin-log-{stamp}.csv\"; "
                               f"filename*=UTF-8''%E7%AE%A1%E7%90%86%E6%97%A5%E5%BF%97-{stamp}.csv"})


@bp.app_template_filter("admin_value")
def admin_value(value, key: str | None = None) -> str:
    """An admin log row's old / new value as people read it: roles by name at units by name, yes / no, an org
    unit's kind, presence, rota days and parent by their names."""
    if value is None:
        return "—"
    if key == "kind":
        return str(labels.UNIT_KINDS.get(value, value))
    if key == "level":
        return str(labels.UNIT_LEVELS.get(value, value))
    if key == "presence":
        return str(labels.PRESENCE_SHORT.get(value, value))
    if key == "rota_days":
        return labels.weekdays_text(str(value).split(",")) or "—"
    if key == "parent":
        return f"{org_names().get(value, value)}（{value}）"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, list):
        titles, units = role_titles(), org_names()
        return "、".join(f"{labels.role_name(v['role'], titles)}@{units.get(v['org_unit'], v['org_unit'])}"
                        if isinstance(v, dict) and "role" in v else str(v) for v in value) or "—"
    return str(value)

