// Draws the case's BPMN diagram (static/js/diagram_viewer.js: NavigatedViewer with zoom, fit, full screen and
// drill-down) and marks open and completed elements.
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  if (!box) { return; }
  if (typeof window.BpmnJS !== "function" || typeof window.JiefenDiagram !== "function") {
    box.setAttribute("data-state", "error");
    box.classList.add("diagram-failed");
    box.textContent = box.getAttribute("data-error") || "The diagram could not be drawn.";
    return;
  }
  var diagram = window.JiefenDiagram(box);
  diagram.mark(JSON.parse(box.getAttribute("data-completed") || "[]"), JSON.parse(box.getAttribute("data-open") || "[]"));
  diagram.load(null);
})();
