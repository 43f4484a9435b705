"""Designer rules on form fields beyond Camunda's own constraints (docs/designers.md, "Form fields"):

* a date bound relative to the day of entry — `camunda:constraint name="max" config="today"` refuses a future
  收件日期 (`min`/`max` on a date field take `today` or an ISO date);
* `camunda:constraint name="phone"` — a mainland mobile number (1[3-9] and 9 digits, optionally +86) or a
  landline with its area code (0571-87654321, extension allowed);
* `jiefen.show_if` (a form field property) — the field applies only when another field of the same form has a
  value: `field == 'literal'` or `field != 'literal'` (a quoted text, a number, true or false; nothing else). A
  field that does not apply is hidden, not required, and its value is not taken."""
from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any, Mapping

log = logging.getLogger(__name__)

TODAY = "today"
_MOBILE = re.compile(r"(?:\+?86)?1[3-9]\d{9}")
_LANDLINE = re.compile(r"(?:\+?86)?0\d{2,3}\d{7,8}(?:(?:转|ext\.?|x|#)\d{1,6})?", re.IGNORECASE)
_SHOW_IF = re.compile(r"""^\s*([A-Za-z_]\w*)\s*(==|!=)\s*('[^'\\]*'|"[^"\\]*"|-?\d+(?:\.\d+)?|true|false|True|False)\s*$""")


def is_phone(text: str) -> bool:
    """A mainland mobile or a landline with area code; spaces, hyphens and brackets between digits are fine."""
    compact = re.sub(r"[\s\-()（）]", "", text or "")
    return bool(_MOBILE.fullmatch(compact) or _LANDLINE.fullmatch(compact))


def date_bound(config: str | None) -> str | None:
    """A date field's min/max config as stored: `today` or an ISO date; None if it is neither."""
    text = (config or "").strip()
    if text.lower() == TODAY:
        return TODAY
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def bound_date(bound: str, today: date) -> date:
    return today if bound == TODAY else date.fromisoformat(bound)


def parse_show_if(text: str | None) -> tuple[str, str, Any] | None:
    """`field == 'x'` → (field, '==', 'x'); None when it is not in the tiny syntax."""
    found = _SHOW_IF.match(text or "")
    if not found:
        return None
    name, op, raw = found.groups()
    if raw[0] in "'\"":
        literal: Any = raw[1:-1]
    elif raw.lower() in ("true", "false"):
        literal = raw.lower() == "true"
    else:
        literal = float(raw) if "." in raw else int(raw)
    return name, op, literal


def applies(spec: Mapping, data: Mapping) -> bool:
    """Whether a field applies to the data being entered (its jiefen.show_if holds, or it has none). Values
    from a browser are text: 'true'/'false' and numbers written out compare with their literal."""
    rule = parse_show_if(spec.get("show_if"))
    if rule is None:
        return True
    name, op, literal = rule
    value = data.get(name)
    if isinstance(literal, bool) and isinstance(value, str):
        value = {"true": True, "false": False}.get(value, value)
    elif isinstance(literal, (int, float)) and not isinstance(literal, bool) and isinstance(value, str):
        try:
            value = type(literal)(value)
        except ValueError:
            pass
    return (value == literal) == (op == "==")
