"""Public case lookup by case code + phone number: status and next step only, nothing personal."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext

from engine.services import cases
from webui.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("public", __name__)

_WINDOW_SECONDS = 600


def _failures() -> tuple[dict, threading.Lock]:
    """Failed lookups per client address (this process only; a proxy in front can limit harder)."""
    state = current_app.extensions.setdefault("jiefen_lookup_failures", ({}, threading.Lock()))
    return state


def _too_many(addr: str) -> bool:
    limit = int(current_app.config.get("JIEFEN_LOOKUP_MAX_FAILURES", 10))
    failures, lock = _failures()
    now = time.monotonic()
    with lock:
        recent = failures.get(addr)
        while recent and now - recent[0] > _WINDOW_SECONDS:
            recent.popleft()
        return bool(recent) and len(recent) >= limit


def _record_failure(addr: str) -> None:
    failures, lock = _failures()
    with lock:
        failures.setdefault(addr, deque()).append(time.monotonic())


@bp.route("/lookup", methods=["GET", "POST"])
def lookup():
    """GET shows the form (the receipt's QR code fills in the case code); POST answers."""
    code = (request.values.get("code") or "").strip().upper()
    if request.method == "GET":
        return render_template("public/lookup.html", code=code, result=None, error=None)
    addr = request.remote_addr or "?"
    if _too_many(addr):
        return render_template("public/lookup.html", code=code, result=None,
                               error=gettext("Too many failed attempts. Please try again in ten minutes.")), 429
    case = cases.lookup_case(db.session, code, request.form.get("phone") or "")
    if case is None:
        _record_failure(addr)
        log.info("public lookup failed from %s", addr)
        return render_template("public/lookup.html", code=code, result=None,
                               error=gettext("No case matches this case code and phone number.")), 404
    next_steps = [t.title for t in cases.open_tasks(db.session, case.id) if t.kind == "bpmn"]
    result = {"code": case.code, "status": case.status, "opened_at": case.opened_at, "closed_at": case.closed_at,
              "outcome": case.outcome, "next_steps": next_steps, "process": case.version.name or case.process_id}
    return render_template("public/lookup.html", code=code, result=result, error=None)
