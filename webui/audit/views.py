"""/audit: the auditor's workspace — cases searched as the ledger searches them (each opening its replay) and the
history records of every case searched by kind, who, period and case, exported as CSV.

/audit/cases/<id>: the case's verification said plainly (the first broken link named) and its history replayed
step by step — at each event the diagram's completed and waiting elements, the data as it then was (labelled
from the forms, what changed marked), who acted and when. One engine call (history.audit_replay); the page's
script (static/js/audit/replay.js) reads the steps from a JSON block and draws them with bpmn-js."""
from __future__ import annotations

import math
from datetime import date

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_babel import gettext
from markupsafe import Markup

from engine import access, pdf
from engine.errors import Forbidden, InvalidData
from engine.messages import msg
from engine.services import audit, cases, history, ledger, processes
from webui import labels
from webui.admin.files import day_bounds
from webui.audit import export
from webui.auth import current_actor, login_required
from webui.cases.views import VIEWER_FILE, _bpmn_js_dir, diagram_targets
from webui.diagram_layout import has_diagram_xml
from webui.extensions import current_runtime, db
from webui.i18n import html_lang, local_dt
from webui.ledger.views import filters_from
from webui.shell import display_names, person
from webui.task_forms import display_value, fields_by_id, labelled_changes

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 20
EVENT_FIELDS = ("kind", "actor", "case", "since", "until")


def _page_arg() -> int:
    try:
        return max(int(request.args.get("page", "1")), 1)
    except ValueError:
        return 1


def _day(args, name: str) -> date | None:
    text = (args.get(name) or "").strip()
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise InvalidData(msg("form.invalid"), {name: [gettext("Enter a date as YYYY-MM-DD.")]}) from None


def event_filter(args) -> tuple[dict, audit.EventFilter]:
    """The event search's filters from a query string (the page's names are the API's): the query to keep in
    links, and the filter. Raises InvalidData naming a date that is not YYYY-MM-DD."""
    query = {k: (args.get(k) or "").strip() for k in EVENT_FIELDS}
    since, until = day_bounds(_day(args, "since"), _day(args, "until"))
    return ({k: v for k, v in query.items() if v},
            audit.EventFilter(kind=query["kind"] or None, actor=query["actor"] or None, case=query["case"] or None,
                              since=since, until=until))


def _may_audit(actor) -> None:
    if not (actor.is_auditor or actor.is_admin):
        raise Forbidden(msg("audit.search_forbidden"))


@bp.route("")
@login_required
def workspace():
    """The auditor's landing page: find a case (tab "cases") or the records of every case (tab "events")."""
    actor = current_actor()
    _may_audit(actor)
    tab = "events" if request.args.get("tab") == "events" else "cases"
    page = _page_arg()
    context: dict = {"tab": tab, "page": page, "processes": processes.list_processes(db.session),
                     "event_kinds": labels.EVENTS}
    if tab == "events":
        query, flt = event_filter(request.args)
        result = audit.search_events(db.session, actor, flt, page, PER_PAGE)
        context.update(query=query, result=result, names=display_names())
    else:
        filters = filters_from(request.args)
        result = ledger.list_cases(db.session, actor, filters, page=page, per_page=PER_PAGE)
        context.update(filters=filters, result=result, units=ledger.org_unit_choices(db.session, actor),
                       query={k: v for k, v in request.args.items() if k not in ("page", "tab") and v})
    context.update(pages=max(math.ceil(result.total / PER_PAGE), 1),
                   total_label=f"{result.total}+" if result.more else str(result.total))
    return render_template("audit/workspace.html", **context)


@bp.route("/events.csv")
@login_required
def events_export():
    """The event search as a CSV download, streamed, oldest first."""
    actor = current_actor()
    _may_audit(actor)
    _query, flt = event_filter(request.args)
    return events_csv_response(audit.export_events(db.session, actor, flt))  # InvalidData before any byte


def events_csv_response(rows) -> Response:
    stamp = current_runtime().clock.now().strftime("%Y%m%d")
    return Response(stream_with_context(export.event_csv(rows, display_names())), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=\"events-{stamp}.csv\"; "
                                                    f"filename*=UTF-8''%E5%8A%9E%E7%90%86%E8%AE%B0%E5%BD%95-{stamp}.csv"})


