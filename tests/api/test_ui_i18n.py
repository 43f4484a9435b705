"""The UI catalogs: every message in the code has a zh_CN translation; .mo files are compiled on demand."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from webui.i18n import TRANSLATIONS_DIR, compile_catalogs

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


def test_catalogs_compile_when_missing_or_stale(tmp_path):
    po_dir = tmp_path / "zh_CN" / "LC_MESSAGES"
    po_dir.mkdir(parents=True)
    (po_dir / "messages.po").write_bytes((TRANSLATIONS_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").read_bytes())
    written = compile_catalogs(tmp_path)
    # zh_CN is looked up by Babel as zh_Hans_CN: both get a catalog
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "zh_CN/LC_MESSAGES/messages.mo", "zh_Hans_CN/LC_MESSAGES/messages.mo"}
    assert compile_catalogs(tmp_path) == []  # up to date
    later = time.time() + 5
    os.utime(po_dir / "messages.po", (later, later))
    assert len(compile_catalogs(tmp_path)) == 2
