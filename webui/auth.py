"""Who is calling: a bearer token (API clients) or the browser session; turns it into an engine Actor."""
from __future__ import annotations

from functools import wraps

from flask import abort, g, redirect, request, session, url_for

from engine.errors import AuthenticationFailed, Forbidden, NotFound
from engine.messages import msg
from engine.services import users
from webui.errors import Unauthorized
from webui.extensions import db


# What a user whose password was reset may reach before choosing a new one.
_WHILE_MUST_CHANGE = frozenset({"auth_ui.change_password", "auth_ui.logout", "auth_ui.login", "static", "set_language"})


def current_actor(optional: bool = False):
    if "actor" in g:  # an optional look-up earlier in the request (e.g. the Idempotency-Key hook) may have found nobody
        if g.actor is None and not optional:
            raise Unauthorized("需要登录 / authentication required")
        return g.actor
    actor = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        try:
            actor = users.actor_for_token(db.session, bearer_token())
        except AuthenticationFailed as exc:
            raise Unauthorized(exc.message) from exc
    elif session.get("username"):
        try:
            actor = users.load_actor(db.session, session["username"])
        except NotFound:
            actor = None
        if actor is not None and session.get("session_version") != actor.session_version:
            actor = None  # logged out, disabled or given a new password since this session was signed
        if actor is None:
            session.clear()
        if actor is not None and actor.must_change_password and request.endpoint not in _WHILE_MUST_CHANGE:
            # An administrator reset the password: the one-time password opens the change page and nothing else.
            if request.path.startswith("/api/"):
                raise Forbidden(msg("password.must_change"))
            abort(redirect(url_for("auth_ui.change_password")))
        if actor is not None and request.path.startswith("/api/") and request.method not in ("GET", "HEAD", "OPTIONS"):
            # The API is exempt from form CSRF (bearer clients); a browser session must send the token header.
            from flask_wtf.csrf import ValidationError, validate_csrf
            try:
                validate_csrf(request.headers.get("X-CSRFToken"))
            except ValidationError as exc:
                raise Unauthorized("浏览器会话调用接口须带 X-CSRFToken / X-CSRFToken header required with a session") from exc
    if actor is None and not optional:
        raise Unauthorized("需要登录 / authentication required")
    g.actor = actor
    return actor


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def start_session(actor) -> None:
    """A fresh browser session (and CSRF token) for a login; the language choice survives."""
    lang = session.get("lang")
    session.clear()
    session["username"] = actor.username
    session["session_version"] = actor.session_version
    if lang:
        session["lang"] = lang


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        current_actor()
        return view(*args, **kwargs)

    return wrapped
