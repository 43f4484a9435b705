"""A simple automatic layout for BPMN files that carry no diagram (no BPMNDiagram / DI section).

bpmn-js can only draw what the file's diagram interchange describes; a hand-written or generated process file
often has none. For those, the case page gets a left-to-right layered layout: columns by distance from the
start event along sequence flows, boundary events on their host's lower edge, orthogonal edges.
"""
from __future__ import annotations

import logging
from collections import deque

from lxml import etree

log = logging.getLogger(__name__)

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"

COLUMN, ROW, MARGIN = 160, 130, 40
NOT_NODES = {"sequenceFlow", "laneSet", "boundaryEvent", "dataObject", "dataObjectReference", "dataStoreReference",
             "textAnnotation", "association", "extensionElements", "documentation", "ioSpecification", "property"}


def _local(element) -> str:
    return etree.QName(element).localname


def _size(kind: str) -> tuple[int, int]:
    if kind.endswith("Event"):
        return 36, 36
    if kind.endswith("Gateway"):
        return 50, 50
    return 100, 80


def has_diagram(root) -> bool:
    return root.find(f".//{{{BPMNDI}}}BPMNShape") is not None


def has_diagram_xml(xml: bytes) -> bool:
    return b"BPMNShape" in xml


def with_layout(xml: bytes) -> tuple[bytes, bool]:
    """The XML unchanged if it has a diagram, else with a generated one; the flag says whether it was added."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError:
        return xml, False
    if has_diagram(root):
        return xml, False
    process = next((p for p in root.iter(f"{{{BPMN}}}process") if p.get("isExecutable") != "false"), None)
    if process is None:
        return xml, False
    diagram = etree.SubElement(root, f"{{{BPMNDI}}}BPMNDiagram", nsmap={"bpmndi": BPMNDI, "dc": DC, "di": DI})
    diagram.set("id", "jf_auto_diagram")
    plane = etree.SubElement(diagram, f"{{{BPMNDI}}}BPMNPlane", id="jf_auto_plane", bpmnElement=process.get("id"))
    _lay_out(process, plane)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), True


def _lay_out(process, plane) -> None:
    nodes = {el.get("id"): _local(el) for el in process if isinstance(el.tag, str) and el.get("id")
             and _local(el) not in NOT_NODES}
    flows = [(f.get("id"), f.get("sourceRef"), f.get("targetRef")) for f in process.iter(f"{{{BPMN}}}sequenceFlow")
             if f.getparent() is process]
    boundaries = [(b.get("id"), b.get("attachedToRef")) for b in process if isinstance(b.tag, str)
                  and _local(b) == "boundaryEvent"]
    outgoing: dict[str, list[str]] = {}
    for _fid, src, dst in flows:
        outgoing.setdefault(src, []).append(dst)
    host_of = dict(boundaries)

    # columns: breadth-first from the start events; a boundary event's targets follow its host
    column: dict[str, int] = {}
    queue = deque()
    incoming = {dst for _f, _s, dst in flows}
    for node_id, kind in nodes.items():
        if kind == "startEvent" or (node_id not in incoming and node_id not in host_of):
            column[node_id] = 0
            queue.append(node_id)
    while queue:
        current = queue.popleft()
        successors = list(outgoing.get(current, []))
        for boundary, host in boundaries:
            if host == current:
                successors += outgoing.get(boundary, [])
        for nxt in successors:
            if nxt in nodes and nxt not in column:
                column[nxt] = column[current] + 1
                queue.append(nxt)
    for node_id in nodes:
        column.setdefault(node_id, max(column.values(), default=-1) + 1)

    rows_used: dict[int, int] = {}
    row: dict[str, int] = {}
    for node_id in sorted(nodes, key=lambda n: (column[n], list(nodes).index(n))):
        row[node_id] = rows_used.get(column[node_id], 0)
        rows_used[column[node_id]] = row[node_id] + 1

    bounds: dict[str, tuple[int, int, int, int]] = {}
    for node_id, kind in nodes.items():
        width, height = _size(kind)
        cx, cy = MARGIN + 50 + column[node_id] * COLUMN, MARGIN + 40 + row[node_id] * ROW
        bounds[node_id] = (cx - width // 2, cy - height // 2, width, height)
        attrs = {"id": f"{node_id}_di", "bpmnElement": node_id}
        if kind in ("subProcess", "transaction", "adHocSubProcess"):
            attrs["isExpanded"] = "false"
        if kind.endswith("Gateway"):
            attrs["isMarkerVisible"] = "true"
        _shape(plane, attrs, bounds[node_id])
    seen_per_host: dict[str, int] = {}
    for boundary, host in boundaries:
        if host not in bounds:
            continue
        hx, hy, hw, hh = bounds[host]
        index = seen_per_host.get(host, 0)
        seen_per_host[host] = index + 1
        # 70 apart: far enough that the labels bpmn-js centres below neighbouring events do not overlap
        bounds[boundary] = (hx + 2 + index * 70, hy + hh - 18, 36, 36)
        _shape(plane, {"id": f"{boundary}_di", "bpmnElement": boundary}, bounds[boundary])
    for flow_id, src, dst in flows:
        if src in bounds and dst in bounds:
            _edge(plane, flow_id, bounds[src], bounds[dst], from_boundary=src in host_of)


def _shape(plane, attrs: dict, box: tuple[int, int, int, int]):
    shape = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNShape", **attrs)
    x, y, w, h = box
    etree.SubElement(shape, f"{{{DC}}}Bounds", x=str(x), y=str(y), width=str(w), height=str(h))
    return shape


def _edge(plane, flow_id: str, src: tuple, dst: tuple, from_boundary: bool) -> None:
    sx, sy, sw, sh = src
    tx, ty, tw, th = dst
    if from_boundary:  # leave downwards from the host's edge, then across
        points = [(sx + sw // 2, sy + sh), (sx + sw // 2, ty + th // 2), (tx, ty + th // 2)]
    else:
        start, end = (sx + sw, sy + sh // 2), (tx, ty + th // 2)
        if tx < sx:  # a loop back: go below both shapes
            below = max(sy + sh, ty + th) + 25
            points = [(sx + sw // 2, sy + sh), (sx + sw // 2, below), (tx + tw // 2, below), (tx + tw // 2, ty + th)]
        elif start[1] == end[1]:
            points = [start, end]
        else:
            middle = (start[0] + end[0]) // 2
            points = [start, (middle, start[1]), (middle, end[1]), end]
    edge = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNEdge", id=f"{flow_id}_di", bpmnElement=flow_id)
    for x, y in points:
        etree.SubElement(edge, f"{{{DI}}}waypoint", x=str(x), y=str(y))
