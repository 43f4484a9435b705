"""台账 (the case ledger): the filtered, paged list of the cases the user may read, and its export."""
from __future__ import annotations

import math
from datetime import date

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_babel import gettext

from engine.errors import InvalidData
from engine.messages import msg
from engine.services import ledger, processes
from webui import labels
from webui.auth import current_actor, login_required
from webui.extensions import current_runtime, db
from webui.ledger import export
from webui.shell import acting_actor
from webui.task_forms import fields_by_id

bp = Blueprint("ledger", __name__)

PER_PAGE = 20
TEXT_FILTERS = ("q", "process_id", "status", "outcome", "category", "channel", "tier", "org_unit")
DATE_FILTERS = ("opened_from", "opened_to", "closed_from", "closed_to")
FLAGS = ("include_sub", "overdue", "high_risk")


def filters_from(args) -> ledger.LedgerFilters:
    """The ledger's filters from a query string (the form's names are the API's). Raises InvalidData naming
    a date that is not YYYY-MM-DD."""
    values: dict = {name: (args.get(name) or "").strip() or None for name in TEXT_FILTERS}
    for name in DATE_FILTERS:
        text = (args.get(name) or "").strip()
        try:
            values[name] = date.fromisoformat(text) if text else None
        except ValueError:
            raise InvalidData(msg("form.invalid"), {name: [gettext("Enter a date as YYYY-MM-DD.")]}) from None
    for name in FLAGS:
        values[name] = args.get(name) in ("1", "true", "on")
    sort = args.get("sort") or "-opened"
    values["sort"] = sort if sort in ledger.SORTS else "-opened"
    return ledger.LedgerFilters(**values)


def categories() -> dict[str, str]:
    """Every dispute category the deployed processes' forms offer: id -> the label staff read."""
    out: dict[str, str] = {}
    for row in processes.list_processes(db.session):
        for value, name in (fields_by_id(row.meta).get("category") or {}).get("enum") or []:
            out.setdefault(value, name)
    return out


def export_labels() -> dict:
    return {"category": categories(), "channel": {k: str(v) for k, v in labels.CHANNELS.items()},
            "tier": {k: str(v) for k, v in labels.TIERS.items()}}


def export_response(actor, filters: ledger.LedgerFilters, fmt: str) -> Response:
    """The filtered ledger as a CSV or XLSX download, streamed (rows are read in chunks as they are written)."""
    now = current_runtime().clock.now()
    rows = ledger.export_rows(db.session, actor, filters, now)  # raises InvalidData before any byte is sent
    names = export_labels()
    stamp = now.strftime("%Y%m%d")
    headers = {"Content-Disposition": f"attachment; filename=\"ledger-{stamp}.{fmt}\"; "
                                      f"filename*=UTF-8''%E5%8F%B0%E8%B4%A6-{stamp}.{fmt}"}
    if fmt == "xlsx":
        body = export.file_chunks(export.xlsx_file(rows, now, names))
    else:
        body = stream_with_context(export.csv_chunks(rows, now, names))
    return Response(body, mimetype=export.MEDIA_TYPES[fmt].split(";")[0], headers=headers)


def _page() -> int:
    try:
        return max(int(request.args.get("page", "1")), 1)
    except ValueError:
        return 1


@bp.route("/cases")
@login_required
def ledger_page():
    actor = acting_actor(current_actor())
    filters, page = filters_from(request.args), _page()
    result = ledger.list_cases(db.session, actor, filters, page=page, per_page=PER_PAGE)
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("ledger/list.html", filters=filters, result=result, page=page,
                           pages=max(math.ceil(result.total / PER_PAGE), 1), query=query,
                           total_label=f"{result.total}+" if result.more else str(result.total),
                           processes=processes.list_processes(db.session), categories=categories(),
                           units=ledger.org_unit_choices(db.session, actor), now=current_runtime().clock.now(),
                           sorts=ledger.SORTS)


@bp.route("/cases/export")
@login_required
def ledger_export():
    fmt = request.args.get("format", "xlsx")
    return export_response(acting_actor(current_actor()), filters_from(request.args),
                           fmt if fmt in export.MEDIA_TYPES else "xlsx")
