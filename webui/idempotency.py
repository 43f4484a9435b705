"""Idempotent writes: the Idempotency-Key of every write request (API header or the forms' hidden field).

A write request (POST, PUT, PATCH, DELETE) of a signed-in user carries a key: the client's `Idempotency-Key`
header, the browser form's hidden `idempotency_key` field (a fresh one per rendering, see `form_key`), or
else one the server makes up for it. The key row (user, key, hash of the request) is written by a
`before_commit` hook in the same transaction as the request's command, so a command that committed always has
its key, even when the connection dropped before its response was sent (webui/errors.py then answers 503 with
the key to retry with). After the response is sent it is stored with the key (client keys only).

A request with a key already used by the same user within 24 hours:

* same method, path and body, response stored → that response again (`Idempotent-Replayed: true`), nothing
  done twice;
* same request, committed but no response stored (the connection was lost, or the first request is still
  answering) → 409 `already_done` naming the key and the cases the command held, never a second run;
* another method, path or body → 422 naming the key.

Two requests with one key at the same moment both run their command, but only one can commit: the other's
key row conflicts at commit (an atomic upsert), its transaction is rolled back and it answers as above.

Written here rather than taken from a library: the Flask idempotency packages store the key and the response
after the view, outside the command's transaction, which is exactly the window that loses a committed write.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import bindparam, delete, event, select, text, update
from sqlalchemy.exc import DBAPIError

from engine.fastpath import send
from engine.errors import Conflict, InvalidData
from engine.models import CaseModel, IdempotencyKeyModel

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
FORM_FIELD = "idempotency_key"
TTL = timedelta(hours=24)
PURGE_EVERY = timedelta(minutes=10)  # per process; look-ups ignore expired rows whenever the purge runs
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sign-in, sign-out, the role switcher and the public look-up change only the caller's own session (or a
# login-failure counter): replaying them would hand out a stored token or a stale cookie.
EXEMPT_ENDPOINTS = frozenset({"api.token", "auth_ui.login", "auth_ui.logout", "auth_ui.switch", "public.lookup",
                              "public.rate"})
STORED_HEADERS = ("Location", "Content-Type")
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the IETF draft's examples
_WAIT_FOR_FIRST_S = 2.0  # how long a concurrent duplicate waits for the first request's stored response

_T = IdempotencyKeyModel.__table__
# One atomic upsert, the same SQL on SQLite and PostgreSQL (text(): SQLAlchemy's ON CONFLICT construct has no
# cache key and would be compiled on every request). A live row of the key is left alone (no row changed);
# an expired one is taken over.
_CLAIM = text(
    "INSERT INTO idempotency_keys (username, idempotency_key, request_hash, created_at, case_ids) "
    "VALUES (:username, :key, :hash, :now, :case_ids) "
    "ON CONFLICT (username, idempotency_key) DO UPDATE SET request_hash = excluded.request_hash, "
    "created_at = excluded.created_at, case_ids = excluded.case_ids, status = NULL, response_headers = NULL, "
    "response_body = NULL WHERE idempotency_keys.created_at < :cutoff").bindparams(
    bindparam("now", type_=_T.c.created_at.type), bindparam("cutoff", type_=_T.c.created_at.type))
_FIND = select(_T).where(_T.c.username == bindparam("username"), _T.c.idempotency_key == bindparam("key"),
                         _T.c.created_at >= bindparam("cutoff"))
_STORE = (update(_T).where(_T.c.username == bindparam("of_user"), _T.c.idempotency_key == bindparam("of_key"))
          .values(status=bindparam("new_status"), response_headers=bindparam("new_headers"),
                  response_body=bindparam("new_body")))
_NO_SYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
_PURGE = delete(_T).where(_T.c.created_at < bindparam("cutoff"))


class AlreadyDone(Conflict):
    """A request with this key was carried out, but its response is not (yet) stored."""

    code = "already_done"


class _KeyTaken(Exception):
    """Raised at commit when another request of the same user committed this key first."""


@dataclass
class Pending:
    """The key of the write request being handled (g.idempotency)."""

    username: str
    key: str
    request_hash: str
    generated: bool  # made up by the server: the client learns it only from a 503
    written: bool = False  # the key row is in the session's transaction
    committed: bool = False  # ... and that transaction committed
    case_ids: list[int] = field(default_factory=list)


def form_key() -> str:
    """A fresh key for one rendering of a form (its hidden idempotency_key field)."""
    return secrets.token_urlsafe(18)


def current_key() -> str | None:
    """The key of this write request (the client's or the server's), for the 503 answer."""
    pending = g.get("idempotency") if has_request_context() else None
    return pending.key if pending is not None else None


def purge_expired(session, now: datetime) -> int:
    """Delete keys older than 24 hours; the number deleted. Commits."""
    deleted = session.execute(_PURGE, {"cutoff": now - TTL}).rowcount
    session.commit()
    return deleted


def init_app(app: Flask) -> None:
    from webui.extensions import db

    app.extensions["jiefen_idempotency"] = {"purged_at": None}
    app.before_request(_check_key)
    app.after_request(_store_response)
    app.register_error_handler(_KeyTaken, _answer_taken)
    app.jinja_env.globals["idempotency_key"] = form_key
    # db.session is one scoped_session for every app (tests build many): listen once.
    if not event.contains(db.session, "before_commit", _before_commit):
        event.listen(db.session, "before_commit", _before_commit)
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_rollback", _after_rollback)


def _now() -> datetime:
    return current_app.extensions["jiefen.runtime"].clock.now()


def _request_hash() -> str:
    digest = hashlib.sha256(f"{request.method} {request.full_path.rstrip('?')}\n".encode())
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # the CSRF token is signed with a time stamp: the same form sent twice may carry two
        items = sorted((k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", FORM_FIELD))
        digest.update(json.dumps(items, ensure_ascii=False).encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            # an uploaded file (an attachment) is part of the request: the same key with another file is refused
            content = hashlib.sha256()
            for block in iter(lambda stream=upload.stream: stream.read(1 << 20), b""):
                content.update(block)
            upload.stream.seek(0)
            digest.update(json.dumps([name, upload.filename or "", content.hexdigest()], ensure_ascii=False).encode())
    else:
        digest.update(request.get_data())
    return digest.hexdigest()


def _client_key() -> str | None:
    key = request.headers.get(HEADER)
    if key is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        key = request.form.get(FORM_FIELD) or None
    if key is not None and not _KEY_PATTERN.fullmatch(key):
        raise InvalidData(f"{HEADER} 须为 1–255 个可见 ASCII 字符 / {HEADER} must be 1-255 visible ASCII characters",
                          {HEADER: ["1-255 visible ASCII characters"]})
    return key


def _check_key():
    """before_request: answer a key seen before; else remember this request's key for the commit."""
    if request.method not in WRITE_METHODS or request.endpoint is None or request.endpoint in EXEMPT_ENDPOINTS:
        return None
    from webui.auth import current_actor

    actor = current_actor(optional=True)
    if actor is None:
        return None  # the view refuses it (401) or it needs no user; nothing to key
    key = _client_key()
    pending = Pending(actor.username, key or f"srv-{secrets.token_urlsafe(18)}", _request_hash(), key is None)
    if key is not None:
        seen = _find(pending)
        if seen is not None:
            return _answer(pending, seen)
    g.idempotency = pending
    return None


