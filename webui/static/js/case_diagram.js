// Draws the case's BPMN diagram with bpmn-js (NavigatedViewer) and marks open and completed elements.
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  if (!box) { return; }

  function fail(error) {
    box.setAttribute("data-state", "error");
    box.classList.add("diagram-failed");
    box.textContent = box.getAttribute("data-error") || "The diagram could not be drawn.";
    if (window.console && error) { window.console.error(error); }
  }

  if (typeof window.BpmnJS !== "function") { fail(new Error("bpmn-js did not load")); return; }

  var viewer = new window.BpmnJS({ container: box });
  var open = JSON.parse(box.getAttribute("data-open") || "[]");
  var completed = JSON.parse(box.getAttribute("data-completed") || "[]");

  // Fit the whole process with a margin, so the bpmn.io watermark (bottom right) covers nothing.
  function fit(canvas) {
    canvas.zoom("fit-viewport", "auto");
    var view = canvas.viewbox();
    var inner = view.inner, outer = view.outer;
    if (!inner.width || !outer.width) { return; }
    var scale = Math.min(outer.width / (inner.width + 60), (outer.height - 40) / (inner.height + 30), 1.2);
    var width = outer.width / scale, height = outer.height / scale;
    canvas.viewbox({ x: inner.x - (width - inner.width) / 2, y: inner.y - 15 / scale, width: width, height: height });
  }

  function mark(canvas, registry, ids, marker) {
    ids.forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, marker); }
    });
  }

  fetch(box.getAttribute("data-xml-url"), { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      mark(canvas, registry, completed.filter(function (id) { return open.indexOf(id) < 0; }), "jf-completed");
      mark(canvas, registry, open, "jf-open");
      fit(canvas);
      box.setAttribute("data-state", "ready");
      var timer = null;
      window.addEventListener("resize", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { canvas.resized(); fit(canvas); }, 100);
      });
    })
    .catch(fail);
})();
