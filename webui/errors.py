"""The one table that maps engine exceptions to HTTP: JSON under /api/, an HTML page elsewhere."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
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


def _render(status: int, error: str, message: str, details=None):
    from webui.extensions import db

    db.session.rollback()
    if wants_json():
        return jsonify({"error": error, "message": message, "details": details}), status
    return render_template("errors/error.html", status=status, error=error, message=message, details=details), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CaseError)
    def handle_case_error(exc: CaseError):
        return _render(status_of(exc), exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        details = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
        return _render(exc.code or 500, code, exc.description or exc.name, details)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _render(500, "internal_error", "服务器内部错误 / internal server error", None)
