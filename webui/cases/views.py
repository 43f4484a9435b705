"""Intake (受理登记), the case page (diagram, history, links), the printable receipt, the bpmn-js files."""
from __future__ import annotations

import logging
from pathlib import Path

import segno
from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request, send_from_directory,
                   url_for)
from flask_babel import gettext
from markupsafe import Markup

from engine import access
from engine.errors import Forbidden, InvalidData
from engine.messages import msg
from engine.services import attachments, cases, documents, history, incidents, ledger, processes, tasks, timers
from engine.services.cases import start_roles
from webui.auth import current_actor, login_required
from webui.diagram_layout import has_diagram_xml, with_layout
from webui.extensions import current_runtime, db
from webui.i18n import localize
from webui.shell import acting_actor, role_titles, startable_processes
from webui.task_forms import field_errors, fields_by_id, shown_values, submitted_data

log = logging.getLogger(__name__)

bp = Blueprint("cases", __name__)
# Templates mask phone and ID numbers unless a view passes the reader's own `mask` (engine/access.py): a page
# that forgets to decide shows them masked, not whole.
bp.add_app_template_global(access.mask_data, "mask")

VIEWER_FILE = "bpmn-navigated-viewer.production.min.js"


@bp.app_template_filter("file_size")
def file_size(size: int | None) -> str:
    """A file's size for people: 字节 (bytes) below 1 KB, else KB or MB with one decimal."""
    size = int(size or 0)
    if size < 1024:
        return gettext("%(n)s bytes", n=size)
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _bpmn_js_dir() -> Path:
    root = current_app.config.get("JIEFEN_NODE_MODULES") or Path(current_app.root_path).parent / "node_modules"
    return Path(root) / "bpmn-js" / "dist"


def diagram_targets(case, links) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """What the case diagram may drill into: the processes a call activity calls in any version the case ran
    on ({process id: name}), and the linked cases elements marked jiefen.open_case opened ({element id: [{url,
    code}]}: the ones the reader may read, matched by their link kind)."""
    names = {row.process_id: row.name or row.process_id for row in processes.list_processes(db.session)}
    called: dict[str, str] = {}
    opened: dict[str, str] = {}  # element id -> link kind
    for version_id in history.case_versions(db.session, case.id):
        meta = processes.load_version(db.session, version_id).meta
        for pid in meta.get("called_processes") or []:
            called.setdefault(pid, names.get(pid, pid))
        for element, marker in (meta.get("open_case") or {}).items():
            opened.setdefault(element, marker.get("link_kind"))
    linked: dict[str, list[dict]] = {}
    for element, kind in opened.items():
        for other in links.linked_from:
            if other.link_kind == kind:
                linked.setdefault(element, []).append({"url": url_for("cases.case_page", case_id=other.id),
                                                       "code": other.code})
    return called, linked


def _start_form(process_id: str) -> tuple[object, str, str | None, list[dict]]:
    """The newest version of a process, its name, its first user task and that task's form."""
    row = processes.active_version(db.session, process_id)
    version = processes.load_version(db.session, row.id)
    first = next(iter(version.meta.get("first_user_tasks") or []), None)
    form = (version.user_task(first) or {}).get("form", []) if first else []
    return version, row.name or row.process_id, first, form


def _render_intake(process_id: str, status: int = 200, formdata=None, details=None):
    version, name, first, form = _start_form(process_id)
    errors, general = field_errors(details)
    shown = {f.get("id") for f in form} | {f.get("group") for f in form if f.get("group")}
    for key in [k for k in errors if k not in shown]:  # not a field of the form (repeat_of): said at the top
        general += errors.pop(key)
    return render_template("cases/intake.html", version=version, process_name=name, first=first, form=form,
                           title=(version.user_task(first) or {}).get("name") if first else None,
                           values=shown_values(form, None, formdata), errors=errors, general_errors=general), status


@bp.route("/cases/new")
@login_required
def intake_choose():
    startable = startable_processes(current_actor())
    if len(startable) == 1:
        return redirect(url_for("cases.intake", process_id=startable[0].process_id))
    return render_template("cases/intake_choose.html", processes=startable)


