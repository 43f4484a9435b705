"""Where attachments' and documents' bytes live, content-addressed by SHA-256 (engine/services/attachments.py,
documents.py): a local directory (the default) or an S3-compatible bucket (EngineSettings.files_store = "s3").

A file is kept at <root>/<first two hex digits>/<sha256> (in a bucket: <prefix><first two>/<sha256>): the same
bytes uploaded twice are stored once, and a name can never reach the path. A local file is written to a temporary
file in the same directory and renamed into place, an object is put whole, so a reader never sees half a file. The
database row that names a file is written after the file; a transaction that fails after the write leaves an
unreferenced file behind (harmless: the next upload of the same bytes reuses it), never a row without its file.
Checks (verify) hash the stored bytes themselves, never trust a size or a stored checksum alone.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import runtime
from engine.errors import Unavailable
from engine.messages import msg
from engine.models import AttachmentModel, DocumentModel

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalFileStore:
    """Files under one directory, named by their SHA-256."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256 or ""):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store the bytes (once) and return their SHA-256."""
        digest = sha256_of(data)
        target = self.path_of(digest)
        if target.exists() and self._digest_of(target) == digest:
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        """The stored bytes. Raises FileNotFoundError."""
        return self.path_of(sha256).read_bytes()

    def check(self, sha256: str, size: int) -> str | None:
        """None when the stored file is there and hashes to `sha256`; else what is wrong: missing | changed."""
        path = self.path_of(sha256)
        if not path.is_file():
            return "missing"
        if path.stat().st_size != size or self._digest_of(path) != sha256:
            return "changed"
        return None

    @staticmethod
    def _digest_of(path: Path) -> str:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()


class S3FileStore:
    """Files in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, 阿里云 OSS, 腾讯云 COS …), named by their SHA-256
    under a prefix, through boto3. Errors of the store (unreachable, refused) raise Unavailable (HTTP 503)."""

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def key_of(self, sha256: str) -> str:
        if not _SHA256.fullmatch(sha256 or ""):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def _call(self, what: str, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, what)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(kwargs.get("Key")) from exc
            log.error("file store: %s on bucket %s failed: %s", what, self.bucket, exc)
            raise Unavailable(msg("files.store_unavailable", problem=str(exc))) from exc
        except BotoCoreError as exc:  # unreachable endpoint, bad credentials configuration, timeouts
            log.error("file store: %s on bucket %s failed: %s", what, self.bucket, exc)
            raise Unavailable(msg("files.store_unavailable", problem=str(exc))) from exc

    def put(self, data: bytes) -> str:
        """Store the bytes (once) and return their SHA-256. Raises Unavailable."""
        digest = sha256_of(data)
        key = self.key_of(digest)
        try:
            head = self._call("head_object", Key=key)
            if head.get("ContentLength") == len(data) and (head.get("Metadata") or {}).get("sha256") == digest:
                return digest  # the same bytes are there (check() hashes them when verify asks)
        except FileNotFoundError:
            pass
        self._call("put_object", Key=key, Body=data, Metadata={"sha256": digest},
                   ContentType="application/octet-stream")
        return digest

    def get(self, sha256: str) -> bytes:
        """The stored bytes. Raises FileNotFoundError, Unavailable."""
        return self._call("get_object", Key=self.key_of(sha256))["Body"].read()

    def check(self, sha256: str, size: int) -> str | None:
        """None when the stored object is there and hashes to `sha256`; else what is wrong: missing | changed."""
        try:
            data = self.get(sha256)
        except FileNotFoundError:
            return "missing"
        return None if len(data) == size and sha256_of(data) == sha256 else "changed"


