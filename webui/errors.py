"""The one table that maps engine exceptions to HTTP: JSON under /api/, an HTML page elsewhere."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from engine.errors import (AuthenticationFailed, CalendarError, CaseError, Conflict, Forbidden, InvalidData, NotFound,
                           ProcessDefinitionError, SandboxError, TaskFailed)

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

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _render(500, "internal_error", "服务器内部错误 / internal server error", None)
