"""One BPMN file loaded safely (no DOCTYPE, entities, DTDs or network), and how messages name its parts."""
from __future__ import annotations

import re

from lxml import etree

from engine.errors import Problem


BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"
# Pre-release BPMN 2.0 drafts used this namespace; some old tools still export it.
OLD_BPMN_NS = "http://schema.omg.org/spec/BPMN/2.0"

_XML_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           dtd_validation=False, remove_pis=False)


def _b(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _c(tag: str) -> str:
    return f"{{{CAMUNDA_NS}}}{tag}"


class _Doc:
    """One BPMN file: its bytes, safe lxml tree and the problems found in it."""

    def __init__(self, name: str, data: bytes):
        self.name = name
        self.data = data
        self.tree: etree._ElementTree | None = None
        self.root: etree._Element | None = None
        self.fatal = False  # unreadable, unsafe, not BPMN or Camunda 8: no further checks
        self.problems: list[Problem] = []
        self._ids: dict[str, etree._Element] | None = None
        # JUEL values that could not be translated (juel.translate_document): (element, attribute) -> why
        self.juel_refused: dict[tuple[etree._Element, str | None], str] = {}

    def problem(self, message: str, el: etree._Element | None = None, element_id: str | None = None,
                line: int | None = None) -> None:
        if el is not None:
            owner = _owner(el)
            if element_id is None and owner is not None:
                element_id = owner.get("id")
            if line is None:
                line = el.sourceline
        if line is None and element_id:
            line = self.line_of(element_id)
        self.problems.append(Problem(message=message, element_id=element_id, line=line, file=self.name))

    @property
    def ids(self) -> dict[str, etree._Element]:
        if self._ids is None:
            self._ids = {}
            if self.root is not None:
                for el in self.root.iter():
                    if isinstance(el.tag, str) and _is_model_element(el):
                        el_id = el.get("id")
                        if el_id and el_id not in self._ids:
                            self._ids[el_id] = el
        return self._ids

    def line_of(self, element_id: str | None) -> int | None:
        el = self.ids.get(element_id) if element_id else None
        return el.sourceline if el is not None else None

    @property
    def processes(self) -> list[etree._Element]:
        return [] if self.root is None else self.root.findall(_b("process"))


def _is_model_element(el: etree._Element) -> bool:
    ns = etree.QName(el).namespace
    return ns in (BPMN_NS, BPMNDI_NS, DC_NS, DI_NS)


# Parts of an element that may carry their own id but are not what a designer clicks on in the modeler.
_INNER_TAGS = frozenset(_b(t) for t in (
    "conditionExpression", "condition", "timeDate", "timeDuration", "timeCycle", "loopCardinality",
    "completionCondition", "loopCondition", "script", "multiInstanceLoopCharacteristics",
    "standardLoopCharacteristics", "extensionElements", "documentation", "ioSpecification", "dataInput",
    "dataOutput", "inputSet", "outputSet", "dataInputAssociation", "dataOutputAssociation", "formalExpression",
))


def _owner(el: etree._Element) -> etree._Element | None:
    """Nearest BPMN element with an id that the modeler shows (the event, not its timer definition)."""
    node: etree._Element | None = el
    while node is not None:
        tag = node.tag
        if (isinstance(tag, str) and tag.startswith(f"{{{BPMN_NS}}}") and node.get("id")
                and tag not in _INNER_TAGS and not tag.endswith("EventDefinition")):
            return node
        node = node.getparent()
    return None


def _scan_text(data: bytes) -> str:
    """Text good enough to find markup keywords, whatever the declared encoding."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if data[:4] == b"<\x00?\x00":
        return data.decode("utf-16-le", errors="replace")
    if data[:4] == b"\x00<\x00?":
        return data.decode("utf-16-be", errors="replace")
    return data.decode("latin-1")  # keeps every byte; the keywords are ASCII


def _load_doc(name: str, data: bytes) -> _Doc:
    """Safely parse one file; file-level problems (empty, unsafe, malformed, not BPMN, Camunda 8) are fatal."""
    doc = _load_xml(name, data)
    if doc.fatal:
        return doc
    root = doc.root
    assert root is not None

    qname = etree.QName(root)
    if qname.namespace != BPMN_NS or qname.localname != "definitions":
        if qname.namespace == OLD_BPMN_NS:
            why = (f"it uses the pre-release BPMN namespace '{OLD_BPMN_NS}'; re-export it as BPMN 2.0 "
                   f"('{BPMN_NS}')")
        elif qname.namespace != BPMN_NS:
            why = (f"its root element <{qname.localname}> is not in the BPMN 2.0 namespace '{BPMN_NS}' "
                   f"(found '{qname.namespace or 'no namespace'}')")
        else:
            why = f"its root element is <{qname.localname}>, not <definitions>"
        doc.problem(f"This is not a BPMN 2.0 file: {why}.", line=root.sourceline)
        doc.fatal = True
        return doc

    if _is_camunda8(root):
        first = next(root.iter(f"{{{ZEEBE_NS}}}*"), None)
        doc.problem("This file was made for Camunda 8 (Zeebe): it uses the zeebe: extension namespace. Camunda 8 "
                    "files are not supported. In the Camunda Modeler create or export the diagram for "
                    "'Camunda Platform 7' (and use camunda: properties and Python expressions).",
                    el=first if first is not None else root)
        doc.fatal = True
    return doc


def _load_xml(name: str, data: bytes) -> _Doc:
    """Safely parse one XML file (BPMN or DMN): empty, unsafe (a DOCTYPE) and malformed files are fatal."""
    doc = _Doc(name, data)
    if not data.strip():
        doc.problem("The file is empty.", line=1)
        doc.fatal = True
        return doc

    # Refuse DOCTYPEs before lxml sees them: entity declarations are XXE / billion-laughs vectors and no
    # BPMN modeler writes a DOCTYPE at all.
    text = _scan_text(data)
    root_tag = re.search(r"<[A-Za-z_:]", text)  # a DOCTYPE can only come before the root element
    pos = text.find("<!DOCTYPE", 0, root_tag.start() if root_tag else len(text))
    if pos >= 0:
        line = text.count("\n", 0, pos) + 1
        if "<!ENTITY" in text:
            doc.problem("The file declares XML entities in a DOCTYPE. Entities are not allowed in BPMN files "
                        "(they can read files from the server or expand to gigabytes); remove the DOCTYPE.",
                        line=line)
        elif re.match(r"<!DOCTYPE\s+[^\s>\[]+\s+(SYSTEM|PUBLIC)\b", text[pos:]):
            doc.problem("The file refers to an external DTD in its DOCTYPE. External DTDs are not allowed in BPMN "
                        "files (they make the server fetch other files); remove the DOCTYPE.", line=line)
        else:
            doc.problem("The file contains a DOCTYPE declaration, which BPMN files must not have; remove it.",
                        line=line)
        doc.fatal = True
        return doc

    try:
        root = etree.fromstring(data, etree.XMLParser(**_XML_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        msg = re.sub(r", line \d+, column \d+$", "", exc.msg or "syntax error")
        doc.problem(f"The file is not well-formed XML: {msg} (line {exc.lineno}, column {exc.position[1]}).",
                    line=exc.lineno)
        doc.fatal = True
        return doc
    tree = root.getroottree()
    info = tree.docinfo
    if info.internalDTD is not None or info.system_url or info.public_id:
        # The byte scan missed it (an unusual encoding): same rule, nothing was expanded or fetched.
        doc.problem("The file contains a DOCTYPE declaration, which BPMN files must not have; remove it.", line=1)
        doc.fatal = True
        return doc
    doc.tree, doc.root = tree, root
    return doc


def _is_camunda8(root: etree._Element) -> bool:
    if root.get(f"{{{MODELER_NS}}}executionPlatform", "").strip().lower() == "camunda cloud":
        return True
    return bool(root.xpath("boolean(//namespace::*[. = $ns])", ns=ZEEBE_NS))


def _attr_label(attr: str) -> str:
    qname = etree.QName(attr)
    prefix = {CAMUNDA_NS: "camunda:", BPMN_NS: "", ZEEBE_NS: "zeebe:"}.get(qname.namespace or "", "")
    return f"{prefix}{qname.localname}"


def _tag_label(el: etree._Element) -> str:
    qname = etree.QName(el)
    prefix = {CAMUNDA_NS: "camunda:", BPMN_NS: "bpmn:"}.get(qname.namespace or "", "")
    return f"{prefix}{qname.localname}"
