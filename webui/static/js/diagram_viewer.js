/* The case diagram people can read (the case page and the auditor's replay): bpmn-js's NavigatedViewer (drag to
 * move, wheel to zoom) with buttons — zoom in, zoom out, fit, full screen — and drill-down: a call activity whose
 * called process the server can draw gets a button that opens that process in the same viewer (a trail leads
 * back), an element that opened a linked case (司法确认 另案) links to it. Markers (completed / waiting) are
 * kept across the drill-down, since element ids are unique across a process and the processes it calls.
 *
 * JiefenDiagram(box, options) draws into `box` (its data-* attributes: data-xml-url, data-called = {process id:
 * name}, data-linked = {element id: [{url, code}]}, data-labels = the buttons' texts). Returns {load(version),
 * mark(completed, active)}; `options.onReady` is called after each drawing. */
(function () {
  "use strict";

  function json(box, name, fallback) {
    try { return JSON.parse(box.getAttribute(name) || "") || fallback; } catch (e) { return fallback; }
  }

  function button(text, title, cls) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-small diagram-btn " + cls;
    b.textContent = text;
    b.title = title;
    b.setAttribute("aria-label", title);
    return b;
  }

  window.JiefenDiagram = function (box, options) {
    options = options || {};
    var labels = json(box, "data-labels", {});
    var called = json(box, "data-called", {});
    var linked = json(box, "data-linked", {});
    var baseUrl = box.getAttribute("data-xml-url");
    var viewer = new window.BpmnJS({ container: box });
    var canvas = null, registry = null, overlays = null;
    var marks = { completed: [], active: [] }, marked = [];
    var version = null, trail = [];  // trail: the processes drilled into, [{process, name}]

    // the frame: the toolbar and the trail above the box, all inside one element that goes full screen
    var frame = document.createElement("div");
    frame.className = "diagram-frame";
    box.parentNode.insertBefore(frame, box);
    var bar = document.createElement("div");
    bar.className = "diagram-toolbar no-print";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", labels.toolbar || "Diagram");
    var zoomIn = button("+", labels.zoom_in || "Zoom in", "diagram-zoom-in");
    var zoomOut = button("−", labels.zoom_out || "Zoom out", "diagram-zoom-out");
    var fitBtn = button(labels.fit || "Fit", labels.fit_title || labels.fit || "Fit", "diagram-fit");
    var fullBtn = button(labels.full || "Full screen", labels.full || "Full screen", "diagram-full");
    var crumbs = document.createElement("span");
    crumbs.className = "diagram-trail";
    [zoomIn, zoomOut, fitBtn, fullBtn, crumbs].forEach(function (n) { bar.appendChild(n); });
    frame.appendChild(bar);
    frame.appendChild(box);

    function fail(error) {
      box.setAttribute("data-state", "error");
      box.classList.add("diagram-failed");
      box.textContent = box.getAttribute("data-error") || "The diagram could not be drawn.";
      if (window.console && error) { window.console.error(error); }
    }

    // Fit the whole process with a margin, so the bpmn.io watermark (bottom right) covers nothing.
    function fit() {
      if (!canvas) { return; }
      canvas.resized();
      canvas.zoom("fit-viewport", "auto");
      var view = canvas.viewbox();
      var inner = view.inner, outer = view.outer;
      if (!inner.width || !outer.width) { return; }
      var scale = Math.min(outer.width / (inner.width + 60), (outer.height - 40) / (inner.height + 30), 1.2);
      var width = outer.width / scale, height = outer.height / scale;
      canvas.viewbox({ x: inner.x - (width - inner.width) / 2, y: inner.y - 15 / scale, width: width, height: height });
      box.setAttribute("data-zoom", canvas.zoom().toFixed(3));
    }

    // The first view: the whole process; on a phone, where that would be too small to read, a readable scale
    // around the first waiting element (the fit button still shows the whole).
    function firstView() {
      fit();
      if (box.clientWidth >= 640 || canvas.zoom() >= 0.55) { return; }
      var focus = marks.active.map(function (id) { return registry.get(id); }).filter(Boolean)[0] ||
        registry.filter(function (e) { return e.type === "bpmn:StartEvent"; })[0];
      canvas.zoom(0.75);
      if (focus) { canvas.scrollToElement(focus, { top: 40, bottom: 40, left: 40, right: 40 }); }
      box.setAttribute("data-zoom", canvas.zoom().toFixed(3));
    }

    function zoomBy(step) {
      if (!canvas) { return; }
      viewer.get("zoomScroll").stepZoom(step);
      box.setAttribute("data-zoom", canvas.zoom().toFixed(3));
    }

    function drawMarks() {
      if (!canvas) { return; }
      marked.forEach(function (m) { if (registry.get(m[0])) { canvas.removeMarker(m[0], m[1]); } });
      marked = [];
      var open = marks.active;
      [[marks.completed.filter(function (id) { return open.indexOf(id) < 0; }), "jf-completed"], [open, "jf-open"]]
        .forEach(function (pair) {
          pair[0].forEach(function (id) {
            if (registry.get(id)) { canvas.addMarker(id, pair[1]); marked.push([id, pair[1]]); }
          });
        });
    }

    function url() {
      var params = [];
      if (version) { params.push("version=" + encodeURIComponent(version)); }
      if (trail.length) { params.push("process=" + encodeURIComponent(trail[trail.length - 1].process)); }
      return baseUrl + (params.length ? (baseUrl.indexOf("?") < 0 ? "?" : "&") + params.join("&") : "");
    }

    function drawTrail() {
      crumbs.textContent = "";
      if (!trail.length) { return; }
      var up = button("‹ " + (labels.back || "Back"), labels.back || "Back", "diagram-back");
      up.addEventListener("click", function () { trail.pop(); load(version, true); });
      crumbs.appendChild(up);
      var here = document.createElement("span");
      here.className = "diagram-where";
      here.textContent = (labels.main || "Main process") + " › " + trail.map(function (t) { return t.name; }).join(" › ");
      crumbs.appendChild(here);
    }

    function addOverlays() {
      overlays.clear();
      registry.forEach(function (element) {
        var bo = element.businessObject;
        if (!bo || element.type === "label") { return; }
        var target = element.type === "bpmn:CallActivity" ? bo.calledElement : null;
        if (target && called[target] !== undefined) {
          var drill = button("⤵ " + (labels.open_called || "Open"), (labels.open_called || "Open") + "：" + (called[target] || target),
                             "diagram-drill");
          drill.setAttribute("data-process", target);
          drill.addEventListener("click", function (event) {
            event.stopPropagation();
            trail.push({ process: target, name: called[target] || target });
            load(version, true);
          });
          overlays.add(element.id, "drilldown", { position: { bottom: 8, right: 8 }, scale: { min: 1 }, html: drill });
        }
        (linked[element.id] || []).forEach(function (link, i) {
          var a = document.createElement("a");
          a.className = "diagram-linked";
          a.href = link.url;
          a.textContent = "↗ " + link.code;
          a.title = labels.open_linked || "";
          overlays.add(element.id, "linked", { position: { bottom: -8 - 20 * i, left: 0 }, scale: { min: 1 }, html: a });
        });
      });
    }

    function load(newVersion, keepTrail) {
      if (!keepTrail) { trail = []; }
      version = newVersion || null;
      box.setAttribute("data-state", "loading");
      return fetch(url(), { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (xml) { return viewer.importXML(xml); })
        .then(function () {
          canvas = viewer.get("canvas");
          registry = viewer.get("elementRegistry");
          overlays = viewer.get("overlays");
          marked = [];
          addOverlays();
          drawMarks();
          drawTrail();
          firstView();
          box.setAttribute("data-version", version || "");
          box.setAttribute("data-process", trail.length ? trail[trail.length - 1].process : "");
          box.setAttribute("data-state", "ready");
          if (options.onReady) { options.onReady(); }
        })
        .catch(fail);
    }

    // full screen: the Fullscreen API where the browser has it for an element; else (iOS Safari) a fixed frame
    function isFull() { return document.fullscreenElement === frame || frame.classList.contains("is-fullscreen"); }
    function setFull(on) {
      if (on && frame.requestFullscreen) {
        frame.requestFullscreen().catch(function () { frame.classList.add("is-fullscreen"); refit(); });
      } else if (on) {
        frame.classList.add("is-fullscreen");
      } else if (document.fullscreenElement === frame) {
        document.exitFullscreen();
      } else {
        frame.classList.remove("is-fullscreen");
      }
      refit();
    }
    function refit() {
      fullBtn.textContent = isFull() ? (labels.exit_full || "Exit full screen") : (labels.full || "Full screen");
      fullBtn.setAttribute("aria-pressed", isFull() ? "true" : "false");
      window.setTimeout(function () { if (canvas) { firstView(); } }, 50);
    }
    document.addEventListener("fullscreenchange", refit);
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && frame.classList.contains("is-fullscreen")) { setFull(false); }
    });

    zoomIn.addEventListener("click", function () { zoomBy(1); });
    zoomOut.addEventListener("click", function () { zoomBy(-1); });
    fitBtn.addEventListener("click", fit);
    fullBtn.addEventListener("click", function () { setFull(!isFull()); });
    var timer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { if (canvas) { firstView(); } }, 100);
    });

    // One drawing at a time: a step asked for while one is drawn waits, and only the last one asked for is drawn.
    var loading = null, wanted = null;
    function request(newVersion) {
      wanted = newVersion || null;
      if (loading) { return loading; }
      if (canvas && String(wanted) === String(version) && box.getAttribute("data-state") === "ready") {
        return Promise.resolve();
      }
      loading = load(wanted, false).then(function () {
        loading = null;
        if (String(wanted) !== String(version)) { return request(wanted); }
      });
      return loading;
    }

    return {
      load: request,
      mark: function (completed, active) {
        marks = { completed: completed || [], active: active || [] };
        drawMarks();
      },
      fail: fail
    };
  };
})();
