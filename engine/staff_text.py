"""Texts from BPMN documentation as staff read them: the statute cited, not the designers' notes.

Process documentation tags each rule with its source for designers and reviewers — `[L]` law, `[P]` local
practice, `[D]` our design, `[L/P]` — and may name jiefen properties (`jiefen.move_case=parent`) or sections of
our own docs (`domain.md §4`, `督办阶梯 §4`). Staff reading a deadline's basis see the rule and its statute only."""
from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

_TAG = re.compile(r"\[(?:L|P|D)(?:/(?:L|P|D))*\]\s*")
_REF = re.compile(r"jiefen\.[A-Za-z_][\w.]*|domain\.md|§\s*\d")
_PAREN = re.compile(r"([（(])([^（）()]*)([）)])")
_TOKEN = re.compile(r"\s*(?:属性\s*)?jiefen\.[A-Za-z_][\w.]*(?:=[\w@.]+)?\s*|\s*(?:domain\.md\s*)?§\s*[\d.–-]+\s*"
                    r"|\s*domain\.md\s*")


def _part(text: str) -> str:
    """One clause of a parenthesis: kept as it is without a reference; after the colon that explains the
    reference (`jiefen.move_case=parent：接收后案件归属上级中心` → `接收后案件归属上级中心`); else dropped."""
    found = _REF.search(text)
    if not found:
        return text
    rest = text[found.end():]
    colon = max(rest.rfind("："), rest.rfind(":"))
    return rest[colon + 1:].strip() if colon >= 0 else ""


def _paren(match: re.Match) -> str:
    opening, inner, closing = match.groups()
    if not _REF.search(inner):
        return match.group(0)
    pieces = re.split(r"([，；,;])", inner)
    kept: list[str] = []
    for n in range(0, len(pieces), 2):
        clause = _part(pieces[n]).strip()
        if clause:
            if kept:
                kept.append(pieces[n - 1])
            kept.append(clause)
    return f"{opening}{''.join(kept)}{closing}" if kept else ""


def staff_text(text: str | None) -> str | None:
    """`text` without source tags, jiefen property names and references to our docs (None stays None)."""
    if not text:
        return text
    out = _TAG.sub("", text)
    out = _PAREN.sub(_paren, out)
    out = _TOKEN.sub("", out)  # a reference outside parentheses
    out = re.sub(r"[（(]\s*[）)]", "", out)
    out = re.sub(r"[ \t]{2,}", " ", out)
    return out.strip()
