"""The one table that maps engine exceptions to HTTP: JSON under /api/, an HTML page elsewhere."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, redirect, render_template, request, url_for
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from engine.errors import (CalendarError, CaseError, Conflict, Forbidden, InvalidData, NotFound,
                           ProcessDefinitionError, SandboxError, TaskFailed)

log = logging.getLogger(__name__)

STATUS = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    InvalidData: 422,
    ProcessDefinitionError: 422,
    TaskFailed: 422,
    SandboxError: 422,
    CalendarError: 422,
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
    """JSON under /api/; elsewhere the error page (engine messages are shown in the UI language), and a
    redirect to the login page when a page needs a login."""
    from webui.extensions import db

    db.session.rollback()
    if wants_json():
        return jsonify({"error": error, "message": message, "details": details}), status
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
        return _render(500, "internal_error", "服务器内部错误 / internal server error", None)


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
    message = ("数据库连接中断，请稍后用同一 Idempotency-Key 重试 / the database connection was lost; retry with the "
               "same Idempotency-Key" if key else "数据库连接中断，请稍后重试 / the database connection was lost; retry")
    if wants_json():
        response = jsonify({"error": "database_unavailable", "message": message, "details": details})
    else:
        response = render_template("errors/error.html", status=503, error="database_unavailable", message=message,
                                   details=details, show_message=True)
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if key:
        headers["Idempotency-Key"] = key
    return response, 503, headers