@bp.route("/cases/new/<process_id>", methods=["GET", "POST"])
@login_required
def intake(process_id: str):
    """One screen registers a dispute: one engine command opens the case and completes its first task with the
    same data, in one transaction (a failure leaves nothing behind to be opened twice on a resubmit)."""
    actor = current_actor()
    cases.check_may_open(db.session, process_id, actor)  # refused before the form is filled, not after
    if request.method == "GET":
        return _render_intake(process_id)
    version, _name, _first, form = _start_form(process_id)
    data = submitted_data(form, request.form)
    acting = acting_actor(actor)
    org = acting.grants[0].org_code if acting is not actor and acting.grants[0].role in start_roles(version.meta, current_runtime()) \
        else None
    repeat_of = (request.form.get("repeat_of") or "").strip()
    if repeat_of and not (repeat_of.isdigit() and len(repeat_of) < 10):
        raise InvalidData(msg("case.repeat_of_unknown", case_id=repeat_of[:20]),
                          {"repeat_of": [msg("case.repeat_of_unknown", case_id=repeat_of[:20])]})
    case = cases.register_case(db.session, process_id, data, actor, org, int(repeat_of) if repeat_of else None)
    log.info("case %s registered through the intake screen by %s", case.id, actor.username)
    flash(gettext("Case registered. Case code: %(code)s", code=case.code), "ok")
    return redirect(url_for("cases.receipt", case_id=case.id))


@bp.errorhandler(InvalidData)
def intake_rejected(exc: InvalidData):
    from webui.errors import _render

    if request.endpoint != "cases.intake":
        return _render(422, exc.code, exc.message, exc.details, show_message=True)
    db.session.rollback()
    return _render_intake(request.view_args["process_id"], 422, request.form, exc.details)


@bp.route("/cases/<int:case_id>")
@login_required
def case_page(case_id: int):
    actor = current_actor()
    case = cases.get_case(db.session, case_id, actor)
    version = processes.load_version(db.session, case.process_version_id)
    open_tasks = cases.open_tasks(db.session, case.id)
    links = history.case_links(db.session, case_id, actor)
    diagram_called, diagram_linked = diagram_targets(case, links)
    return render_template(
        "cases/case.html", case=case, mask=access.masker(db.session, actor, case),
        events=history.list_events(db.session, case_id, actor),
        open_tasks=open_tasks, actionable={t.id for t in open_tasks if access.can_act(db.session, actor, t)},
        overseen={t.id for t in open_tasks if tasks.may_oversee(db.session, actor, t)},
        completed=history.completed_elements(db.session, case_id, actor),
        links=links, diagram_called=diagram_called, diagram_linked=diagram_linked,
        pending=timers.pending_timers(db.session, case_id, open_tasks),
        incidents=incidents.case_incidents(db.session, case_id),
        fields=fields_by_id(version.meta), meta=version.meta, role_titles=role_titles(), now=current_runtime().clock.now(),
        open_elements=sorted({t.spec_name for t in open_tasks if t.kind == "bpmn"}),
        viewer_available=(_bpmn_js_dir() / VIEWER_FILE).is_file(), viewer_file=VIEWER_FILE,
        auto_layout=not has_diagram_xml(case.version.xml),
        attachments=attachments.list_attachments(db.session, case_id, actor),
        may_upload=attachments.may_upload(db.session, actor, case), attachment_types=attachments.TYPE_NAMES,
        attachment_kinds="、".join(v for v in attachments.TYPE_NAMES.values() if v != "TXT"),
        attachment_max_mb=current_runtime().settings.attachment_max_bytes // (1024 * 1024),
        documents=documents.list_documents(db.session, case_id, actor), document_kinds=documents.kinds_for(case.process_id),
        may_issue=documents.may_issue(db.session, actor, case),
        may_download=documents.may_download(db.session, actor, case),
        same_party=ledger.same_party(db.session, actor, case.party_phone, case.id))


