// Draws the newer side of a version comparison with bpmn-js (NavigatedViewer) and marks the elements it adds or
// changes, with the modeler's diff markers (jf-added, jf-changed). Data from #compare-config (no inline code: CSP).
(function () {
  "use strict";
  var box = document.getElementById("compare-diagram");
  var source = document.getElementById("compare-config");
  if (!box || !source) { return; }
  var config = JSON.parse(source.textContent);

  function fail(error) {
    box.setAttribute("data-state", "error");
    box.textContent = box.getAttribute("data-error");
    if (window.console && error) { window.console.error(error); }
  }

  if (typeof window.BpmnJS !== "function") { fail(new Error("bpmn-js did not load")); return; }
  var viewer = new window.BpmnJS({ container: box });
  fetch(config.xmlUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport", "auto");
      var marked = 0;
      config.changes.forEach(function (c) {
        if (registry.get(c.element_id)) { canvas.addMarker(c.element_id, "jf-" + c.change); marked += 1; }
      });
      box.setAttribute("data-marked", String(marked));
      box.setAttribute("data-state", "ready");
    })
    .catch(fail);
}());
