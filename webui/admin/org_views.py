"""/admin/org, /admin/org/roster and /admin/roles: the org tree (add, rename, codes, presence, move with what it
changes shown first, delete), the resident departments' duty roster for a week, the roles' names and the
lane -> role map. One engine service call per change (engine/services/org.py); administrators change, auditors
read (the engine decides)."""
from __future__ import annotations

from datetime import date, timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext

from engine.clock import CHINA_TZ
from engine.errors import Conflict, InvalidData, NotFound
from engine.services import admin_log, org, settings_admin
from webui import labels
from webui.admin.views import bp
from webui.auth import current_actor, login_required
from webui.extensions import current_runtime, db
from webui.i18n import localize, localize_details
from webui.shell import role_titles

_UNIT_FIELDS = ("code", "name", "kind", "parent", "area_code", "phone", "presence")


def _rota_days() -> list[str]:
    return request.form.getlist("rota_days")


def _render_tree(actor, values=None, errors=None, error=None, status=200):
    rows = org.org_tree(db.session, actor)
    parents = [r.unit for r in rows if org.CHILD_KINDS[r.unit.kind]]
    return render_template("admin/org.html", rows=rows, parents=parents, can_change=actor.is_admin,
                           values=values or {"parent": request.args.get("parent", "")}, errors=errors or {},
                           error=error, kinds=labels.UNIT_KINDS, child_kinds=org.CHILD_KINDS), status


@bp.route("/org")
@login_required
def org_page():
    return _render_tree(current_actor())


@bp.route("/org", methods=["POST"])
@login_required
def org_add():
    actor = current_actor()
    values = {k: request.form.get(k, "").strip() for k in _UNIT_FIELDS}
    values["rota_days"] = _rota_days()
    try:
        unit = org.add_unit(db.session, actor, values["code"], values["name"], values["kind"], values["parent"],
                            values["area_code"] or None, values["phone"] or None, values["presence"] or None,
                            values["rota_days"])
    except (InvalidData, Conflict, NotFound) as exc:
        db.session.rollback()
        return _render_tree(actor, values, localize_details(exc.details or {}), localize(exc.message), 422)
    flash(gettext("Org unit %(name)s added.", name=unit.name), "ok")
    return redirect(url_for("admin.org_unit_page", code=unit.code))


def _render_unit(actor, unit, values=None, errors=None, error=None, preview=None, status=200, disable_preview=None):
    rows = org.org_tree(db.session, actor)
    row = next(r for r in rows if r.unit.id == unit.id)
    below = {r.unit.id for r in rows if r.unit.path.startswith(unit.path)}
    targets = [r.unit for r in rows if unit.kind in org.CHILD_KINDS[r.unit.kind] and r.unit.id not in below
               and r.unit.id != unit.parent_id] if unit.parent_id else []
    history = admin_log.list_admin_events(db.session, actor, admin_log.AdminLogFilter(target=unit.code), 1, 20).items
    parent = next((r.unit for r in rows if r.unit.id == unit.parent_id), None)
    return render_template("admin/org_unit.html", unit=unit, row=row, parent=parent, targets=targets,
                           history=history, can_change=actor.is_admin, values=values or {}, errors=errors or {},
                           error=error, preview=preview, kinds=labels.UNIT_KINDS, disable_preview=disable_preview,
                           children=[r for r in rows if r.unit.parent_id == unit.id]), status


@bp.route("/org/<code>")
@login_required
def org_unit_page(code: str):
    actor = current_actor()
    return _render_unit(actor, org.get_unit(db.session, actor, code))


@bp.route("/org/<code>", methods=["POST"])
@login_required
def org_unit_change(code: str):
    """One form per change on the unit's page: details, presence, move (previewed, then confirmed), delete."""
    actor = current_actor()
    what = request.form.get("what", "")
    values = {k: request.form.get(k, "").strip() for k in (*_UNIT_FIELDS, "new_code")}
    try:
        if what == "details":
            unit = org.update_unit(db.session, actor, code, name=values["name"], new_code=values["new_code"],
                                   area_code=values["area_code"], phone=values["phone"] or None)
            flash(gettext("Saved."), "ok")
            return redirect(url_for("admin.org_unit_page", code=unit.code))
        if what == "presence":
            org.update_unit(db.session, actor, code, presence_kind=values["presence"] or None,
                            rota_days=_rota_days())
            flash(gettext("Saved."), "ok")
            return redirect(url_for("admin.org_unit_page", code=code))
        if what == "move" and request.form.get("confirm") != "1":
            preview = org.move_preview(db.session, actor, code, values["parent"])
            return _render_unit(actor, preview.unit, {"parent": values["parent"]}, preview=preview)
        if what == "move":
            unit = org.move_unit(db.session, actor, code, values["parent"])
            flash(gettext("Moved under %(parent)s.", parent=unit.parent.name), "ok")
            return redirect(url_for("admin.org_unit_page", code=code))
        if what == "disable" and request.form.get("confirm") != "1":
            unit = org.get_unit(db.session, actor, code)
            return _render_unit(actor, unit, disable_preview=org.open_tasks_at(db.session, actor, code))
        if what in ("disable", "enable"):
            unit = org.set_unit_active(db.session, actor, code, what == "enable")
            flash(gettext("%(name)s is enabled again.", name=unit.name) if unit.active
                  else gettext("%(name)s is disabled: nothing new is routed to it.", name=unit.name), "ok")
            return redirect(url_for("admin.org_unit_page", code=code))
        if what == "delete":
            org.delete_unit(db.session, actor, code)
            flash(gettext("Org unit %(code)s deleted.", code=code), "ok")
            return redirect(url_for("admin.org_page"))
    except (InvalidData, Conflict) as exc:
        db.session.rollback()
        kept = values if what == "details" else {"parent": values["parent"]}  # the form that was sent
        return _render_unit(actor, org.get_unit(db.session, actor, code), kept,
                            localize_details({k: v for k, v in (exc.details or {}).items() if k != "uses"}),
                            localize(exc.message), status=409 if isinstance(exc, Conflict) else 422)
    return redirect(url_for("admin.org_unit_page", code=code))


