"""What changed between two versions of a DMN file, table by table: the decision's name, hit policy and
aggregation; input and output columns added, removed or changed (label, expression, type, name, values); rules
added, removed, moved or changed, cell by cell (which column, the old text, the new text). Columns and rules are
matched by id (dmn-js keeps an element's id while it is edited); a file that is not DMN, or a table the other side
lacks, shows as the decision added or removed. The layout (DMNDI) is not compared."""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.specs.dmn import DMN_NAMESPACES
from engine.specs.xmldoc import _load_xml


@dataclass
class FieldChange:
    """One changed value: `field` names it (name, hit_policy, aggregation, label, expression, type, output_name,
    values, description, or cell: then `column` is the column's label)."""

    field: str
    old: str | None
    new: str | None
    column: str | None = None


@dataclass
class TableChange:
    decision_id: str
    kind: str  # decision | input | output | rule
    change: str  # added | removed | changed | moved
    element_id: str
    label: str | None  # a decision's name, a column's label, a rule's description
    number: int | None = None  # a rule's number as dmn-js shows it (in the new table; the old one when removed)
    old_number: int | None = None  # a moved or changed rule's number in the old table
    fields: list[FieldChange] = field(default_factory=list)


def _text(el: etree._Element | None, ns: str) -> str | None:
    if el is None:
        return None
    text = el.find(f"{{{ns}}}text")
    return (text.text or "").strip() if text is not None else None


def _tables(data: bytes) -> dict[str, dict]:
    """The decisions of a DMN file in a comparable shape, by decision id (empty when the file is not DMN)."""
    doc = _load_xml("diff.dmn", data)
    root = doc.root
    if root is None or etree.QName(root).namespace not in DMN_NAMESPACES:
        return {}
    ns = etree.QName(root).namespace
    out: dict[str, dict] = {}
    for dec in root.findall(f"{{{ns}}}decision"):
        table = dec.find(f"{{{ns}}}decisionTable")
        dec_id = dec.get("id") or ""
        if table is None or not dec_id or dec_id in out:
            continue
        inputs = {}
        for i, el in enumerate(table.findall(f"{{{ns}}}input")):
            expr = el.find(f"{{{ns}}}inputExpression")
            inputs[el.get("id") or f"input-{i}"] = {
                "label": (el.get("label") or "").strip() or None, "expression": _text(expr, ns),
                "type": (expr.get("typeRef") or "").strip() or None if expr is not None else None,
                "values": _text(el.find(f"{{{ns}}}inputValues"), ns)}
        outputs = {}
        for i, el in enumerate(table.findall(f"{{{ns}}}output")):
            outputs[el.get("id") or f"output-{i}"] = {
                "label": (el.get("label") or "").strip() or None, "output_name": (el.get("name") or "").strip() or None,
                "type": (el.get("typeRef") or "").strip() or None,
                "values": _text(el.find(f"{{{ns}}}outputValues"), ns)}
        rules = {}
        for n, el in enumerate(table.findall(f"{{{ns}}}rule"), start=1):
            cells = {}
            for column, entry in zip(inputs, el.findall(f"{{{ns}}}inputEntry"), strict=False):
                cells[column] = (_text(entry, ns) if entry.find(f"{{{ns}}}text") is not None else "") or ""
            for column, entry in zip(outputs, el.findall(f"{{{ns}}}outputEntry"), strict=False):
                cells[column] = (_text(entry, ns) if entry.find(f"{{{ns}}}text") is not None else "") or ""
            description = el.find(f"{{{ns}}}description")
            rules[el.get("id") or f"rule-{n}"] = {
                "number": n, "cells": cells,
                "description": (description.text or "").strip() or None if description is not None else None}
        out[dec_id] = {"name": dec.get("name") or None, "hit_policy": (table.get("hitPolicy") or "UNIQUE").upper(),
                       "aggregation": (table.get("aggregation") or "").upper() or None,
                       "inputs": inputs, "outputs": outputs, "rules": rules}
    return out


def _fields(old: dict, new: dict, keys: tuple[str, ...]) -> list[FieldChange]:
    return [FieldChange(k, old.get(k), new.get(k)) for k in keys if (old.get(k) or None) != (new.get(k) or None)]


