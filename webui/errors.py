"""The one table that maps engine exceptions to HTTP: JSON under /api/, an HTML page elsewhere."""
from __future__ import annotations

import json
import logging

from flask import Flask, jsonify, redirect, render_template, request, url_for
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from engine.errors import (AuthenticationFailed, CalendarError, CaseError, Conflict, Forbidden, InvalidData, NotFound,
                           ProcessDefinitionError, SandboxError, TaskFailed, Unavailable)
from engine.messages import msg
from webui.i18n import api_details, api_text

log = logging.getLogger(__name__)

STATUS = {
    NotFound: 404,
    AuthenticationFailed: 401,
    Forbidden: 403,
    Conflict: 409,
    InvalidData: 422,
    ProcessDefinitionError: 422,
    TaskFailed: 422,
    SandboxError: 422,
    CalendarError: 422,
    Unavailable: 503,
}


class Unauthorized(CaseError):
    code = "unauthorized"


STATUS[Unauthorized] = 401


def status_of(exc: CaseError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(status: int, error: str, message: str, details=None, show_message: bool = False):
    """JSON under /api/ (an engine message as "中文 / English"); elsewhere the error page (an engine message in
    the UI language only), and a redirect to the login page when a page needs a login."""
    from webui.extensions import db

    db.session.rollback()
    if wants_json():
        return jsonify({"error": error, "message": api_text(message), "details": api_details(details)}), status
    if status == 401:
        return redirect(url_for("auth_ui.login", next=request.full_path.rstrip("?")))
    return render_template("errors/error.html", status=status, error=error, message=message, details=details,
                           show_message=show_message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CaseError)
    def handle_case_error(exc: CaseError):
        return _render(status_of(exc), exc.code, exc.message, exc.details, show_message=True)

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        details = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
        # werkzeug's descriptions are English only: the page shows a translated text per status instead.
        return _render(exc.code or 500, code, exc.description or exc.name, details, show_message=False)

    @app.errorhandler(DBAPIError)
    def handle_database_error(exc: DBAPIError):
        if not lost_connection(exc):
            return handle_unexpected(exc)
        return connection_lost(exc)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _render(500, "internal_error", msg("server.internal_error"), None)


class JSONErrorMiddleware:
    """WSGI wrapper for what escapes Flask's handlers (a teardown, a response being closed): an API client gets
    the API's JSON error instead of the server's plain-text 500 page. Flask's own error handling runs inside
    the wrapped app; this is the last line, so it logs the traceback itself.

    start_response is held back until the wrapped app returns, so an exception raised afterwards (Flask pops
    its contexts — teardown — after the response has started) can still replace the status and headers."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        held: list = []  # (status, headers) of the latest start_response call
        sent: list = []  # the server's write callable, once the headers went out

        def hold(status, headers, exc_info=None):
            if exc_info is not None and sent:
                raise exc_info[1].with_traceback(exc_info[2])  # too late to change them (PEP 3333)
            held[:] = [(status, headers)]
            return write

        def write(data):  # the legacy write() callable: the headers go out first
            if not sent:
                sent.append(start_response(*held[0]))
            return sent[0](data)

        try:
            body = self.wsgi_app(environ, hold)
        except Exception:
            path = environ.get("PATH_INFO") or ""
            log.exception("unhandled error outside the request handlers on %s %s", environ.get("REQUEST_METHOD"), path)
            if sent or not path.startswith("/api/"):
                raise
            payload = json.dumps({"error": "internal_error", "message": api_text(msg("server.internal_error")),
                                  "details": None}, ensure_ascii=False).encode()
            start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "application/json"),
                                                         ("Content-Length", str(len(payload)))])
            return [payload]
        if not sent:
            start_response(*held[0])
        return body


def swallow_teardown_errors(app: Flask, db) -> None:
    """Flask-SQLAlchemy's teardown removes the request's session; on a dead connection its rollback raises
    after the response is made (a command that committed would answer 500). Log it and discard the session
    instead: the pool replaces the connection (pool_pre_ping) and the answer stands."""
    original = db._teardown_session

    def teardown_session(exc: BaseException | None) -> None:
        try:
            original(exc)
        except Exception:
            log.exception("closing the request's database session failed; it is discarded")
            db.session.registry.clear()

    app.teardown_appcontext_funcs[:] = [teardown_session if func == original else func
                                        for func in app.teardown_appcontext_funcs]


RETRY_AFTER_S = 2


def lost_connection(exc: DBAPIError) -> bool:
    """The database connection broke (or the server is gone): whether a write committed is not known."""
    if exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None)
    return type(orig).__name__ == "OperationalError" and type(orig).__module__.startswith("psycopg")


def connection_lost(exc: DBAPIError):
    """503 with Retry-After, and for a write the Idempotency-Key to retry it with: the write may have
    committed (the connection dropped during COMMIT, or while the response was read), and its key row went
    into the same transaction (webui/idempotency.py), so a retry with the key cannot act twice. Never a 500."""
    from webui.extensions import db
    from webui.idempotency import current_key

    key = current_key()
    log.warning("database connection lost on %s %s (idempotency key %s): %s", request.method, request.path, key,
                type(getattr(exc, "orig", exc)).__name__)
    try:
        db.session.rollback()
    except DBAPIError:
        log.warning("rollback on the lost connection failed too", exc_info=True)
    details = {"idempotency_key": key} if key else None
    message = msg("server.database_lost_key") if key else msg("server.database_lost")
    if wants_json():
        response = jsonify({"error": "database_unavailable", "message": api_text(message), "details": details})
    else:
        response = render_template("errors/error.html", status=503, error="database_unavailable", message=message,
                                   details=details, show_message=True)
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if key:
        headers["Idempotency-Key"] = key
    return response, 503, headers
