"""Reading request input strictly: the JSON provider (standard JSON only) and the bounded int URL converter."""
from __future__ import annotations

import json
import logging
import re

from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

log = logging.getLogger(__name__)

# A lone surrogate reaches a parsed string only through a \\uD800-\\uDFFF escape (raw ones are refused while
# the body is decoded), so only a body holding such an escape is walked to find one; a pair is one character.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number (NaN and Infinity are not standard JSON)")


def _inf_to_error(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def _lone_surrogate(value) -> bool:
    """Whether parsed JSON holds a string with a lone surrogate. An explicit stack, never recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, parsing standard JSON only: NaN, Infinity and numbers that overflow to infinity
    (1e999) are refused (PostgreSQL's json type and strict clients reject them), and so are lone surrogates
    and nesting too deep for the parser. Every failure is a ValueError, which request.get_json turns into a
    400 and the API into a 422 — never a RecursionError that escapes as a 500."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs):
        if isinstance(s, bytes | bytearray):
            # json.loads would decode with "surrogatepass", letting encoded surrogates through
            try:
                s = s.decode(json.detect_encoding(s))
            except UnicodeDecodeError as exc:
                raise ValueError(f"the body is not valid {exc.encoding}: {exc.reason}") from exc
        if _SURROGATE.search(s):
            raise ValueError("the body holds a lone surrogate (U+D800-U+DFFF), which is not valid Unicode")
        kwargs.setdefault("parse_constant", _refuse_constant)
        kwargs.setdefault("parse_float", _inf_to_error)
        try:
            value = json.loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc
        if _SURROGATE_ESCAPE.search(s) and _lone_surrogate(value):
            raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode")
        return value


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` for database ids: a value beyond a 32-bit signed integer matches no route (404), where it
    used to reach the database and fail there (SQLite OverflowError, PostgreSQL "integer out of range")."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**31 - 1,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


# Endpoints whose body is a file rather than JSON or a form: they may send up to JIEFEN_MAX_UPLOAD_BYTES.
UPLOAD_ENDPOINTS = frozenset({"api.deploy_process", "api.validate_process", "api.save_process_draft"})
# Attachments (multipart): the file's limit (JIEFEN_ATTACHMENT_MAX_BYTES) and room for the form around it; the
# engine refuses a file over the limit with its own message when the body itself is allowed through.
ATTACHMENT_ENDPOINTS = frozenset({"api.add_attachment", "cases.add_attachment"})
MULTIPART_ROOM = 64 * 1024


def body_limit_by_endpoint() -> None:
    """before_request, registered before any hook that reads the body (the Idempotency-Key's request hash): an
    upload endpoint's larger limit must be in force before the first read, or werkzeug refuses it with 413."""
    from flask import current_app, request

    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = current_app.config["JIEFEN_MAX_UPLOAD_BYTES"]
    elif request.endpoint in ATTACHMENT_ENDPOINTS:
        request.max_content_length = current_app.config["JIEFEN_ATTACHMENT_MAX_BYTES"] + MULTIPART_ROOM
        request.max_form_memory_size = MULTIPART_ROOM