def _blank(text: str | None) -> bool:
    return text in (None, "", "-")


def _kept_in_order(old: list[str], new: list[str]) -> set[str]:
    """The rules that kept their order (a longest common subsequence): the others were moved."""
    if old == new:
        return set(new)
    lengths = [[0] * (len(new) + 1) for _ in range(len(old) + 1)]
    for i in range(len(old) - 1, -1, -1):
        for j in range(len(new) - 1, -1, -1):
            lengths[i][j] = lengths[i + 1][j + 1] + 1 if old[i] == new[j] else max(lengths[i + 1][j], lengths[i][j + 1])
    kept, i, j = set(), 0, 0
    while i < len(old) and j < len(new):
        if old[i] == new[j]:
            kept.add(old[i])
            i, j = i + 1, j + 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


def _diff_table(dec_id: str, old: dict, new: dict) -> list[TableChange]:
    changes: list[TableChange] = []
    fields = _fields(old, new, ("name", "hit_policy", "aggregation"))
    if fields:
        changes.append(TableChange(dec_id, "decision", "changed", dec_id, new["name"] or old["name"], fields=fields))
    columns_old = {**old["inputs"], **old["outputs"]}
    columns_new = {**new["inputs"], **new["outputs"]}
    for kind, keys in (("input", ("label", "expression", "type", "values")),
                       ("output", ("label", "output_name", "type", "values"))):
        before, after = old[kind + "s"], new[kind + "s"]
        for col_id, col in after.items():
            if col_id not in before:
                changes.append(TableChange(dec_id, kind, "added", col_id, col["label"] or col.get("output_name")))
            else:
                fields = _fields(before[col_id], col, keys)
                if fields:
                    changes.append(TableChange(dec_id, kind, "changed", col_id,
                                               col["label"] or before[col_id]["label"] or col.get("output_name"),
                                               fields=fields))
        for col_id, col in before.items():
            if col_id not in after:
                changes.append(TableChange(dec_id, kind, "removed", col_id, col["label"] or col.get("output_name")))

    def column_label(col_id: str) -> str:
        col = columns_new.get(col_id) or columns_old.get(col_id) or {}
        return col.get("label") or col.get("output_name") or col_id

    # the order of the rules both tables have: under FIRST (and RULE ORDER) it decides which rule wins
    common_old = [r for r in old["rules"] if r in new["rules"]]
    common_new = [r for r in new["rules"] if r in old["rules"]]
    moved = set(common_new) - _kept_in_order(common_old, common_new)
    for rule_id, rule in new["rules"].items():
        before = old["rules"].get(rule_id)
        if before is None:
            changes.append(TableChange(dec_id, "rule", "added", rule_id, rule["description"], rule["number"]))
            continue
        fields = _fields(before, rule, ("description",))
        for col_id in columns_new:
            was, now = before["cells"].get(col_id), rule["cells"].get(col_id)
            if col_id not in columns_old:
                if not _blank(now):  # a new column's cell says something in this rule
                    fields.append(FieldChange("cell", None, now, column_label(col_id)))
            elif (was or "") != (now or ""):
                fields.append(FieldChange("cell", was, now, column_label(col_id)))
        if fields or rule_id in moved:
            changes.append(TableChange(dec_id, "rule", "changed" if fields else "moved", rule_id,
                                       rule["description"] or before["description"], rule["number"],
                                       before["number"], fields))
    for rule_id, rule in old["rules"].items():
        if rule_id not in new["rules"]:
            changes.append(TableChange(dec_id, "rule", "removed", rule_id, rule["description"], rule["number"]))
    return changes


def diff_decisions(old: bytes, new: bytes) -> list[TableChange]:
    """What `new` changes in `old`, decision by decision (in the new file's order, then the removed ones)."""
    before, after = _tables(old), _tables(new)
    changes: list[TableChange] = []
    for dec_id, table in after.items():
        if dec_id not in before:
            changes.append(TableChange(dec_id, "decision", "added", dec_id, table["name"]))
        else:
            changes += _diff_table(dec_id, before[dec_id], table)
    for dec_id, table in before.items():
        if dec_id not in after:
            changes.append(TableChange(dec_id, "decision", "removed", dec_id, table["name"]))
    return changes