def _find(pending: Pending):
    from webui.extensions import db

    return db.session.execute(_FIND, {"username": pending.username, "key": pending.key,
                                      "cutoff": _now() - TTL}).one_or_none()


def _answer(pending: Pending, seen) -> Response:
    """The answer to a request whose key was used before (`seen`: its row)."""
    if seen.request_hash != pending.request_hash:
        raise InvalidData(f"{HEADER} {pending.key!r} 已用于另一请求 / {HEADER} {pending.key!r} was already used for "
                          "another request (method, path or body differ); use a new key",
                          {HEADER: [f"{pending.key!r} was used for another request"]})
    if seen.status is None:
        ids = [int(i) for i in (seen.case_ids or "").split(",") if i]
        details = {"idempotency_key": pending.key, "committed_at": seen.created_at.isoformat(), "case_ids": ids}
        from webui.extensions import db

        if ids:
            details["cases"] = [{"id": case_id, "code": code} for case_id, code in db.session.execute(
                select(CaseModel.id, CaseModel.code).where(CaseModel.id.in_(ids)).order_by(CaseModel.id))]
        raise AlreadyDone(f"该请求已执行（{HEADER} {pending.key}），其响应未能保存，请查看案件当前状态 / the request "
                          f"with {HEADER} {pending.key} was carried out but its response was not recorded; read the "
                          "current state of its cases", details)
    response = Response(seen.response_body, status=seen.status, headers=seen.response_headers or {})
    response.headers["Idempotent-Replayed"] = "true"
    log.info("replayed the response to %s %s for %s (key %s)", request.method, request.path, pending.username,
             pending.key)
    return response


