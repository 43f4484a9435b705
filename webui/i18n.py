"""UI languages: the request's locale, engine messages by id in the reader's language, the catalogs' presence."""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.support import NullTranslations, Translations
from flask import has_request_context, request, session
from flask_babel import get_locale

from engine.clock import CHINA_TZ
from engine.messages import Message, render, restore

log = logging.getLogger(__name__)

LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DOMAINS = ("messages", "errors")  # messages: the UI's own texts; errors: engine messages by id (msgid = the id)


def missing_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """The .po files without an up-to-date .mo. The .mo files are build output (`make catalogs`, run by `make
    setup`), never committed and never compiled at start-up."""
    missing = []
    for po_path in sorted(p for domain in DOMAINS for p in directory.glob(f"*/LC_MESSAGES/{domain}.po")):
        folder = po_path.parent.parent.name
        full = str(Locale.parse(folder))  # Flask-Babel looks zh_CN up as zh_Hans_CN: make catalogs copies it there
        mo_paths = [po_path.with_suffix(".mo")] + ([directory / full / "LC_MESSAGES" / f"{po_path.stem}.mo"]
                                                   if full != folder else [])
        if any(not mo.exists() or mo.stat().st_mtime < po_path.stat().st_mtime for mo in mo_paths):
            missing.append(po_path)
    return missing


def warn_missing_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    missing = missing_catalogs(directory)
    for po_path in missing:
        log.warning("%s has no up-to-date compiled catalog (.mo): run `make catalogs`; until then the UI shows "
                    "untranslated (English) text", po_path)
    return missing


@functools.lru_cache(maxsize=8)
def _errors_catalog(folder: str) -> NullTranslations:
    """The compiled `errors` catalog of one locale folder (zh_CN, en); a NullTranslations when not compiled."""
    return Translations.load(str(TRANSLATIONS_DIR), [folder], domain="errors")


def message_text(message: Message, folder: str) -> str:
    """An engine message in one language: the catalog's template for its id, else the engine's English."""
    template = _errors_catalog(folder).gettext(message.id)
    if not template or template == message.id:
        return str(message)
    return render(template, message.params)


def _ui_folder() -> str:
    return "zh_CN" if is_chinese() else "en"


def select_locale() -> str:
    """The language the user chose (session), else zh_CN: the UI is Chinese first."""
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT_LOCALE


def is_chinese() -> bool:
    return str(get_locale() or DEFAULT_LOCALE).startswith("zh")


def html_lang() -> str:
    return "zh-CN" if is_chinese() else "en"


def _as_message(message):
    """The Message an error or a detail carries, else None (plain text: designer problems, werkzeug...)."""
    message = getattr(message, "message", message)  # a CaseError
    return message if isinstance(message, Message) else None


def localize(message) -> str:
    """An engine error or message in the UI language (zh_CN: the Chinese only); plain text unchanged."""
    if message is None:
        return ""
    found = _as_message(message)
    if found is None:
        return str(getattr(message, "message", message)).strip()
    return message_text(found, _ui_folder() if has_request_context() else DEFAULT_LOCALE)


def stored_message(message_id: str | None, params: dict | None, text: str):
    """A message stored by id (an incident's): the Message to localize or put in the API; the stored text when
    it has no id (recorded before ids, or not an engine error)."""
    return restore(message_id, params) if message_id else text


def api_text(message) -> str:
    """What the API says for an engine error or message: "中文 / English", as it always has; plain text
    unchanged."""
    found = _as_message(message)
    if found is None:
        return message if message is None or isinstance(message, str) else str(getattr(message, "message", message))
    english = message_text(found, "en")
    chinese = message_text(found, "zh_CN")
    return english if chinese == english else f"{chinese} / {english}"


def _each_message(details, text):
    """`details` with every engine message in it replaced by text(message); the rest as it is."""
    if isinstance(details, Message):
        return text(details)
    if isinstance(details, Mapping):
        return {key: _each_message(value, text) for key, value in details.items()}
    if isinstance(details, list | tuple):
        return [_each_message(value, text) for value in details]
    return details


def api_details(details):
    """Error details with every engine message as API text ("中文 / English"); the rest as it is."""
    return _each_message(details, api_text)


def localize_details(details):
    """Error details with every engine message in the UI language."""
    return _each_message(details, localize)


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
