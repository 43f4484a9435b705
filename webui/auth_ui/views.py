"""Login / logout with the engine's users, and switching the role / org unit one acts as."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext

from engine.actors import AUDITOR
from engine.errors import AuthenticationFailed, InvalidData
from engine.messages import msg
from engine.services import users
from webui.auth import current_actor, login_required, start_session
from webui.extensions import db
from webui.i18n import localize, localize_details, referrer_path, safe_next
from webui.shell import grant_value

log = logging.getLogger(__name__)

bp = Blueprint("auth_ui", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"), url_for("tasks.task_list"))
    if request.method == "GET":
        return render_template("auth_ui/login.html", next=target, username="", error=None)
    username = request.form.get("username", "").strip()
    cfg = current_app.config
    actor = users.authenticate(db.session, username, request.form.get("password", ""), request.remote_addr or "",
                               cfg["JIEFEN_LOGIN_MAX_FAILURES"], cfg["JIEFEN_LOGIN_LOCK_MINUTES"])
    log.info("login: %s", username)
    start_session(actor)
    if target == url_for("tasks.task_list") and actor.is_auditor and not actor.roles - {AUDITOR}:
        target = url_for("audit.workspace")  # an auditor has no tasks: they land on the audit workspace
    if actor.must_change_password:
        return redirect(url_for("auth_ui.change_password", next=target))
    return redirect(target)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Choose a new password: forced after an administrator's reset (every other page leads here until then),
    and open to anyone logged in. Every other session and token of the user ends; this browser stays logged in."""
    actor = current_actor()
    target = safe_next(request.values.get("next"), url_for("tasks.task_list"))
    if request.method == "GET":
        return render_template("auth_ui/password.html", next=target, forced=actor.must_change_password, errors={})
    first, second = request.form.get("password", ""), request.form.get("password2", "")
    if first != second:
        raise InvalidData(msg("form.invalid"), {"password2": [msg("field.passwords_differ")]})
    users.set_password(db.session, actor.username, first, by=actor.username)
    start_session(users.load_actor(db.session, actor.username))
    flash(gettext("Your new password is set."), "ok")
    return redirect(target)


@bp.errorhandler(InvalidData)
def password_refused(exc: InvalidData):
    """The password page again with the policy's reason under the field."""
    if request.endpoint != "auth_ui.change_password":
        from webui.errors import _render

        return _render(422, exc.code, exc.message, exc.details, show_message=True)
    db.session.rollback()
    actor = current_actor()
    return render_template("auth_ui/password.html", next=safe_next(request.values.get("next"), url_for("tasks.task_list")),
                           forced=actor.must_change_password, errors=localize_details(exc.details or {}),
                           error=localize(exc.message)), 422


@bp.errorhandler(AuthenticationFailed)
def login_failed(exc: AuthenticationFailed):
    """Wrong credentials or a locked (name, address) pair: the login form again, with the engine's reason."""
    if request.endpoint != "auth_ui.login":
        from webui.errors import _render

        return _render(401, exc.code, exc.message, exc.details, show_message=True)
    db.session.rollback()
    return render_template("auth_ui/login.html", next=safe_next(request.values.get("next"), url_for("tasks.task_list")),
                           username=request.form.get("username", ""), error=localize(exc.message)), 401


@bp.route("/logout", methods=["POST"])
def logout():
    """Ends every session of the user (a copy of this cookie no longer logs anyone in), not only this one."""
    actor = current_actor(optional=True)  # a stale or forged cookie ends nobody's sessions
    if actor is not None:
        users.end_sessions(db.session, actor.username)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth_ui.login"))


@bp.route("/switch", methods=["POST"])
@login_required
def switch():
    """Act as one of your roles / org units (task lists, intake), or as all of them (empty value)."""
    actor = current_actor()
    chosen = request.form.get("grant", "")
    if chosen and chosen not in {grant_value(g) for g in actor.grants}:
        abort(400)
    session["grant"] = chosen
    return redirect(safe_next(request.form.get("next"), referrer_path(url_for("tasks.task_list"))))