@functools.lru_cache(maxsize=8)
def _s3_store(bucket: str, prefix: str, endpoint_url: str | None, region: str | None, access_key: str | None,
              secret_key: str | None) -> S3FileStore:
    """One client per configuration (boto3 clients are thread-safe and slow to build)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise Unavailable(msg("files.s3_client_missing")) from exc
    client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None,
                          aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
                          config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                        read_timeout=30))
    return S3FileStore(client, bucket, prefix)


def store_of(session: Session) -> LocalFileStore | S3FileStore:
    """The file store the session's runtime is configured with: EngineSettings.files_store "local" (files_dir)
    or "s3" (s3_bucket, s3_prefix, s3_endpoint_url, s3_region, s3_access_key_id, s3_secret_access_key). Raises
    Unavailable (boto3 not installed)."""
    settings = runtime.of(session).settings
    if settings.files_store == "s3":
        return _s3_store(settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url, settings.s3_region,
                         settings.s3_access_key_id, settings.s3_secret_access_key)
    return LocalFileStore(settings.files_dir)


def read_verified(session: Session, digest: str) -> bytes | None:
    """The stored bytes of `digest` when they are there and still hash to it; None when missing or changed
    (the callers refuse such a file, never serve it)."""
    try:
        data = store_of(session).get(digest)
    except FileNotFoundError:
        return None
    return data if sha256_of(data) == digest else None


def check_case_files(session: Session, case_id: int) -> list[tuple[AttachmentModel | DocumentModel, str, str]]:
    """The case's stored files that do not hold, for verify (services/history.py): (attachment or issued
    document, missing | changed, the problem named) — a file missing from the store, or whose bytes no longer
    hash to the recorded SHA-256.
    The caller has checked the read."""
    store = store_of(session)
    problems = []
    for row in session.scalars(select(AttachmentModel).where(AttachmentModel.case_id == case_id)
                               .order_by(AttachmentModel.id)):
        wrong = store.check(row.sha256, row.size)
        if wrong == "missing":
            problem = f"attachment {row.id} ({row.name}): its file {row.sha256[:12]}… is missing from the file store"
            problems.append((row, wrong, problem))
        elif wrong == "changed":
            problem = (f"attachment {row.id} ({row.name}): its stored file no longer hashes to the recorded "
                       f"{row.sha256[:12]}… (the file was changed)")
            problems.append((row, wrong, problem))
    for doc in session.scalars(select(DocumentModel).where(DocumentModel.case_id == case_id)
                               .order_by(DocumentModel.id)):
        for form, digest, size in (("PDF", doc.sha256, doc.size), ("print view", doc.html_sha256, doc.html_size)):
            wrong = store.check(digest, size)
            if wrong == "missing":
                problem = f"document {doc.id} ({doc.name}): its {form} {digest[:12]}… is missing from the file store"
                problems.append((doc, wrong, problem))
            elif wrong == "changed":
                problem = (f"document {doc.id} ({doc.name}): its stored {form} no longer hashes to the recorded "
                           f"{digest[:12]}… (the file was changed)")
                problems.append((doc, wrong, problem))
    return problems


# ---------------------------------------------------------------- what a file is, by its content

def sniff(data: bytes) -> str | None:
    """The content type of an allowed kind of file, judged by its bytes (never its name), or None.

    Allowed: PDF, JPEG, PNG, MP3 (audio/mpeg), WAV, M4A (audio/mp4) and plain UTF-8 text. Written here because no
    maintained sniffing library (python-magic, filetype) is installed; the signatures are the formats' own."""
    head = data[:64]
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B "):
        return "audio/mp4"
    if head.startswith(b"ID3") or _mp3_frame(head):
        return "audio/mpeg"
    return "text/plain" if _plain_text(data) else None


def _mp3_frame(head: bytes) -> bool:
    """An MPEG audio layer III frame header: the 11-bit sync, a defined version, a bitrate index other than
    free (0) and bad (15), a defined sample rate."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKUP = re.compile(r"^\s*<(?:!doctype|html|head|body|script|svg|\?xml)", re.IGNORECASE)


def _plain_text(data: bytes) -> bool:
    """UTF-8 text without control characters (tabs and line ends allowed) that does not open as HTML, SVG or XML."""
    if not data:
        return False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not _CONTROL.search(text) and not _MARKUP.search(text)
