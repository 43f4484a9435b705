/* The auditor's replay (/audit/cases/<id>): step through the case's history; at each record the diagram marks what
 * was completed and what was waiting then (static/js/diagram_viewer.js: the version the case ran on then, with
 * zoom, fit, full screen and drill-down), and the data table shows the case data as it
 * then was, with what this record changed marked. Steps come from <script type="application/json" id="replay-steps">. */
(function () {
  "use strict";
  var steps = JSON.parse(document.getElementById("replay-steps").textContent);
  var text = JSON.parse(document.getElementById("replay-text").textContent);
  var slider = document.getElementById("replay-slider");
  var box = document.getElementById("replay-diagram");
  var viewer = null;
  if (!steps.length) { return; }

  function el(tag, attrs, content) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (content !== undefined) { node.textContent = content; }
    return node;
  }

  function drawMarkers(step) {
    if (!viewer) { return; }
    viewer.mark(step.completed, step.active);
    viewer.load(step.version);  // the version the case ran on then (another before a migration)
  }

  function show(n) {
    var step = steps[n - 1];
    slider.value = n;
    document.getElementById("replay-position").textContent = text.of.replace("{n}", n).replace("{total}", steps.length);
    document.getElementById("replay-event").textContent =
      step.at + " · " + step.what + (step.task ? "：" + step.task : "") + " · " + step.who;
    var body = document.getElementById("replay-rows");
    body.textContent = "";
    if (!step.rows.length) {
      var tr0 = el("tr"); tr0.appendChild(el("td", { colspan: 2, class: "muted" }, text.none)); body.appendChild(tr0);
    }
    step.rows.forEach(function (row) {
      var tr = el("tr", row.changed ? { class: "changed" } : {});
      tr.appendChild(el("td", {}, row.label));
      tr.appendChild(el("td", {}, row.value));
      body.appendChild(tr);
    });
    document.querySelector(".replay").setAttribute("data-step", String(n));
    drawMarkers(step);
  }

  slider.addEventListener("input", function () { show(+slider.value); });
  document.getElementById("replay-prev").addEventListener("click", function () { show(Math.max(1, +slider.value - 1)); });
  document.getElementById("replay-next").addEventListener("click", function () { show(Math.min(steps.length, +slider.value + 1)); });
  if (box && typeof window.BpmnJS === "function" && typeof window.JiefenDiagram === "function") {
    viewer = window.JiefenDiagram(box);
  }
  var start = /^#record-(\d+)$/.exec(window.location.hash || "");
  show(start ? Math.min(Math.max(+start[1], 1), steps.length) : steps.length);
})();
