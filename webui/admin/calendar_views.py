"""/admin/calendar: the years deadlines reach, provisional or confirmed; a year's days by source; the form to
enter a year's State Council notice and the center's closures, previewed (how many deadlines would move) then
confirmed. One engine service call per request (engine/services/calendar_admin.py); administrators change,
auditors read (the engine decides)."""
from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext

from engine.errors import InvalidData
from engine.services import calendar_admin
from webui.admin.views import bp
from webui.auth import current_actor, login_required
from webui.extensions import db
from webui.i18n import localize

_SPLIT = re.compile(r"[\s,，、;；]+")


def _dates(field: str) -> list[str]:
    """A textarea's dates: one per line or separated by commas (Chinese or Latin)."""
    return [d for d in _SPLIT.split(request.form.get(field, "")) if d]


def _form_text(view) -> dict:
    """The form prefilled with what the year has now."""
    if view.notice is not None:
        n = view.notice
        return {"holidays": "\n".join(n.holidays), "workdays": "\n".join(n.workdays),
                "closures": "\n".join(n.closures), "provisional": n.provisional}
    return {"holidays": "", "workdays": "", "closures": "", "provisional": False}


@bp.route("/calendar")
@login_required
def calendar_list():
    actor = current_actor()
    return render_template("admin/calendar.html", years=calendar_admin.years_in_use(db.session, actor),
                           can_change=actor.is_admin)


@bp.route("/calendar/<int:year>", methods=["GET", "POST"])
@login_required
def calendar_year(year: int):
    actor = current_actor()
    view = calendar_admin.year_view(db.session, actor, year)
    form, preview, error = _form_text(view), None, None
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in ("holidays", "workdays", "closures")}
        form["provisional"] = request.form.get("provisional") == "1"
        confirm = request.form.get("confirm") == "1"
        try:
            done = calendar_admin.save_notice(db.session, actor, year, _dates("holidays"), _dates("workdays"),
                                              _dates("closures"), form["provisional"], dry_run=not confirm)
        except InvalidData as exc:
            db.session.rollback()
            error = localize(exc.message)
        else:
            if confirm:
                flash(gettext("The calendar of %(year)s is saved; %(n)s deadlines moved.", year=year,
                              n=done.moved), "ok")
                return redirect(url_for("admin.calendar_year", year=year))
            preview = done
    return render_template("admin/calendar_year.html", view=view, form=form, preview=preview, error=error,
                           can_change=actor.is_admin), 422 if error else 200
