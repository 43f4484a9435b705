"""Public case lookup by case code + phone number: status and next step only, nothing personal."""
from __future__ import annotations

import logging

from flask import Blueprint, render_template, request
from flask_babel import gettext
from flask_limiter.errors import RateLimitExceeded

from engine.services import cases
from webui.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("public", __name__)


@bp.errorhandler(RateLimitExceeded)
def too_many_failures(exc: RateLimitExceeded):
    """Too many failed look-ups from this address (webui/rate_limit.py counts them): the form, and no answer."""
    code = (request.values.get("code") or "").strip().upper()
    return render_template("public/lookup.html", code=code, result=None,
                           error=gettext("Too many failed attempts. Please try again in ten minutes.")), 429


@bp.route("/lookup", methods=["GET", "POST"])
def lookup():
    """GET shows the form (the receipt's QR code fills in the case code); POST answers; failed POSTs are
    limited per client address (webui/rate_limit.py)."""
    code = (request.values.get("code") or "").strip().upper()
    if request.method == "GET":
        return render_template("public/lookup.html", code=code, result=None, error=None)
    case = cases.lookup_case(db.session, code, request.form.get("phone") or "")
    if case is None:  # a 404 counts against this address (webui/rate_limit.py)
        log.info("public lookup failed from %s", request.remote_addr)
        return render_template("public/lookup.html", code=code, result=None,
                               error=gettext("No case matches this case code and phone number.")), 404
    next_steps = [t.title for t in cases.open_tasks(db.session, case.id) if t.kind == "bpmn"]
    result = {"code": case.code, "status": case.status, "opened_at": case.opened_at, "closed_at": case.closed_at,
              "outcome": case.outcome, "next_steps": next_steps, "process": case.version.name or case.process_id}
    return render_template("public/lookup.html", code=code, result=result, error=None)
