"""Reading request input strictly: the JSON provider (standard JSON only) and the bounded int URL converter."""
from __future__ import annotations

import json
import logging
import re

from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

log = logging.getLogger(__name__)

# Deeper than any request of the API (case data itself stops at JIEFEN_MAX_DATA_DEPTH, 10): refused while
# parsing, before any code walks the structure recursively.
MAX_JSON_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number (NaN and Infinity are not standard JSON)")


def _inf_to_error(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def check_parsed(value) -> None:
    """Raise ValueError if parsed JSON nests deeper than MAX_JSON_DEPTH or holds a lone surrogate ("\\ud800"
    decodes to text that cannot be stored or sent as UTF-8). An explicit stack, never recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, parsing standard JSON only: NaN, Infinity and numbers that overflow to infinity
    (1e999) are refused (PostgreSQL's json type and strict clients reject them), and so are lone surrogates
    and absurd nesting. Every failure is a ValueError, which request.get_json turns into a 400 and the API
    into a 422 — never a RecursionError that escapes as a 500."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs):
        kwargs.setdefault("parse_constant", _refuse_constant)
        kwargs.setdefault("parse_float", _inf_to_error)
        try:
            value = json.loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from exc
        check_parsed(value)
        return value


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` for database ids: a value beyond a 32-bit signed integer matches no route (404), where it
    used to reach the database and fail there (SQLite OverflowError, PostgreSQL "integer out of range")."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**31 - 1,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
