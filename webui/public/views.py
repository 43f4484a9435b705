"""Public case lookup by case code + phone number: the stage, the handling unit and its phone, nothing personal;
after closure the party rates the handling once (满意 / 基本满意 / 不满意)."""
from __future__ import annotations

import logging

from flask import Blueprint, render_template, request
from flask_babel import gettext
from flask_limiter.errors import RateLimitExceeded

from engine.errors import Conflict, InvalidData, NotFound
from engine.services import cases
from webui.extensions import db
from webui.i18n import localize, localize_details

log = logging.getLogger(__name__)

bp = Blueprint("public", __name__)


def _code() -> str:
    return cases.normalise_code(request.values.get("code"))


def _page(status: int = 200, view=None, error: str | None = None, phone: str = "", rating_errors=None,
          rated: bool = False):
    code = _code()
    return render_template("public/lookup.html", code=code, result=view, error=error, phone=phone,
                           stages=cases.PUBLIC_STAGES, ratings=cases.PARTY_RATINGS, rating_errors=rating_errors or {},
                           rated=rated, code_keyboard="text" if code.endswith("X") else "numeric"), status


@bp.errorhandler(RateLimitExceeded)
def too_many_failures(exc: RateLimitExceeded):
    """Too many failed look-ups from this address (webui/rate_limit.py counts them): the form, and no answer."""
    return _page(429, error=gettext("Too many failed attempts. Please try again in ten minutes."))


@bp.route("/lookup", methods=["GET", "POST"])
def lookup():
    """GET shows the form (the receipt's QR code fills in the case code); POST answers; failed POSTs are
    limited per client address (webui/rate_limit.py)."""
    if request.method == "GET":
        return _page()
    phone = request.form.get("phone") or ""
    case = cases.lookup_case(db.session, _code(), phone)
    if case is None:  # a 404 counts against this address (webui/rate_limit.py)
        log.info("public lookup failed from %s", request.remote_addr)
        return _page(404, error=gettext("No case matches this case code and phone number."))
    return _page(view=cases.public_view(db.session, case), phone=phone)


@bp.route("/lookup/rate", methods=["POST"])
def rate():
    """The party's rating of a closed case, with the look-up's proof (code + phone); failures count against the
    same limit as failed look-ups (webui/rate_limit.py)."""
    phone = request.form.get("phone") or ""
    case = cases.rate_case(db.session, _code(), phone, request.form.get("rating") or "",
                           request.form.get("comment"))
    return _page(view=cases.public_view(db.session, case), phone=phone, rated=True)


@bp.errorhandler(NotFound)
def rating_no_match(exc: NotFound):
    db.session.rollback()
    log.info("public rating without a match from %s", request.remote_addr)
    return _page(404, error=gettext("No case matches this case code and phone number."))


@bp.errorhandler(Conflict)
@bp.errorhandler(InvalidData)
def rating_refused(exc: Conflict | InvalidData):
    """Not closed yet, rated already, no rating chosen: the case's answer again, with the reason."""
    db.session.rollback()
    phone = request.form.get("phone") or ""
    case = cases.lookup_case(db.session, _code(), phone)
    view = cases.public_view(db.session, case) if case is not None else None
    problems = localize_details(exc.details or {}) if isinstance(exc, InvalidData) else {}
    return _page(409 if isinstance(exc, Conflict) else 422, view=view, phone=phone, error=localize(exc.message),
                 rating_errors=problems)