@bp.route("/cases/same-party")
@login_required
def same_party_fragment():
    """The intake form's check of the party's phone (static/js/same_party.js): the same party's other cases, as
    the case page lists them (an empty answer when there are none or the phone is too short)."""
    found = ledger.same_party(db.session, current_actor(), (request.args.get("phone") or "")[:40])
    return render_template("cases/_same_party.html", found=found)


@bp.route("/cases/<int:case_id>/documents", methods=["POST"])
@login_required
def issue_document(case_id: int):
    """The case page's 文书 form: one document issued as one engine command; a refusal (the fields the case
    lacks, named) is shown on the case page."""
    try:
        row = documents.issue_document(db.session, case_id, request.form.get("kind") or "", current_actor())
    except (InvalidData, Forbidden) as exc:
        db.session.rollback()
        flash(localize(exc.message), "error")
        return redirect(url_for("cases.case_page", case_id=case_id) + "#documents")
    flash(gettext("Document issued: %(title)s, version %(n)s", title=row.title, n=row.version), "ok")
    return redirect(url_for("cases.case_page", case_id=case_id) + "#documents")


@bp.route("/documents/<int:document_id>.<any(pdf, html):form>")
@login_required
def document_file(document_id: int, form: str):
    from webui.api.views import document_response

    return document_response(documents.download(db.session, document_id, current_actor(), form))


@bp.route("/cases/<int:case_id>/attachments", methods=["POST"])
@login_required
def add_attachment(case_id: int):
    """The case page's upload form: one file, one engine command; a refusal is shown on the case page."""
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise InvalidData(msg("attachment.file_required"), {"file": [msg("attachment.file_required")]})
        try:
            data = upload.read()
        finally:
            upload.close()  # a large upload is a temporary file: closed once read
        row = attachments.add_attachment(db.session, case_id, upload.filename, data, current_actor(),
                                         request.form.get("task_id") or None)
    except (InvalidData, Forbidden) as exc:
        db.session.rollback()
        flash(localize(exc.message), "error")
        return redirect(url_for("cases.case_page", case_id=case_id) + "#attachments")
    flash(gettext("File uploaded: %(name)s", name=row.name), "ok")
    return redirect(url_for("cases.case_page", case_id=case_id) + "#attachments")


@bp.route("/attachments/<int:attachment_id>")
@login_required
def download_attachment(attachment_id: int):
    from webui.api.views import attachment_response

    return attachment_response(attachments.download(db.session, attachment_id, current_actor()))


@bp.route("/cases/<int:case_id>/diagram.bpmn")
@login_required
def diagram(case_id: int):
    """The BPMN XML to draw: the case's version, or (?version=<id>) one its history ran on before a migration,
    or (?process=<id>) the process a call activity calls, as that version embeds it (drill-down)."""
    version = request.args.get("version", "")
    if version and not version.isdigit():
        raise InvalidData(msg("form.invalid"), {"version": [msg("field.at_least", min=1)]})
    row = history.case_diagram(db.session, case_id, current_actor(), int(version) if version else None,
                               request.args.get("process") or None)
    xml, _generated = with_layout(row.xml)
    return Response(xml, mimetype="application/xml",
                    headers={"Cache-Control": "private, max-age=3600"})


@bp.route("/cases/<int:case_id>/receipt")
@login_required
def receipt(case_id: int):
    actor = current_actor()
    case = cases.get_case(db.session, case_id, actor, "receipt")
    base = current_app.config.get("JIEFEN_PUBLIC_BASE_URL")
    path = url_for("public.lookup", code=case.code)
    lookup_url = base.rstrip("/") + path if base else url_for("public.lookup", code=case.code, _external=True)
    qr = segno.make(lookup_url, error="m")
    return render_template("cases/receipt.html", case=case, lookup_url=lookup_url,
                           mask=access.masker(db.session, actor, case),
                           qr_svg=Markup(qr.svg_inline(scale=4, title=case.code)))


@bp.route("/vendor/bpmn-js/<path:filename>")
def bpmn_js(filename: str):
    """bpmn-js from the npm package in node_modules/ (installed by the setup command, never committed)."""
    return send_from_directory(_bpmn_js_dir(), filename, max_age=86400)