def _rows(meta: dict, data: dict, before: dict | None) -> list[dict]:
    """The case data as staff read it: labelled fields only (form fields, then declared labels), in form order,
    each with whether this step changed it."""
    fields = fields_by_id(meta)
    for key, spec in (meta.get("data_labels") or {}).items():  # script-set data the process labels, after the forms
        fields.setdefault(key, spec)
    rows = []
    for key, spec in fields.items():
        if key not in data or data[key] in (None, "", []):
            continue
        changed = before is not None and before.get(key) != data[key]
        rows.append({"label": spec.get("label") or key, "value": display_value(spec, data[key]), "changed": changed})
    return rows


@bp.route("/cases/<int:case_id>")
@login_required
def case_audit(case_id: int):
    actor = current_actor()
    replay = history.audit_replay(db.session, case_id, actor)  # auditors and administrators; recorded
    case = cases.get_case(db.session, case_id, actor, None)
    version = processes.load_version(db.session, case.process_version_id)
    events = history.list_events(db.session, case_id, actor, None)
    mask = access.masker(db.session, actor, case)
    names = display_names()
    steps, before = [], None
    for event, step in zip(events, replay.steps):
        data = mask(step.data)
        steps.append({"seq": event.seq, "at": local_dt(event.at), "who": labels.actor_name(event.actor, names),
                      "what": str(labels.EVENTS.get(event.type, event.type)), "task": event.task_name or "",
                      "completed": [e for e in step.completed if e not in step.active], "active": step.active,
                      "version": step.version_id,
                      "rows": _rows(version.meta, data, before)})
        before = data
    diagram_called, diagram_linked = diagram_targets(case, history.case_links(db.session, case_id, actor, None))
    return render_template("audit/case.html", case=case, verification=replay.verification, steps=steps,
                           diagram_called=diagram_called, diagram_linked=diagram_linked,
                           viewer_available=(_bpmn_js_dir() / VIEWER_FILE).is_file(), viewer_file=VIEWER_FILE,
                           auto_layout=not has_diagram_xml(case.version.xml), person=person)


def _event_lines(meta: dict, event, mask) -> list[str]:
    """What one history record says, for the dossier: the data it changed (labelled), or the file or document
    it recorded with its SHA-256."""
    payload = mask(event.payload or {})
    if event.type == "document_issued":
        return [gettext("%(title)s, version %(n)s, SHA-256 %(sha)s", title=payload.get("title", ""),
                        n=payload.get("version", ""), sha=payload.get("sha256", ""))]
    if event.type == "attachment_added":
        return [f"{payload.get('name', '')}，SHA-256 {payload.get('sha256', '')}"]
    command = payload.get("command") or {}
    submitted = command.get("data") or {} if event.type == "case_started" else None
    return [f"{label}：{after}" for label, _before, after in
            labelled_changes(meta, payload.get("changes"), command.get("spec_name"), submitted)]


def dossier_response(case_id: int) -> Response:
    """The case's dossier as a PDF download (history.case_dossier records the export)."""
    actor = current_actor()
    dossier = history.case_dossier(db.session, case_id, actor)
    case = dossier.case
    version = processes.load_version(db.session, case.process_version_id)
    mask = access.masker(db.session, actor, case)
    names = display_names()
    for event in dossier.events:
        event.lines = _event_lines(version.meta, event, mask)
    html = render_template(
        "audit/dossier.html", case=case, verification=dossier.verification, events=dossier.events,
        documents=dossier.documents, attachments=dossier.attachments, status=labels.STATUS.get(case.status, case.status),
        data_rows=_rows(version.meta, mask(case.data or {}), None), now=current_runtime().clock.now(),
        exported_by=labels.actor_name(actor.username, names), who=lambda u: labels.actor_name(u, names),
        event_name=lambda e: str(labels.EVENTS.get(e.type, e.type)), qr=Markup(pdf.qr_svg(case.code)),
        lang=html_lang())
    response = Response(pdf.html_to_pdf(html), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename=\"dossier-{case.code}.pdf\""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/cases/<int:case_id>/dossier.pdf")
@login_required
def dossier(case_id: int):
    return dossier_response(case_id)
