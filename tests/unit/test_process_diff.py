"""engine/specs/diff.py: a draft compared with the version it came from, element by element."""
from __future__ import annotations

from pathlib import Path

from engine.specs.diff import diff_definitions

DISPUTE = (Path(__file__).resolve().parents[2] / "processes" / "dispute.bpmn").read_bytes()


def _changes(new: bytes):
    return {(c.element_id, c.change): c for c in diff_definitions(DISPUTE, new)}


def test_identical_files_and_layout_moves_differ_in_nothing():
    assert diff_definitions(DISPUTE, DISPUTE) == []
    moved = DISPUTE.replace(b'<dc:Bounds x="', b'<dc:Bounds x="1', 1)  # a shape moved: not a change
    assert diff_definitions(DISPUTE, moved) == []


def test_added_removed_and_changed_elements_say_what_changed():
    new = (DISPUTE.replace('name="研判"'.encode(), 'name="研判（分级）"'.encode())
           .replace(b'<bpmn:sequenceFlow id="flow_start__init_case" sourceRef="start" targetRef="init_case" />',
                    b'<bpmn:sequenceFlow id="flow_new" sourceRef="start" targetRef="init_case" />'))
    changes = _changes(new)
    assert changes[("screen", "changed")].what == ["name"]
    assert changes[("flow_new", "added")].type == "sequenceFlow"
    assert changes[("flow_start__init_case", "removed")].name is None
    assert len(changes) == 3  # the start event's <outgoing> reference is not a change of its own


def test_form_documentation_and_timer_are_parts_of_their_element():
    text = DISPUTE.decode()
    first_field = text.index("<camunda:formField", text.index('id="register"'))
    new = (text[:first_field] + text[first_field:].replace('label="', 'label="改 ', 1)).encode()
    assert [(c.element_id, c.what) for c in diff_definitions(DISPUTE, new)] == [("register", ["form"])]
    timer = text.index("<bpmn:timerEventDefinition")
    owner = text.rindex("<bpmn:boundaryEvent", 0, timer)
    owner_id = text[owner:].split('id="', 1)[1].split('"', 1)[0]
    duration = text.index("<bpmn:time", timer + 10)
    changed = text[:duration] + text[duration:].replace(">", "> ", 1)  # whitespace only: no change
    assert diff_definitions(DISPUTE, changed.encode()) == []
    body = text.index(">", duration) + 1
    changed = text[:body] + "1" + text[body:]
    assert [(c.element_id, c.what) for c in diff_definitions(DISPUTE, changed.encode())] == [(owner_id, ["timer"])]


def test_what_bpmn_js_rewrites_is_no_change_but_field_order_is():
    text = DISPUTE.decode()
    start = text.index("<camunda:formField", text.index('id="dispatch"'))
    end = text.index("</camunda:formField>", start)
    field = text[start:end]
    assert "<camunda:validation>" in field and "<camunda:properties>" in field
    validation = field[field.index("<camunda:validation>"):field.index("</camunda:validation>") + 21]
    swapped = field.replace(validation, "").replace("</camunda:properties>", "</camunda:properties>" + validation, 1)
    assert swapped != field
    assert diff_definitions(DISPUTE, (text[:start] + swapped + text[end:]).encode()) == []
    assert 'cancelActivity="true"' in text
    defaults = text.replace(' cancelActivity="true"', "")  # what bpmn-js writes: the default left out
    assert diff_definitions(DISPUTE, defaults.encode()) == []
    # two fields swapped: the form changed (the page shows them in the new order)
    second = text.index("<camunda:formField", end)
    second_end = text.index("</camunda:formField>", second) + len("</camunda:formField>")
    first_end = end + len("</camunda:formField>")
    reordered = text[:start] + text[second:second_end] + text[first_end:second] + text[start:first_end] + text[second_end:]
    assert [(c.element_id, c.what) for c in diff_definitions(DISPUTE, reordered.encode())] == [("dispatch", ["form"])]


def test_a_sequence_flow_carries_its_ends_and_condition():
    """The change lists name an unnamed flow by its ends ("研判 → 分流") and its condition, not by its id."""
    text = DISPUTE.decode()
    start = text.index('<bpmn:sequenceFlow id="flow_gw_consent__guide_channels"')
    end = text.index("</bpmn:sequenceFlow>", start)
    changed = (text[:start] + text[start:end].replace("== 'refused'", "== 'declined'") + text[end:])
    new = changed.replace('<bpmn:sequenceFlow id="flow_screen__gw_risk" sourceRef="screen" targetRef="gw_risk" />',
                          '<bpmn:sequenceFlow id="flow_new" sourceRef="screen" targetRef="gw_risk" />').encode()
    changes = _changes(new)
    added = changes[("flow_new", "added")]
    assert added.source == {"name": "研判", "type": "userTask"} and added.target["type"] == "exclusiveGateway"
    assert added.condition is None
    assert changes[("flow_screen__gw_risk", "removed")].source["name"] == "研判"  # read from the old file
    condition = changes[("flow_gw_consent__guide_channels", "changed")]
    assert condition.what == ["condition"] and condition.condition == "mediation_consent == 'declined'"
    assert condition.target["name"] and condition.source["type"] == "exclusiveGateway"
    long = new.replace(b"== 'declined'", b"== '" + b"x" * 200 + b"'")
    [flow] = [c for c in diff_definitions(DISPUTE, long) if c.element_id == "flow_gw_consent__guide_channels"]
    assert len(flow.condition) == 80 and flow.condition.endswith("…")
    task = changes.get(("screen", "changed"))
    assert task is None  # only the flows changed
