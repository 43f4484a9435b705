"""Render processes/*.bpmn to docs/img/<id>.png with bpmn-js in Debian's headless Chromium.

Run after changing a process: `.venv/bin/python scripts/render_diagrams.py` (needs `make node` and chromium).
"""
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
VIEWER = ROOT / "node_modules" / "bpmn-js" / "dist" / "bpmn-viewer.production.min.js"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main() -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for path in sorted((ROOT / "processes").glob("*.bpmn")):
            page = browser.new_page(viewport={"width": 2400, "height": 1400}, device_scale_factor=1)
            page.set_content("<html><body style='margin:0;background:#fff'>"
                             "<div id='c' style='width:2400px;height:1400px'></div></body></html>")
            page.add_script_tag(path=str(VIEWER))
            warnings = page.evaluate("""async (xml) => {
                const viewer = new BpmnJS({container: '#c'});
                const result = await viewer.importXML(xml);
                const canvas = viewer.get('canvas');
                const box = canvas.viewbox().inner;
                document.getElementById('c').style.height = Math.ceil(2400 * box.height / box.width + 40) + 'px';
                canvas.resized(); canvas.zoom('fit-viewport');
                return result.warnings.length;
            }""", path.read_text(encoding="utf-8"))
            height = page.evaluate("document.getElementById('c').offsetHeight")
            page.set_viewport_size({"width": 2400, "height": height})
            page.evaluate("() => {}")
            out = ROOT / "docs" / "img" / f"{path.stem}.png"
            page.screenshot(path=str(out), full_page=True)
            print(f"{out.relative_to(ROOT)}: {warnings} import warnings")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
