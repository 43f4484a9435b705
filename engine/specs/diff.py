"""What changed between two versions of a BPMN file, element by element (by id): added, removed, and changed with
what changed (attributes by name; documentation, condition, form, properties, timer … by part). The diagram's
layout (BPMN DI) is not compared: moving a shape changes nothing a case runs."""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.specs.xmldoc import BPMN_NS, CAMUNDA_NS, _load_doc

# Children that are part of their owner's meaning, compared with it rather than listed on their own.
_FOLDED = ("EventDefinition", "LoopCharacteristics")
# References kept in step with the flows themselves: a new flow already shows as added.
_NOISE = {"incoming", "outgoing"}
_PARTS = {"conditionExpression": "condition", "formData": "form", "properties": "properties",
          "inputOutput": "inputs/outputs", "timerEventDefinition": "timer", "multiInstanceLoopCharacteristics":
          "multi-instance", "flowNodeRef": "lane members", "script": "script", "text": "text"}


@dataclass
class ElementChange:
    element_id: str
    change: str  # added | removed | changed
    type: str  # the BPMN element (userTask, sequenceFlow, …)
    name: str | None
    what: list[str] = field(default_factory=list)  # for `changed`: attribute names and parts
    # a sequence flow's ends ({"name", "type"} of its source and target) and condition: what names an unnamed
    # flow for people ("研判 → 分流"), as its id does not
    source: dict | None = None
    target: dict | None = None
    condition: str | None = None


def _attr_name(key: str) -> str:
    qname = etree.QName(key)
    if qname.namespace == CAMUNDA_NS:
        return f"camunda:{qname.localname}"
    return qname.localname


# BPMN attributes written out at their default value mean the same as left out (bpmn-js leaves them out).
_DEFAULTS = {"cancelActivity": "true", "isInterrupting": "true", "isForCompensation": "false",
             "parallelMultiple": "false", "instantiate": "false", "triggeredByEvent": "false",
             "isSequential": "false", "completionQuantity": "1", "startQuantity": "1", "isClosed": "false",
             "isImmediate": "true", "implementation": "##unspecified"}


def _attrs(el: etree._Element) -> dict[str, str]:
    return {k: v for k, v in el.attrib.items() if _DEFAULTS.get(k) != v}


def _canon(el: etree._Element) -> tuple:
    """An element's content as a comparable value: tag, attributes, trimmed text and children, ignoring the
    whitespace and attribute order a modeler writes, and the order of children of different kinds (bpmn-js
    writes a form field's properties before its validation); the order of same-kind children (form fields,
    enum values) is kept."""
    children = sorted((_canon(c) for c in el if isinstance(c.tag, str)), key=lambda c: c[0])
    return (el.tag, tuple(sorted(_attrs(el).items())), (el.text or "").strip(), tuple(children))


def _folded(el: etree._Element) -> bool:
    local = etree.QName(el).localname
    return local.endswith(_FOLDED)


def _elements(data: bytes) -> dict[str, etree._Element]:
    doc = _load_doc("diff.bpmn", data)
    if doc.root is None:
        return {}
    out = {}
    for el in doc.root.iter(f"{{{BPMN_NS}}}*"):
        el_id = el.get("id")
        if el_id and el is not doc.root and not _folded(el) and el_id not in out:
            out[el_id] = el
    return out


def _parts(el: etree._Element) -> dict[str, list[tuple]]:
    """The content of an element that is not another listed element: its id-less and folded children, by part
    (extensionElements are opened: a form and properties are parts of their own)."""
    parts: dict[str, list[tuple]] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if local in _NOISE or (child.get("id") and not _folded(child) and etree.QName(child).namespace == BPMN_NS):
            continue
        if local == "extensionElements":
            for ext in child:
                if isinstance(ext.tag, str):
                    name = etree.QName(ext).localname
                    parts.setdefault(_PARTS.get(name, name), []).append(_canon(ext))
            continue
        parts.setdefault(_PARTS.get(local, local), []).append(_canon(child))
    return parts


def _what_changed(old: etree._Element, new: etree._Element) -> list[str]:
    what = []
    old_attrs, new_attrs = _attrs(old), _attrs(new)
    keys = (set(old_attrs) | set(new_attrs)) - {"id"}
    what += sorted(_attr_name(k) for k in keys if old_attrs.get(k) != new_attrs.get(k))
    old_parts, new_parts = _parts(old), _parts(new)
    what += sorted(p for p in set(old_parts) | set(new_parts) if old_parts.get(p) != new_parts.get(p))
    if old.tag != new.tag:
        what.insert(0, "type")
    return what


_CONDITION_MAX = 80  # characters of a flow's condition shown beside its ends


def _flow_ends(change: ElementChange, el: etree._Element, elements: dict[str, etree._Element]) -> ElementChange:
    """A sequence flow's change with its ends and condition (from the side it is read from)."""
    if change.type != "sequenceFlow":
        return change

    def end(ref: str | None) -> dict | None:
        node = elements.get(ref or "")
        return {"name": node.get("name"), "type": etree.QName(node).localname} if node is not None else None

    change.source, change.target = end(el.get("sourceRef")), end(el.get("targetRef"))
    condition = el.find(f"{{{BPMN_NS}}}conditionExpression")
    text = " ".join((condition.text or "").split()) if condition is not None else ""
    change.condition = (text[:_CONDITION_MAX - 1] + "…" if len(text) > _CONDITION_MAX else text) or None
    return change


def diff_definitions(old: bytes, new: bytes) -> list[ElementChange]:
    """Elements of `new` not in `old` (added), of `old` not in `new` (removed), and in both but different
    (changed, with what): in the new file's order, then the removed ones in the old file's order. A sequence
    flow carries its ends and condition (read from the new file; a removed one from the old)."""
    before, after = _elements(old), _elements(new)
    changes = []
    for el_id, el in after.items():
        local = etree.QName(el).localname
        if el_id not in before:
            changes.append(_flow_ends(ElementChange(el_id, "added", local, el.get("name")), el, after))
            continue
        what = _what_changed(before[el_id], el)
        if what:
            changes.append(_flow_ends(ElementChange(el_id, "changed", local,
                                                    el.get("name") or before[el_id].get("name"), what), el, after))
    for el_id, el in before.items():
        if el_id not in after:
            changes.append(_flow_ends(ElementChange(el_id, "removed", etree.QName(el).localname, el.get("name")),
                                      el, before))
    return changes
