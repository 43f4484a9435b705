"""The shipped process files open in bpmn-js (the viewer the web UI uses, and the core of Camunda Modeler 7).

bpmn-js reports every problem it meets while importing (unknown elements, broken references, missing or dangling
diagram elements) as an import warning; a file a designer can open and edit cleanly has none. Runs the production
viewer bundle from node_modules (installed by `npm install` from package.json) in Debian's chromium, through
pytest-playwright (launch options in tests/browser/conftest.py: /usr/bin/chromium, no sandbox, no downloads).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
PROCESS_DIR = ROOT / "processes"
PROCESS_IDS = ["judicial_confirmation", "dispute", "petition_revisit"]
VIEWER = ROOT / "node_modules" / "bpmn-js" / "dist" / "bpmn-viewer.production.min.js"
CHROMIUM = Path("/usr/bin/chromium")
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"

pytestmark = [
    pytest.mark.skipif(not VIEWER.exists(),
                       reason=f"bpmn-js is not installed ({VIEWER.relative_to(ROOT)} missing): run `npm install`"),
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"),
]

IMPORT = """async (xml) => {
    const container = document.getElementById('canvas');
    container.innerHTML = '';
    const viewer = new BpmnJS({ container });
    try {
        const result = await viewer.importXML(xml);
        const ids = viewer.get('elementRegistry').getAll().map(e => e.id);
        viewer.get('canvas').zoom('fit-viewport');
        return { error: null, warnings: result.warnings.map(w => w.message), ids };
    } catch (err) {
        return { error: String(err), warnings: (err.warnings || []).map(w => w.message), ids: [] };
    } finally {
        viewer.destroy();
    }
}"""


@pytest.fixture
def viewer(page):
    page.set_content('<!doctype html><html><body><div id="canvas" style="width:1600px;height:900px"></div>'
                     '</body></html>')
    page.add_script_tag(path=str(VIEWER))
    assert page.evaluate("typeof BpmnJS") == "function"
    return page


def _model_ids(xml: bytes) -> set[str]:
    """Ids of the elements the diagram must show: participant, lanes, flow nodes and sequence flows."""
    root = etree.fromstring(xml)
    wanted = {"participant", "lane", "sequenceFlow", "startEvent", "endEvent", "intermediateCatchEvent",
              "intermediateThrowEvent", "boundaryEvent", "userTask", "scriptTask", "callActivity", "subProcess",
              "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "serviceTask",
              "manualTask", "task", "receiveTask", "sendTask"}
    return {el.get("id") for el in root.iter() if isinstance(el.tag, str)
            and etree.QName(el).namespace == BPMN and etree.QName(el).localname in wanted}


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_process_imports_without_warnings(viewer, pid):
    xml = (PROCESS_DIR / f"{pid}.bpmn").read_bytes()
    result = viewer.evaluate(IMPORT, xml.decode("utf-8"))
    assert result["error"] is None, result
    assert result["warnings"] == [], "\n".join(result["warnings"])
    missing = _model_ids(xml) - set(result["ids"])
    assert not missing, f"not drawn: {sorted(missing)}"
