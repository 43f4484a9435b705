"""Rules every piece of case data obeys, whoever sends it (API, browser, CLI): size, depth, names, numbers, text."""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.errors import InvalidData
from engine.messages import msg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataLimits:
    """Bounds on the data of one command (start data, a task's form data); EngineSettings.data_limits."""

    max_depth: int = 10  # nested objects/lists, the data object itself counting as 1
    max_string: int = 10_000  # characters in one text value (or key)
    max_bytes: int = 256 * 1024  # the whole data as UTF-8 JSON


# Text that must never reach a case: C0/C1 control characters other than tab, line feed and carriage return
# (NUL among them), the bidi embedding/override/isolate controls that make a name display as something else
# (U+202A-U+202E, U+2066-U+2069: "Trojan Source", CVE-2021-42574), the byte-order mark, the non-characters
# U+FFFE/U+FFFF, and surrogates (a lone "\ud800" cannot be stored as UTF-8).
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff"
                       "\ud800-\udfff]")


def bad_character(text: str) -> str | None:
    """The first character of `text` that no name or case value may hold (as U+XXXX), else None."""
    found = _BAD_TEXT.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def check_name(field: str, value: str | None) -> None:
    """A party or display name: no control, bidi-override or other invisible characters. Raises InvalidData."""
    if value is None:
        return
    bad = bad_character(value)
    if bad:
        raise InvalidData(msg("data.bad_character", field=field, character=bad),
                          {field: [msg("data.bad_character_detail", character=bad)]})


def check_data(data: object, limits: DataLimits, reserved: Iterable[str] = ()) -> None:
    """Raise InvalidData (field -> messages) unless `data` is a JSON object within `limits`: no deeper than
    max_depth, no text longer than max_string, at most max_bytes as JSON, only finite numbers, no control or
    bidi-override characters, and no top-level key named like a `reserved` name (the BPMN helper functions:
    a key `legal_days` would hide the helper from every later expression and stop the case)."""
    if not isinstance(data, dict):
        raise InvalidData(msg("data.not_object"), {"data": [msg("field.must_be_object")]})
    problems: dict[str, list[str]] = {}
    shadowing = sorted(set(data) & set(reserved))
    for key in shadowing:
        problems[key] = [msg("data.reserved_name", key=key)]
    # An explicit stack of containers, not recursion: the data may be nested deeper than Python's recursion
    # limit. Scalars are checked where they are met; a path is spelt out only for a problem.
    stack: list[tuple[str, object, int]] = [("", data, 1)]
    # An upper bound of the data's size as UTF-8 JSON (4 bytes a character, and room for quotes and commas), so
    # that only data near the limit is serialised to measure it.
    bound = 2
    while stack:
        path, container, depth = stack.pop()
        if depth > limits.max_depth:
            problems.setdefault(path or "data", []).append(
                msg("data.too_deep", max_depth=limits.max_depth))
            continue
        is_dict = isinstance(container, dict)
        for key, value in container.items() if is_dict else enumerate(container):
            if is_dict:
                if not isinstance(key, str):
                    problems.setdefault(path or "data", []).append(msg("data.key_not_text"))
                    continue
                bound += 4 * len(key) + 8
                if len(key) > min(100, limits.max_string) or _BAD_TEXT.search(key):
                    _check_text(key, _where(path, key), limits, problems, "key")
            if isinstance(value, str):
                bound += 4 * len(value) + 8
                if len(value) > limits.max_string or _BAD_TEXT.search(value):
                    _check_text(value, _where(path, key), limits, problems, "value")
            elif isinstance(value, dict | list):
                bound += 8
                stack.append((_where(path, key), value, depth + 1))
            elif isinstance(value, bool) or value is None:
                bound += 8
            elif isinstance(value, int):
                bound += 8 + value.bit_length() // 3
            elif isinstance(value, float):
                bound += 32
                if not math.isfinite(value):
                    problems.setdefault(_where(path, key), []).append(
                        msg("data.not_finite"))
            else:
                problems.setdefault(_where(path, key), []).append(
                    msg("data.bad_type", type=type(value).__name__))
    if not problems and bound > limits.max_bytes:
        size = len(json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass"))
        if size > limits.max_bytes:
            problems["data"] = [msg("data.too_big", size=size, max_bytes=limits.max_bytes)]
    if problems:
        first, messages = min(problems.items())
        raise InvalidData(msg("data.invalid", field=first, problem=messages[0]), problems)


def _where(path: str, key: str | int) -> str:
    """The path of a value for error messages: `a.b[2]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{_shown(key)}" if path else _shown(key)


def _shown(key: str) -> str:
    """A key as an error message may echo it: disallowed characters escaped, at most 100 characters."""
    shown = _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", key)
    return shown if len(shown) <= 100 else shown[:100] + "…"


def _check_text(text: str, where: str, limits: DataLimits, problems: dict, what: str) -> None:
    if len(text) > limits.max_string:
        problems.setdefault(where, []).append(
            msg("data.text_too_long", what=what, max_string=limits.max_string))
    bad = bad_character(text)
    if bad:
        problems.setdefault(where, []).append(
            msg("data.text_bad_character", what=what, character=bad))
