"""Attachments: files (evidence, signed agreements, recordings) added to a case or one of its tasks.

Adding one is a case command: one transaction writes the attachments row and an `attachment_added` event in the
case's chain (sha256, size, type, uploader, task). The bytes go to the file store first (engine/file_store.py,
content-addressed); a refused file (kind by content, size, count, who) is refused before anything is written.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import access, case_data, case_store, chain, runtime
from engine.actors import Actor
from engine.errors import Forbidden, InvalidData, NotFound
from engine.file_store import read_verified, sniff, store_of
from engine.messages import msg
from engine.models import AttachmentModel, CaseModel, TaskModel

log = logging.getLogger(__name__)

NAME_MAX = 200
TYPE_NAMES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "audio/mpeg": "MP3",
              "audio/wav": "WAV", "audio/mp4": "M4A", "text/plain": "TXT"}


def plain_name(given: str | None) -> str:
    """The file's base name as stored: no folders (either slash), no control or bidi-override characters, at
    most NAME_MAX characters; "附件" when nothing is left."""
    name = (given or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not case_data.bad_character(ch)).strip().lstrip(".")
    return name[:NAME_MAX] or "附件"


def may_upload(session: Session, actor: Actor, case: CaseModel, task: TaskModel | None = None) -> bool:
    """Who may add a file: on a task, those who may act on it; on the case, its handling roles (the process's
    role at the case's unit) and whoever holds one of its open tasks."""
    if task is not None:
        return access.can_act(session, actor, task)
    return access.acts_on_case(session, actor, case)


def add_attachment(session: Session, case_id: int, name: str | None, data: bytes, actor: Actor,
                   task_id: str | None = None) -> AttachmentModel:
    """Attach a file to the case (and the task, if given). Commits.

    Raises NotFound (case, or a task not open on this case), Forbidden, InvalidData (empty, too large, a kind not
    allowed, too many files on the case)."""
    settings = runtime.of(session).settings
    case = case_store.lock_case(session, case_id)
    access.ensure_can_read(session, actor, case)
    task = None
    if task_id:
        task = session.get(TaskModel, task_id)
        if task is None or task.case_id != case.id:
            raise NotFound(msg("attachment.task_not_open", task_id=task_id))
    if not may_upload(session, actor, case, task):
        raise Forbidden(msg("attachment.forbidden"))
    if not data:
        raise InvalidData(msg("attachment.empty"), {"file": [msg("attachment.empty")]})
    if len(data) > settings.attachment_max_bytes:
        limit = f"{settings.attachment_max_bytes / 1024 / 1024:.0f} MB"
        raise InvalidData(msg("attachment.too_large", max=limit), {"file": [msg("attachment.too_large", max=limit)]})
    content_type = sniff(data)
    if content_type is None:
        raise InvalidData(msg("attachment.type_refused"), {"file": [msg("attachment.type_refused")]})
    count = session.scalar(select(func.count()).select_from(AttachmentModel).where(AttachmentModel.case_id == case.id))
    if count >= settings.attachments_per_case:
        raise InvalidData(msg("attachment.too_many", max=settings.attachments_per_case),
                          {"file": [msg("attachment.too_many", max=settings.attachments_per_case)]})
    digest = store_of(session).put(data)
    now = runtime.of(session).clock.now()
    row = AttachmentModel(case_id=case.id, task_id=task.id if task else None, name=plain_name(name),
                          content_type=content_type, size=len(data), sha256=digest, uploaded_by=actor.username,
                          uploaded_at=now, event_seq=case.event_seq + 1)
    session.add(row)
    session.flush()
    chain.append_event(session, case, "attachment_added", actor.username, now,
                       {"attachment_id": row.id, "name": row.name, "sha256": digest, "size": row.size,
                        "type": content_type, "task_id": row.task_id},
                       task.id if task else None, task.title if task else None)
    session.commit()
    log.info("attachment %s (%s, %d bytes) added to case %s by %s", row.id, content_type, row.size, case.id,
             actor.username)
    return row


def list_attachments(session: Session, case_id: int, actor: Actor, task_id: str | None = None) -> list[AttachmentModel]:
    """The case's files in upload order (with task_id: those added on that task), for whoever may read the case.
    Raises NotFound, Forbidden."""
    access.readable_case(session, actor, case_id, "attachments")
    stmt = select(AttachmentModel).where(AttachmentModel.case_id == case_id)
    if task_id is not None:
        stmt = stmt.where(AttachmentModel.task_id == task_id)
    return list(session.scalars(stmt.order_by(AttachmentModel.id)))


@dataclass
class Download:
    attachment: AttachmentModel
    data: bytes


def download(session: Session, attachment_id: int, actor: Actor) -> Download:
    """A file's record and bytes, for whoever may read its case; the bytes are checked against the recorded hash
    (a changed or missing file is refused, never served). Raises NotFound, Forbidden."""
    row = session.get(AttachmentModel, attachment_id)
    if row is None:
        raise NotFound(msg("attachment.not_found", attachment_id=attachment_id))
    access.readable_case(session, actor, row.case_id, "attachment")
    data = read_verified(session, row.sha256)
    if data is None:
        raise NotFound(msg("attachment.file_missing", attachment_id=attachment_id))
    return Download(row, data)
