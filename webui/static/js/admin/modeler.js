// The process modeler (/admin/processes/<id>/model): bpmn-js Modeler with the properties panel and
// camunda-bpmn-moddle, autosaving to the caller's draft on the server, checking the process as it is edited
// (POST /api/v1/processes/validate: each problem marked on its element and listed) and, for administrators,
// deploying the draft as the next version with a change note. Its data come from #modeler-config.
(function () {
  "use strict";
  var configNode = document.getElementById("modeler-config");
  var box = document.getElementById("modeler");
  if (!configNode || !box) { return; }
  var config = JSON.parse(configNode.textContent);
  var T = config.text;
  var saveState = document.getElementById("save-state");
  var problemList = document.getElementById("problem-list");
  var lintSummary = document.getElementById("lint-summary");
  var deployForm = document.getElementById("deploy-form");
  var deployButton = deployForm ? deployForm.querySelector("button[type=submit]") : null;
  var deployMessage = document.getElementById("deploy-message");

  var SAVE_DELAY = 1000, LINT_DELAY = 700;
  var draftId = config.draftId;
  var modeler = null;
  var changed = false;        // edits not saved yet
  var saving = null;          // the save in flight (a promise)
  var saveTimer = null, lintTimer = null;
  var lintSeq = 0, lintDone = false, problems = [];
  var deploying = false;

  function fail(error) {
    box.setAttribute("data-state", "error");
    document.getElementById("canvas").textContent = T.loadFailed;
    if (window.console && error) { window.console.error(error); }
  }

  if (typeof window.BpmnJS !== "function" || !window.BpmnJSPropertiesPanel) {
    fail(new Error("bpmn-js or its properties panel did not load"));
    return;
  }

  // --- translation: bpmn-js and the panel ask the `translate` service for every label ---
  var table = config.lang === "zh" ? (window.JiefenModelerZh || {}) : {};
  function translate(template, replacements) {
    replacements = replacements || {};
    var text = Object.prototype.hasOwnProperty.call(table, template) ? table[template] : template;
    return text.replace(/{([^}]+)}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(replacements, key) ? replacements[key] : whole;
    });
  }
  var translateModule = { translate: ["value", translate] };

  // --- talking to the server ---
  function request(method, url, body, contentType) {
    var headers = { "X-CSRFToken": config.csrfToken, "Accept": "application/json" };
    if (body !== undefined) { headers["Content-Type"] = contentType || "application/json"; }
    return fetch(url, {
      method: method, credentials: "same-origin", headers: headers,
      body: body === undefined ? undefined : (contentType ? body : JSON.stringify(body))
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  function setSaveState(state, text) {
    saveState.setAttribute("data-state", state);
    saveState.textContent = text;
  }

  function savedAt() {
    var now = new Date();
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return T.saved + " " + pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" + pad(now.getSeconds());
  }

  // The first change of a deployed version makes it a draft of the caller's; the address then names the draft,
  // so a reload opens it again.
  function ensureDraft() {
    if (draftId) { return Promise.resolve(draftId); }
    return request("POST", config.urls.drafts, { process_id: config.processId, version: config.baseVersion })
      .then(function (answer) {
        if (answer.status !== 201) { throw answer; }
        draftId = answer.data.id;
        box.setAttribute("data-draft", String(draftId));
        window.history.replaceState(null, "", config.urls.modelPage + "?draft=" + draftId);
        return draftId;
      });
  }

  function save() {
    // another author's draft submitted for deployment: the administrator checks and deploys it as submitted
    if (config.readOnly) { changed = false; setSaveState("readonly", T.readOnly); return Promise.resolve(null); }
    if (saving) { return saving.then(function () { return changed ? save() : null; }); }
    if (!changed) { return Promise.resolve(null); }
    changed = false;
    setSaveState("saving", T.saving);
    saving = ensureDraft()
      .then(function () { return modeler.saveXML({ format: true }); })
      .then(function (result) { return request("PUT", config.urls.draft + draftId, { xml: result.xml }); })
      .then(function (answer) {
        if (!answer.ok) { throw answer; }
        if (!changed) { setSaveState("saved", savedAt()); }
        updateDeploy();
        showDiff();
      })
      .catch(function (error) {
        changed = true;
        setSaveState("error", T.saveFailed);
        if (window.console) { window.console.warn("draft not saved", error); }
      })
      .then(function () { saving = null; });
    return saving;
  }

  // --- live lint: the deploy check, marked on the diagram ---
  var markedIds = [];

  function clearMarks() {
    var canvas = modeler.get("canvas");
    modeler.get("overlays").remove({ type: "jf-lint" });
    markedIds.forEach(function (id) { canvas.removeMarker(id, "jf-problem"); });
    markedIds = [];
  }

  function badge(count, text) {
    var node = document.createElement("div");
    node.className = "jf-lint-badge";
    node.setAttribute("title", text);
    node.textContent = count > 1 ? String(count) : "!";
    return node;
  }

  function showProblems(list) {
    problems = list;
    clearMarks();
    var registry = modeler.get("elementRegistry");
    var canvas = modeler.get("canvas");
    var overlays = modeler.get("overlays");
    var byElement = {};
    list.forEach(function (p) {
      if (p.element_id && registry.get(p.element_id)) {
        (byElement[p.element_id] = byElement[p.element_id] || []).push(p.message);
      }
    });
    Object.keys(byElement).forEach(function (id) {
      canvas.addMarker(id, "jf-problem");
      markedIds.push(id);
      overlays.add(id, "jf-lint", { position: { top: -10, right: 10 },
                                    html: badge(byElement[id].length, byElement[id].join("\n")) });
    });
    problemList.textContent = "";
    list.forEach(function (p) {
      var item = document.createElement("li");
      item.className = "problem";
      item.setAttribute("data-element", p.element_id || "");
      var where = p.element_id ? (nameOf(p.element_id) || p.element_id) : T.wholeProcess;
      var target = p.element_id && registry.get(p.element_id);
      var label = document.createElement(target ? "button" : "strong");
      if (target) {
        label.type = "button";
        label.className = "link-button";
        label.addEventListener("click", function () {
          modeler.get("selection").select(target);
          canvas.scrollToElement(target);
        });
      }
      label.textContent = where;
      item.appendChild(label);
      // (no line number: the designer sees the diagram, not the XML the modeler writes)
      item.appendChild(document.createTextNode((config.lang === "zh" ? "：" : ": ") + p.message));
      problemList.appendChild(item);
    });
    lintSummary.setAttribute("data-count", String(list.length));
    lintSummary.textContent = list.length ? T.problems.replace("%(count)s", String(list.length)) : T.noProblems;
    lintSummary.className = list.length ? "lint-summary has-problems" : "lint-summary clean";
    updateDeploy();
  }

  function nameOf(id) {
    var element = modeler.get("elementRegistry").get(id);
    return element && element.businessObject && element.businessObject.name;
  }

  function lint() {
    var seq = ++lintSeq;
    lintDone = false;
    updateDeploy();
    lintSummary.textContent = T.checking;
    return modeler.saveXML({ format: false })
      .then(function (result) {
        var url = config.urls.validate + "?filename=" + encodeURIComponent(config.processId + ".bpmn");
        return request("POST", url, result.xml, "application/xml");
      })
      .then(function (answer) {
        if (seq !== lintSeq) { return; }  // a later edit's check is on its way
        if (!answer.ok || !answer.data) { throw answer; }
        lintDone = true;
        showProblems(answer.data.problems || []);
      })
      .catch(function (error) {
        if (seq !== lintSeq) { return; }
        lintSummary.textContent = T.checkFailed;
        if (window.console) { window.console.warn("check failed", error); }
      });
  }

  // --- the diff against the version the draft came from (server side, element by element) ---
  var diffList = document.getElementById("diff-list");
  var diffSummary = document.getElementById("diff-summary");
  var diffMarked = [];

  function showDiff() {
    if (!diffList || !draftId) { return Promise.resolve(); }
    return request("GET", config.urls.draft + draftId + "/diff").then(function (answer) {
      if (!answer.ok || !answer.data) { return; }
      var canvas = modeler.get("canvas");
      var registry = modeler.get("elementRegistry");
      diffMarked.forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
      diffMarked = [];
      diffList.textContent = "";
      var items = answer.data.items;
      items.forEach(function (c) {
        if (c.change !== "removed" && registry.get(c.element_id)) {
          canvas.addMarker(c.element_id, "jf-" + c.change);
          diffMarked.push([c.element_id, "jf-" + c.change]);
        }
        var item = document.createElement("li");
        item.className = "diff-" + c.change;
        item.setAttribute("data-element", c.element_id);
        var kind = document.createElement("span");
        kind.className = "badge diff-badge-" + c.change;
        kind.textContent = T[c.change] || c.change;
        item.appendChild(kind);
        var what = (c.what || []).map(function (w) { return T.parts[w] || w; }).join(config.lang === "zh" ? "、" : ", ");
        item.appendChild(document.createTextNode(" " + changeLabel(c) + (what ? (config.lang === "zh" ? "：" : ": ") + what : "")));
        diffList.appendChild(item);
      });
      var version = String(answer.data.base_version);
      diffSummary.setAttribute("data-count", String(items.length));
      diffSummary.textContent = items.length ? T.diffCount.replace("%(count)s", String(items.length)).replace("%(version)s", version)
        : T.diffNone.replace("%(version)s", version);
    });
  }

  // What the change list calls an element (as webui/admin/views.py change_label): its name; an unnamed sequence
  // flow by its ends and condition ("研判 → 分流（tier == 'major'）"); else its kind — never its id.
  function changeLabel(c) {
    if (c.name) { return c.name; }
    var kind = function (type) { return T.types[type] || T.anElement; };
    if (c.source || c.target) {
      var end = function (e) { return e ? (e.name || T.ends[e.type] || kind(e.type)) : "?"; };
      var label = end(c.source) + " → " + end(c.target);
      if (c.condition) { label += config.lang === "zh" ? "（" + c.condition + "）" : " (" + c.condition + ")"; }
      return label;
    }
    return kind(c.type);
  }

  function updateDeploy() {
    if (!deployButton) { return; }
    var ready = !!draftId && lintDone && problems.length === 0 && !deploying;
    deployButton.disabled = !ready;
    deployButton.setAttribute("title", !draftId ? T.deployNoChange : (problems.length ? T.deployHasProblems : ""));
  }

  function edited() {
    changed = true;
    setSaveState("unsaved", T.unsaved);
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(save, SAVE_DELAY);
    window.clearTimeout(lintTimer);
    lintDone = false;
    updateDeploy();
    lintTimer = window.setTimeout(lint, LINT_DELAY);
  }

  if (deployForm) {
    deployForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (deployButton.disabled) { return; }
      deploying = true;
      updateDeploy();
      deployMessage.textContent = T.deploying;
      var note = deployForm.querySelector("[name=note]").value;
      window.clearTimeout(saveTimer);
      save()
        .then(function () {
          if (changed) { throw new Error("not saved"); }
          return request("POST", config.urls.draft + draftId + "/deploy", { note: note });
        })
        .then(function (answer) {
          if (answer.status === 201 || answer.status === 200) {
            changed = false;
            window.location.assign(config.urls.processList.replace(/\/$/, "") + "/" +
              encodeURIComponent(answer.data.process_id) + "?deployed=" + answer.data.version);
            return;
          }
          if (answer.status === 422 && answer.data && Array.isArray(answer.data.details)) {
            showProblems(answer.data.details);
          }
          throw answer;
        })
        .catch(function (error) {
          deploying = false;
          updateDeploy();
          deployMessage.textContent = (error && error.data && error.data.message) || T.deployFailed;
        });
    });
  }

  // --- roles: click a role to add it to the selected user task's candidate groups ---
  var selectedTask = null;
  var roleHint = document.getElementById("role-hint");
  document.querySelectorAll("[data-role]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!selectedTask) { return; }
      var current = (selectedTask.businessObject.get("camunda:candidateGroups") || "").split(",")
        .map(function (s) { return s.trim(); }).filter(Boolean);
      var role = button.getAttribute("data-role");
      if (current.indexOf(role) >= 0 || (current.length === 1 && current[0].charAt(0) === "=")) { return; }
      current.push(role);
      modeler.get("modeling").updateProperties(selectedTask, { "camunda:candidateGroups": current.join(",") });
    });
  });

  function roleTarget(selection) {
    var element = selection.length === 1 ? selection[0] : null;
    selectedTask = element && element.type === "bpmn:UserTask" ? element : null;
    document.querySelectorAll("[data-role]").forEach(function (button) { button.disabled = !selectedTask; });
    if (roleHint) { roleHint.textContent = selectedTask ? T.rolesFor.replace("%(name)s", nameOf(selectedTask.id) || selectedTask.id) : T.rolesPick; }
    // the panel's candidate-groups box offers the roles as suggestions too
    window.setTimeout(function () {
      var input = document.querySelector("#properties input[name=candidateGroups], #bio-properties-panel-candidateGroups");
      if (input) { input.setAttribute("list", "role-list"); }
    }, 0);
  }

  // --- 模拟运行: bpmn-js-token-simulation walks tokens through the diagram as drawn (nothing saved, no case) ---
  var simulateButton = document.getElementById("simulate");
  var simulationNote = document.getElementById("simulation-note");
  var simulationText = config.lang === "zh" ? window.JiefenSimulationZh : null;

  function simulationWords(text) {
    var trimmed = text.trim();
    if (!trimmed) { return null; }
    if (Object.prototype.hasOwnProperty.call(simulationText.exact, trimmed)) { return simulationText.exact[trimmed]; }
    for (var i = 0; i < simulationText.patterns.length; i += 1) {
      var pattern = simulationText.patterns[i];
      if (pattern[0].test(trimmed)) { return trimmed.replace(pattern[0], pattern[1]); }
    }
    return null;
  }

  // The simulation writes English into its controls and log (no `translate` service): rewrite them in place.
  function translateSimulation(root) {
    if (!simulationText || !root.querySelectorAll) { return; }
    var nodes = [root].concat(Array.prototype.slice.call(root.querySelectorAll("[class*=bts-]")));
    nodes.forEach(function (node) {
      if (!node.getAttribute || String(node.getAttribute("class") || "").indexOf("bts-") < 0) { return; }
      ["title", "aria-label"].forEach(function (attribute) {
        var value = node.getAttribute(attribute);
        var words = value && simulationWords(value);
        if (words) { node.setAttribute(attribute, words); }
      });
      Array.prototype.forEach.call(node.childNodes, function (child) {
        if (child.nodeType !== 3) { return; }
        var words = simulationWords(child.nodeValue);
        if (words) { child.nodeValue = " " + words + " "; }
      });
    });
  }

  function startSimulationToggle() {
    if (!simulateButton || !window.BpmnJSTokenSimulation) { return; }
    var toggle = modeler.get("toggleMode");
    var eventBus = modeler.get("eventBus");
    if (simulationText) {
      translateSimulation(box);
      new MutationObserver(function (records) {
        records.forEach(function (record) {
          if (record.type === "characterData") { translateSimulation(record.target.parentNode); return; }
          Array.prototype.forEach.call(record.addedNodes, function (node) {
            if (node.nodeType === 1) { translateSimulation(node); }
          });
          if (record.type === "attributes" || record.addedNodes.length) { translateSimulation(record.target); }
        });
      }).observe(box, { subtree: true, childList: true, characterData: true, attributes: true,
                        attributeFilter: ["title"] });
    }
    eventBus.on("tokenSimulation.toggleMode", function (event) {
      var on = !!event.active;
      simulateButton.setAttribute("aria-pressed", on ? "true" : "false");
      box.setAttribute("data-simulating", on ? "true" : "false");
      simulationNote.hidden = !on;
      simulationNote.textContent = on ? T.simulating : "";
    });
    simulateButton.addEventListener("click", function () { toggle.toggleMode(); });
    simulateButton.disabled = false;
  }

  // A large process fitted whole is too small to edit: below a readable zoom, show its start (top left) at it.
  var READABLE = 0.75;
  function fit(canvas) {
    canvas.zoom("fit-viewport", "auto");
    var view = canvas.viewbox();
    if (view.scale >= READABLE || !view.inner.width) { return; }
    canvas.viewbox({ x: view.inner.x - 20, y: view.inner.y - 20,
                     width: view.outer.width / READABLE, height: view.outer.height / READABLE });
  }

  // --- start ---
  fetch(config.urls.moddle, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("camunda moddle: HTTP " + response.status); }
      return response.json();
    })
    .then(function (camundaModdle) {
      var panel = window.BpmnJSPropertiesPanel;
      modeler = new window.BpmnJS({
        container: "#canvas",
        // the groups jiefen reads most open at once (the panel's default shows every group closed)
        propertiesPanel: { parent: "#properties", layout: { groups: {
          general: { open: true }, CamundaPlatform__UserAssignment: { open: true }, CamundaPlatform__Condition: { open: true },
          timer: { open: true } } } },
        additionalModules: [panel.BpmnPropertiesPanelModule, panel.BpmnPropertiesProviderModule,
                            panel.CamundaPlatformPropertiesProviderModule, translateModule]
          .concat(window.BpmnJSTokenSimulation ? [window.BpmnJSTokenSimulation] : []),
        moddleExtensions: { camunda: camundaModdle }
      });
      return fetch(config.sourceUrl, { credentials: "same-origin" });
    })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return config.sourceIsDraft ? response.json().then(function (d) { return d.xml; }) : response.text();
    })
    .then(function (xml) { return modeler.importXML(xml); })
    .then(function () {
      fit(modeler.get("canvas"));
      modeler.on("commandStack.changed", edited);
      modeler.on("selection.changed", function (event) { roleTarget(event.newSelection); });
      roleTarget([]);
      startSimulationToggle();
      setSaveState(draftId ? "saved" : "idle", draftId ? T.draftOpened : T.notChanged);
      box.setAttribute("data-state", "ready");
      updateDeploy();
      showDiff();
      return lint();
    })
    .catch(fail);

  window.addEventListener("beforeunload", function (event) {
    if (changed || saving) {
      save();
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();
