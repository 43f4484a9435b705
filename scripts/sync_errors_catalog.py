"""Bring webui/translations/*/LC_MESSAGES/errors.po in line with engine/messages.py: one entry per message id
(msgid = the id, the English default as a translator comment), new ids with an empty msgstr, ids the engine no
longer defines dropped. Translations already there are kept. Run from the repository root:

    python scripts/sync_errors_catalog.py   # then translate the empty zh_CN entries; `make catalogs`
"""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.messages import MESSAGES  # noqa: E402

HEADER = ("# Engine messages by id (engine/messages.py): msgid = the message id, msgstr = the text in str.format\n"
          "# style ({name}); an empty msgstr shows the engine's English default. Kept in line with the engine by\n"
          "# scripts/sync_errors_catalog.py; compiled by `make catalogs`.")


def sync(locale_dir: Path) -> list[str]:
    po_path = locale_dir / "LC_MESSAGES" / "errors.po"
    old = {}
    if po_path.exists():
        with po_path.open("rb") as fh:
            old = {m.id: m.string for m in read_po(fh, locale=locale_dir.name) if m.id}
    catalog = Catalog(locale=locale_dir.name, domain="errors", project="jiefen", version="1", fuzzy=False,
                      header_comment=HEADER)
    for message_id, english in MESSAGES.items():
        catalog.add(message_id, old.get(message_id, ""), auto_comments=[english])
    po_path.parent.mkdir(parents=True, exist_ok=True)
    with po_path.open("wb") as fh:
        write_po(fh, catalog, width=120, sort_output=False, omit_header=False)
    return [i for i in MESSAGES if not old.get(i)]


if __name__ == "__main__":
    for folder in sorted(p for p in (ROOT / "webui" / "translations").iterdir() if (p / "LC_MESSAGES").is_dir()):
        if folder.name == "zh_Hans_CN":  # Babel's copy of zh_CN (make catalogs)
            continue
        untranslated = sync(folder)
        print(f"{folder.name}: {len(untranslated)} without a text" + (f": {', '.join(untranslated)}" if untranslated
                                                                       and folder.name != "en" else ""))
