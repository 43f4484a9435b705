"""The UI catalogs: every message in the code has a zh_CN translation; a missing .mo is reported at start-up."""
from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from webui.i18n import TRANSLATIONS_DIR, warn_missing_catalogs

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}


def _extracted() -> set[str]:
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "webui"), method_map, options_map, keywords=KEYWORDS):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def _catalog(locale: str):
    with open(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=locale)


def test_every_ui_message_has_a_chinese_translation():
    extracted = _extracted()
    assert len(extracted) > 150
    zh = {m.id: m.string for m in _catalog("zh_CN") if m.id}
    missing = sorted(i for i in extracted if not zh.get(i))
    assert not missing, f"untranslated in zh_CN (run pybabel extract/update, see babel.cfg): {missing}"
    en = {m.id for m in _catalog("en") if m.id}
    assert not sorted(extracted - en), "the en catalog lacks messages"


def test_translations_keep_their_placeholders():
    for message in _catalog("zh_CN"):
        if message.id and message.string:
            assert sorted(re.findall(r"%\(\w+\)s", message.id)) == sorted(re.findall(r"%\(\w+\)s", message.string)), \
                message.id
            assert not re.search(r"[A-Za-z]{4,}", re.sub(r"%\(\w+\)s|bpmn-js|npm install|UTC|YYYY-MM-DD", "",
                                                         message.string)), message.id


def test_a_missing_or_stale_catalog_is_reported_not_compiled(tmp_path, caplog):
    po_dir = tmp_path / "zh_CN" / "LC_MESSAGES"
    po_dir.mkdir(parents=True)
    for domain in ("messages", "errors"):
        (po_dir / f"{domain}.po").write_bytes((TRANSLATIONS_DIR / "zh_CN" / "LC_MESSAGES" / f"{domain}.po").read_bytes())
    with caplog.at_level(logging.WARNING, logger="webui.i18n"):
        missing = warn_missing_catalogs(tmp_path)
    assert {p.name for p in missing} == {"messages.po", "errors.po"} and "make catalogs" in caplog.text
    assert not list(tmp_path.rglob("*.mo"))  # never compiled at start-up
    for domain in ("messages", "errors"):
        (po_dir / f"{domain}.mo").write_bytes(b"")
    assert {p.name for p in warn_missing_catalogs(tmp_path)} == {"messages.po", "errors.po"}  # no zh_Hans_CN copy
    babel_dir = tmp_path / "zh_Hans_CN" / "LC_MESSAGES"  # where Babel looks zh_CN up (make catalogs copies)
    babel_dir.mkdir(parents=True)
    for domain in ("messages", "errors"):
        (babel_dir / f"{domain}.mo").write_bytes(b"")
    assert warn_missing_catalogs(tmp_path) == []
    later = time.time() + 5
    os.utime(po_dir / "errors.po", (later, later))
    assert [p.name for p in warn_missing_catalogs(tmp_path)] == ["errors.po"]


def test_directors_and_administrators_are_told_when_a_year_ahead_is_provisional(client, directory):
    """Issue 17 §3: the shipped calendar marks 2027 provisional (no State Council notice yet): the people who run
    the center see it on every page, in Chinese; staff do not."""
    from tests.support.web import csrf, ui_login

    for username, told in (("super", True), ("admin", True), ("clerk", False)):
        ui_login(client, username, expect=302)
        html = client.get("/tasks/").get_data(as_text=True)
        assert ("data-calendar-notice" in html) is told, username
        if told:
            assert "2027年国务院放假安排尚未录入" in html and "调休未知" in html
        client.post("/logout", data={"csrf_token": csrf(html)})
