"""/admin/access-log: the read log (查阅留痕) — who viewed or exported which case when — filtered by who, case, what
and period, paged, exported as CSV. Administrators and auditors (engine.services.audit)."""
from __future__ import annotations

import math
from datetime import date

from flask import Response, render_template, request, stream_with_context
from flask_babel import gettext

from engine.errors import InvalidData
from engine.messages import msg
from engine.services import audit
from webui.admin.files import day_bounds
from webui.admin.views import bp
from webui.audit import export
from webui.auth import current_actor, login_required
from webui.extensions import current_runtime, db
from webui.shell import display_names

PER_PAGE = 50
FIELDS = ("user", "case", "what", "since", "until")


def _day(args, name: str) -> date | None:
    text = (args.get(name) or "").strip()
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise InvalidData(msg("form.invalid"), {name: [gettext("Enter a date as YYYY-MM-DD.")]}) from None


def access_filter(args) -> tuple[dict, audit.AccessFilter]:
    """The read log's filters from a query string (the page's names are the API's). Raises InvalidData."""
    query = {k: (args.get(k) or "").strip() for k in FIELDS}
    since, until = day_bounds(_day(args, "since"), _day(args, "until"))
    return ({k: v for k, v in query.items() if v},
            audit.AccessFilter(user=query["user"] or None, case=query["case"] or None, what=query["what"] or None,
                               since=since, until=until))


def _page() -> int:
    try:
        return max(int(request.args.get("page", "1")), 1)
    except ValueError:
        return 1


@bp.route("/access-log")
@login_required
def access_log():
    query, flt = access_filter(request.args)
    result = audit.list_reads(db.session, current_actor(), flt, _page(), PER_PAGE)
    return render_template("admin/access_log.html", result=result, query=query, page=result.page,
                           pages=max(math.ceil(result.total / PER_PAGE), 1), kinds=export.READ_KINDS,
                           bases=export.READ_BASES,
                           total_label=f"{result.total}+" if result.more else str(result.total))


@bp.route("/access-log/export.csv")
@login_required
def access_log_export():
    _query, flt = access_filter(request.args)
    rows = audit.export_reads(db.session, current_actor(), flt)  # Forbidden, InvalidData before any byte
    return access_csv_response(rows)


def access_csv_response(rows) -> Response:
    stamp = current_runtime().clock.now().strftime("%Y%m%d")
    return Response(stream_with_context(export.read_csv(rows, display_names())), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=\"access-log-{stamp}.csv\"; "
                                                    f"filename*=UTF-8''%E6%9F%A5%E9%98%85%E7%95%99%E7%97%95-{stamp}.csv"})