# ---------------------------------------------------------------- the key row, in the command's transaction

def _pending_of(session) -> Pending | None:
    if not has_request_context():
        return None
    pending = g.get("idempotency")
    if pending is None:
        return None
    from webui.extensions import db

    return pending if session is db.session.registry() else None


def _before_commit(session) -> None:
    pending = _pending_of(session)
    if pending is None or pending.written:
        return
    now = _now()
    # The cases this command held, for the honest answer to a retry whose response was lost.
    ids = sorted({obj.id for obj in session.identity_map.values() if isinstance(obj, CaseModel)})[:20]
    claimed = send(session.connection(), _CLAIM, {
        "username": pending.username, "key": pending.key, "hash": pending.request_hash, "now": now,
        "cutoff": now - TTL, "case_ids": ",".join(map(str, ids)) or None})
    if claimed != 1:
        raise _KeyTaken(pending.key)
    pending.written, pending.case_ids = True, ids


def _after_commit(session) -> None:
    pending = _pending_of(session)
    if pending is not None and pending.written:
        pending.committed = True


def _after_rollback(session) -> None:
    pending = _pending_of(session)
    if pending is not None and not pending.committed:
        pending.written = False  # the key row went with the transaction: a later commit writes it again


def _answer_taken(_exc: _KeyTaken):
    """Another request with this key committed first: its stored response, once there, or 409 / 422."""
    from webui.errors import _render
    from webui.extensions import db

    pending = g.idempotency
    deadline = time.monotonic() + _WAIT_FOR_FIRST_S
    while True:
        db.session.rollback()
        seen = _find(pending)
        if seen is not None and (seen.status is not None or time.monotonic() >= deadline
                                 or seen.request_hash != pending.request_hash):
            break
        time.sleep(0.05)  # the first request is still answering: its response is stored in a moment
    g.pop("idempotency")
    try:
        return _answer(pending, seen) if seen is not None else _render(409, "conflict", "请重试 / retry", None)
    except (AlreadyDone, InvalidData) as exc:
        return _render(409 if isinstance(exc, AlreadyDone) else 422, exc.code, exc.message, exc.details,
                       show_message=True)


# ---------------------------------------------------------------- after the response

def _store_response(response: Response) -> Response:
    pending = g.get("idempotency")
    if pending is None or not pending.committed:
        return response
    from webui.extensions import db

    try:
        stored = not pending.generated and response.status_code < 500 and not response.is_streamed
        if stored:
            if db.session.get_bind().dialect.name == "postgresql":
                # The stored response need not survive a server crash (the retry then gets 409 already_done,
                # still without acting twice): this commit does not wait for its WAL flush.
                db.session.execute(_NO_SYNC_COMMIT)
            headers = {name: response.headers[name] for name in STORED_HEADERS if name in response.headers}
            db.session.execute(_STORE, {"of_user": pending.username, "of_key": pending.key,
                                        "new_status": response.status_code, "new_headers": headers,
                                        "new_body": response.get_data()})
        if _purge_now_and_then(db.session) or stored:
            db.session.commit()
    except DBAPIError:
        # The command committed and the response is right: answer it. A retry gets 409 already_done.
        log.warning("could not store the response for key %s of %s", pending.key, pending.username, exc_info=True)
    return response


def _purge_now_and_then(session) -> bool:
    """Delete expired keys if this process has not for PURGE_EVERY; whether it did (not committed)."""
    from flask import current_app

    state = current_app.extensions["jiefen_idempotency"]
    now = _now()
    if state["purged_at"] is not None and abs(now - state["purged_at"]) < PURGE_EVERY:
        return False
    state["purged_at"] = now
    deleted = session.execute(_PURGE, {"cutoff": now - TTL}).rowcount
    if deleted:
        log.info("purged %s expired idempotency keys", deleted)
    return True
