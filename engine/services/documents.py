"""Documents issued from a case (调解协议书, 告知书, 意见书, 督办单 …): issue, list, download.

Issuing is a case command: one transaction renders the kind's template (engine/documents.py) with the case as it
stands, prints it to PDF (engine/pdf.py), stores the PDF and its print HTML in the file store (content-addressed,
like attachments), writes the documents row and a `document_issued` event carrying both SHA-256 in the case's
chain. An issued document never changes: later edits of the case change only documents issued after them, and
a re-issue is the next version of its kind, the earlier ones kept. Verify checks the stored files
(engine/file_store.check_case_files).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from jinja2 import TemplateError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import access, case_store, chain, documents, pdf, runtime
from engine.actors import Actor
from engine.errors import Forbidden, InvalidData, NotFound
from engine.file_store import read_verified, store_of
from engine.messages import msg
from engine.models import DocumentModel
from engine.versions import load_version

log = logging.getLogger(__name__)


def kinds_for(process_id: str) -> dict[str, str]:
    """The kinds of document a case of the process may issue: kind -> title, in the order they are listed."""
    return {kind_id: kind.title for kind_id, kind in documents.KINDS.items() if documents.is_for(kind, process_id)}


def may_issue(session: Session, actor: Actor, case) -> bool:
    """Who issues a case's documents: those handling it — the process's role at its unit, whoever holds one of its
    open tasks or acted on it before (the mediator who signed the agreement, once the case moved on). Readers by
    a read-all or supervisory grant (auditors, directors) do not."""
    return access.handles(session, actor, case)


def may_download(session: Session, actor: Actor, case) -> bool:
    """Who downloads an issued document: those handling the case and auditors (download)."""
    return actor.is_auditor or access.handles(session, actor, case)


def issue_document(session: Session, case_id: int, kind_id: str, actor: Actor) -> DocumentModel:
    """Issue a document of `kind_id` from the case as it stands. Commits.

    Raises NotFound, Forbidden (only those handling the case issue: may_issue), InvalidData (an unknown kind, a kind
    not for this case's process, required fields the case lacks — named by their labels — or a template file
    that does not render), Unavailable (the PDF engine cannot run on this machine: HTTP 503)."""
    rt = runtime.of(session)
    kind = documents.KINDS.get(kind_id)
    if kind is None:
        raise InvalidData(msg("document.kind_unknown", kind=kind_id, kinds=", ".join(documents.KINDS)),
                          {"kind": [msg("document.kind_unknown", kind=kind_id, kinds=", ".join(documents.KINDS))]})
    case = case_store.lock_case(session, case_id)
    access.ensure_can_read(session, actor, case)
    if not may_issue(session, actor, case):
        raise Forbidden(msg("document.forbidden"))
    if not documents.is_for(kind, case.process_id):
        raise InvalidData(msg("document.kind_not_for_case", title=kind.title),
                          {"kind": [msg("document.kind_not_for_case", title=kind.title)]})
    version_row = load_version(session, case.process_version_id)
    data = case.data or {}
    lacking = documents.missing(kind, data, version_row.meta)
    if lacking:
        named = "、".join(lacking.values())
        raise InvalidData(msg("document.fields_missing", title=kind.title, fields=named),
                          {key: [msg("document.field_missing", field=label)] for key, label in lacking.items()})
    number = (session.scalar(select(func.max(DocumentModel.version)).where(
        DocumentModel.case_id == case.id, DocumentModel.kind == kind_id)) or 0) + 1
    now = rt.clock.now()
    try:
        html = documents.render_html(kind_id, case, data, version_row.meta, folder=rt.settings.documents_dir,
                                     issued_at=now, issued_by=actor.display_name or actor.username, version=number)
    except TemplateError as exc:
        problem = documents.template_problem(kind_id, rt.settings.documents_dir) or str(exc)
        log.warning("document template %s does not render: %s", kind_id, problem)
        raise InvalidData(msg("document.template_broken", problem=problem),
                          {"kind": [msg("document.template_broken", problem=problem)]}) from exc
    pdf_bytes = pdf.html_to_pdf(html)  # Unavailable (503) without WeasyPrint / Pango: nothing stored
    html_bytes = html.encode("utf-8")
    store = store_of(session)
    digest, html_digest = store.put(pdf_bytes), store.put(html_bytes)
    row = DocumentModel(case_id=case.id, kind=kind_id, version=number, title=kind.title, sha256=digest,
                        size=len(pdf_bytes), html_sha256=html_digest, html_size=len(html_bytes),
                        issued_by=actor.username, issued_at=now, event_seq=case.event_seq + 1)
    session.add(row)
    session.flush()
    chain.append_event(session, case, "document_issued", actor.username, now,
                       {"document_id": row.id, "kind": kind_id, "title": kind.title, "version": number,
                        "sha256": digest, "size": row.size, "html_sha256": html_digest})
    session.commit()
    log.info("document %s (%s v%d, %d bytes) issued from case %s by %s", row.id, kind_id, number, row.size,
             case.id, actor.username)
    return row


def list_documents(session: Session, case_id: int, actor: Actor) -> list[DocumentModel]:
    """The case's issued documents in issue order, for whoever may read the case. Raises NotFound, Forbidden."""
    access.readable_case(session, actor, case_id, "documents")
    return list(session.scalars(select(DocumentModel).where(DocumentModel.case_id == case_id)
                                .order_by(DocumentModel.id)))


@dataclass
class DocumentFile:
    document: DocumentModel
    data: bytes
    content_type: str


def download(session: Session, document_id: int, actor: Actor, form: str = "pdf") -> DocumentFile:
    """An issued document's PDF (form "pdf") or print HTML ("html"), as issued, for those handling its case and
    auditors (others who may read the case see its list only);
    the bytes are checked against the recorded hash (a changed or missing file is refused, never served).
    Raises NotFound, Forbidden."""
    row = session.get(DocumentModel, document_id)
    if row is None:
        raise NotFound(msg("document.not_found", document_id=document_id))
    case = access.readable_case(session, actor, row.case_id, "document")
    # The PDF holds what the law puts on it — phone and ID numbers whole — which readers who see them masked on
    # screen (supervisors, directors, administrators) must not get around the mask by downloading.
    if not may_download(session, actor, case):
        raise Forbidden(msg("document.download_forbidden"))
    digest = row.sha256 if form == "pdf" else row.html_sha256
    data = read_verified(session, digest)
    if data is None:
        raise NotFound(msg("document.file_missing", document_id=document_id))
    return DocumentFile(row, data, "application/pdf" if form == "pdf" else "text/html; charset=utf-8")
