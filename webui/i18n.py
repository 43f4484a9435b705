"""UI languages: compile the Babel catalogs (.po → .mo), pick the request's locale, localise engine messages."""
from __future__ import annotations

import logging
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request, session
from flask_babel import get_locale, gettext

from engine.clock import CHINA_TZ

log = logging.getLogger(__name__)

LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Write messages.mo for every messages.po that has no .mo or an older one; returns what was written.

    The .mo files are build output (never committed). Babel looks catalogs up under the locale's full
    name (zh_CN parses as zh_Hans_CN), so a catalog whose folder name differs is also compiled there. A temp
    file plus rename keeps parallel start-ups safe."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        name = po_path.parent.parent.name
        targets = [po_path.with_suffix(".mo")]
        full_name = str(Locale.parse(name))
        if full_name != name:
            targets.append(directory / full_name / "LC_MESSAGES" / "messages.mo")
        stale = [t for t in targets if not t.exists() or t.stat().st_mtime < po_path.stat().st_mtime]
        if not stale:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=name)
        for mo_path in stale:
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog, use_fuzzy=False)
            os.replace(tmp, mo_path)
            written.append(mo_path)
            log.info("compiled %s", mo_path)
    return written


def select_locale() -> str:
    """The language the user chose (session), else zh_CN: the UI is Chinese first."""
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT_LOCALE


def is_chinese() -> bool:
    return str(get_locale() or DEFAULT_LOCALE).startswith("zh")


def html_lang() -> str:
    return "zh-CN" if is_chinese() else "en"


# Engine messages are written "中文 / English"; the English half has no CJK characters.
_BILINGUAL = re.compile(r"^(?P<zh>.*\S)\s+/\s+(?P<en>[^\u3400-\u9fff\uff00-\uffef]+)$", re.S)

# marshmallow's own messages (English only), for fields without a bilingual message from the engine.
_MARSHMALLOW = [
    (re.compile(r"^Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.$"),
     lambda m: gettext("Must be between %(min)s and %(max)s.", min=_num(m["min"]), max=_num(m["max"]))),
    (re.compile(r"^Must be greater than or equal to (?P<min>\S+)\.$"),
     lambda m: gettext("Must be at least %(min)s.", min=_num(m["min"]))),
    (re.compile(r"^Must be less than or equal to (?P<max>\S+)\.$"),
     lambda m: gettext("Must be at most %(max)s.", max=_num(m["max"]))),
    (re.compile(r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$"),
     lambda m: gettext("Must have %(min)s to %(max)s characters.", min=m["min"], max=m["max"])),
    (re.compile(r"^Longer than maximum length (?P<max>\d+)\.$"),
     lambda m: gettext("Must have at most %(max)s characters.", max=m["max"])),
    (re.compile(r"^Shorter than minimum length (?P<min>\d+)\.$"),
     lambda m: gettext("Must have at least %(min)s characters.", min=m["min"])),
    (re.compile(r"^Not a valid integer\.$"), lambda m: gettext("Enter a whole number.")),
    (re.compile(r"^Not a valid number\.$"), lambda m: gettext("Enter a number.")),
    (re.compile(r"^Not a valid date\.$"), lambda m: gettext("Enter a date (YYYY-MM-DD).")),
    (re.compile(r"^Not a valid boolean\.$"), lambda m: gettext("Choose yes or no.")),
    (re.compile(r"^Not a valid string\.$"), lambda m: gettext("Enter text.")),
    (re.compile(r"^Unknown field\.$"), lambda m: gettext("This field is not part of the form.")),
    (re.compile(r"^Missing data for required field\.$"), lambda m: gettext("This field is required.")),
]


def _num(text: str) -> str:
    return text[:-2] if text.endswith(".0") else text


def localize(message) -> str:
    """One engine or validation message in the UI language: the right half of "中文 / English", or a
    translation of a known marshmallow message; anything else unchanged."""
    if message is None:
        return ""
    text = str(message).strip()
    match = _BILINGUAL.match(text)
    if match:
        return match["zh"] if is_chinese() else match["en"]
    for pattern, make in _MARSHMALLOW:
        found = pattern.match(text)
        if found:
            return make(found)
    return text


def local_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC moment shown in China time (+08:00)."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        return value.strftime(fmt)
    return value.astimezone(CHINA_TZ).strftime(fmt)


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths may be redirect targets (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def referrer_path(default: str) -> str:
    ref = request.referrer or ""
    host = request.host_url.rstrip("/")
    if ref.startswith(host):
        return safe_next(ref[len(host):] or "/", default)
    return default