def _week_of(raw: str | None) -> date | None:
    """?week=2026-12-07 (any day of the week) or 2026-W50 (an ISO week); None: this week."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        if "W" in raw.upper():
            year, _, week = raw.upper().partition("-W")
            return date.fromisocalendar(int(year), int(week), 1)
        return date.fromisoformat(raw)
    except ValueError:
        return None


@bp.route("/org/roster")
@login_required
def org_roster():
    actor = current_actor()
    raw = request.args.get("week")
    day = _week_of(raw)
    roster = org.week_roster(db.session, actor, day)
    today = current_runtime().clock.now().astimezone(CHINA_TZ).date()
    return render_template("admin/org_roster.html", roster=roster, bad_week=bool(raw) and day is None, today=today,
                           prev_week=(roster.monday - timedelta(days=7)).isoformat(),
                           next_week=(roster.monday + timedelta(days=7)).isoformat())


@bp.route("/roles", methods=["GET", "POST"])
@login_required
def role_list():
    actor = current_actor()
    error, errors = None, {}
    if request.method == "POST" and request.form.get("what") == "lanes":
        lanes, rows = {}, []
        count = request.form.get("rows") or "0"
        for i in range(min(int(count), 500) if count.isdigit() else 0):
            lane = (request.form.get(f"lane-{i}") or "").strip()
            role = (request.form.get(f"lane-role-{i}") or "").strip()
            rows.append((lane, role))
            if lane or role:
                lanes[lane] = role
        try:
            settings_admin.save_setting(db.session, actor, "lane_roles", lanes, note=request.form.get("note"))
        except InvalidData as exc:
            db.session.rollback()
            error = localize(exc.message)
            errors = {k.removeprefix("lane_roles."): v for k, v in localize_details(exc.details or {}).items()}
            return _render_roles(actor, error, errors, rows), 422
        flash(gettext("Saved."), "ok")
        return redirect(url_for("admin.role_list") + "#lanes")
    if request.method == "POST":
        role = request.form.get("role", "")
        try:
            org.rename_role(db.session, actor, role, request.form.get("name_zh"), request.form.get("name_en"))
        except (InvalidData, NotFound) as exc:
            db.session.rollback()
            error, errors = localize(exc.message), localize_details(exc.details or {})
        else:
            flash(gettext("Saved."), "ok")
            return redirect(url_for("admin.role_list") + f"#role-{role}")
    return _render_roles(actor, error, errors)


def _render_roles(actor, error=None, errors=None, lane_rows=None):
    errors = errors or {}
    roles = org.list_roles(db.session, actor)
    titles = role_titles()
    lanes = [(lane, role, labels.role_name(role, titles)) for lane, role in org.lane_roles(db.session, actor)]
    if lane_rows is None:
        lane_rows = [(lane, role) for lane, role, _ in lanes]
    lane_rows = list(lane_rows) + [("", "")] * 2  # room for new lanes
    lane_view = settings_admin.get_setting(db.session, actor, "lane_roles")
    role_choices = sorted(((r.name, labels.role_name(r.name, titles)) for r in roles), key=lambda pair: pair[1])
    with force_locale("zh_CN"):
        zh = {r.name: str(labels.role_title(r, True) or "") for r in roles}
    with force_locale("en"):
        en = {r.name: str(labels.role_title(r, False) or "") for r in roles}
    shown = {name: (zh[name], en[name]) for name in zh}
    return render_template("admin/roles.html", roles=roles, shown=shown, lanes=lanes, can_change=actor.is_admin,
                           error=error, errors=errors, lane_rows=lane_rows, lane_view=lane_view,
                           role_choices=role_choices, role_name=lambda role: labels.role_name(role, titles),
                           lane_history=settings_admin.history(db.session, actor, "lane_roles"))
