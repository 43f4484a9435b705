/* The decision table editor (/admin/decisions/<id>/edit): dmn-js's decision table view over a deployed version or
   one of the caller's drafts. Each change is autosaved to the caller's draft on the server (the first change of a
   version starts one: POST /api/v1/decisions/drafts; then PUT …/drafts/<id>), checked (POST
   /api/v1/decisions/validate: every refused cell by rule and column) and listed against the version the draft came
   from (the server's list, /admin/decisions/drafts/<id>/changes); administrators deploy the draft as the next
   version with a note (POST …/drafts/<id>/deploy). Data comes from the page's JSON block and the API; no inline
   code (the page's Content-Security-Policy). */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("decision-config").textContent);
  var T = config.text;
  var host = document.getElementById("decision-editor");
  var state = document.getElementById("edit-state");
  var summary = document.getElementById("lint-summary");
  var list = document.getElementById("problem-list");
  var checkButton = document.getElementById("check-button");
  var form = document.getElementById("deploy-form");
  var table = config.lang === "zh" ? (window.JiefenDecisionZh || {}) : {};

  function fill(template, values) {
    return template.replace(/{([^}]+)}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values || {}, key) ? values[key] : whole;
    });
  }
  function translate(template, replacements) {
    var text = Object.prototype.hasOwnProperty.call(table, template) ? table[template] : template;
    return fill(text, replacements);
  }

  function request(method, url, body, json) {
    var headers = { "X-CSRFToken": config.csrfToken, "Accept": "application/json" };
    if (body !== undefined) { headers["Content-Type"] = json ? "application/json" : "application/xml"; }
    if (json) { body = JSON.stringify(body); }
    return fetch(url, { method: method, credentials: "same-origin", headers: headers, body: body })
      .then(function (response) {
        return response.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          return { status: response.status, ok: response.ok, data: data };
        });
      });
  }

  var translateModule = { translate: ["value", translate] };
  var modeler = new window.DmnJS({
    container: host,
    common: { additionalModules: [translateModule] },
    drd: { additionalModules: [translateModule] },
    decisionTable: { additionalModules: [translateModule] },
    literalExpression: { additionalModules: [translateModule] }
  });
  var dirty = false;
  var timer = null;
  var checkedOk = false;
  var draftId = config.draftId;
  var unsaved = false;      // edits not on the server yet
  var saving = null;        // the save in flight (a promise)
  var saveTimer = null;
  var changesBox = document.getElementById("table-changes");

  function setState(name, text) {
    state.setAttribute("data-state", name);
    state.textContent = text;
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
    return request("POST", config.urls.drafts, { decision_id: config.decisionId, version: config.version }, true)
      .then(function (answer) {
        if (answer.status !== 201) { throw answer; }
        draftId = answer.data.id;
        host.setAttribute("data-draft", String(draftId));
        var source = document.getElementById("editor-source");
        if (source && T.draftFrom) { source.textContent = fill(T.draftFrom, { version: config.version }); }
        window.history.replaceState(null, "", config.urls.editPage + "?draft=" + draftId);
        return draftId;
      });
  }

  function save() {
    if (!config.mayEdit) { return Promise.resolve(null); }
    // another author's draft submitted for deployment: the administrator checks and deploys it as submitted
    if (config.readOnly) { unsaved = false; setState("readonly", T.readOnly); return Promise.resolve(null); }
    if (saving) { return saving.then(function () { return unsaved ? save() : null; }); }
    if (!unsaved) { return Promise.resolve(null); }
    unsaved = false;
    setState("saving", T.saving);
    saving = ensureDraft()
      .then(function () { return xml(); })
      .then(function (text) { return request("PUT", config.urls.draft + draftId, { xml: text }, true); })
      .then(function (answer) {
        if (!answer.ok) { throw answer; }
        if (!unsaved) { setState("saved", savedAt()); }
        updateDeploy();
        return showChanges();
      })
      .catch(function (error) {
        unsaved = true;
        setState("error", T.saveFailed);
        if (window.console) { window.console.warn("draft not saved", error); }
      })
      .then(function () { saving = null; });
    return saving;
  }

  // what the draft changes in its version, as the server lists it (the same list as the comparison page)
  function showChanges() {
    if (!changesBox || !draftId) { return Promise.resolve(); }
    return fetch(config.urls.changes + draftId + "/changes", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        changesBox.innerHTML = html;  // rendered and escaped by the server (admin/_table_changes.html)
        var list = changesBox.querySelector("[data-count]");
        changesBox.setAttribute("data-count", list ? list.getAttribute("data-count") : "0");
      });
  }

  function xml() {
    return modeler.saveXML({ format: true }).then(function (result) { return result.xml; });
  }

  function showProblems(problems) {
    list.textContent = "";
    problems.forEach(function (p) {
      var item = document.createElement("li");
      item.className = "problem problem-error";
      item.setAttribute("data-element", p.element_id || "");
      item.textContent = p.message + (p.line ? " (" + fill(T.line, { line: p.line }) + ")" : "");
      list.appendChild(item);
    });
    summary.setAttribute("data-count", String(problems.length));
    summary.textContent = problems.length ? fill(T.problems, { count: problems.length }) : T.ok;
  }

  function check() {
    summary.textContent = T.checking;
    return xml().then(function (text) {
      return request("POST", config.urls.validate, text);
    }).then(function (answer) {
      var problems = (answer.data && answer.data.problems) || [];
      if (!answer.ok) {
        problems = [{ message: (answer.data && answer.data.message) || String(answer.status) }];
      }
      checkedOk = answer.ok && problems.length === 0;
      showProblems(problems);
      updateDeploy();
      return checkedOk;
    });
  }

  function updateDeploy() {
    if (!form) { return; }
    form.querySelector("button[type=submit]").disabled = !(checkedOk && (dirty || draftId));
  }

  function changed() {
    dirty = true;
    checkedOk = false;
    if (config.readOnly) {
      setState("readonly", T.readOnly);
    } else if (config.mayEdit) {
      unsaved = true;
      setState("unsaved", T.unsaved);
      if (saveTimer) { clearTimeout(saveTimer); }
      saveTimer = setTimeout(save, 1000);
    } else {
      setState("changed", T.changed);
    }
    updateDeploy();
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(check, 600);
  }

  function watch() {
    var viewer = modeler.getActiveViewer();
    if (viewer) { viewer.on("elements.changed", changed); }
  }

  if (checkButton) { checkButton.addEventListener("click", check); }
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var message = document.getElementById("deploy-message");
      var note = document.getElementById("deploy-note").value;
      message.textContent = T.deploying;
      if (saveTimer) { clearTimeout(saveTimer); }
      if (!draftId) { unsaved = true; }
      save().then(function () {
        if (unsaved || !draftId) { throw { data: { message: T.saveFailed } }; }
        return request("POST", config.urls.draft + draftId + "/deploy", { note: note }, true);
      }).then(function (answer) {
        if (answer.ok) {
          var body = answer.data;
          var created = answer.status === 201;
          var text = created ? fill(T.deployed, { version: body.version }) : T.unchanged;
          var procs = (body.processes || []).filter(function (p) { return p.created; });
          if (procs.length) {
            text += " " + fill(T.processes, { names: procs.map(function (p) {
              return (config.processNames[p.process_id] || p.process_id) + " v" + p.version;
            }).join("、") });
          }
          message.textContent = text;
          message.setAttribute("data-deployed", String(body.version));
          dirty = false;
          draftId = null;  // deployed: the draft is gone; the next change starts a draft from the new version
          config.version = body.version;
          host.removeAttribute("data-draft");
          window.history.replaceState(null, "", config.urls.editPage);
          if (changesBox) { changesBox.textContent = ""; changesBox.setAttribute("data-count", "0"); }
          setState("deployed", text);
          updateDeploy();
        } else {
          message.textContent = T.failed + " " + ((answer.data && answer.data.message) || answer.status);
          var details = answer.data && answer.data.details;
          if (Array.isArray(details)) { showProblems(details); }
        }
      }).catch(function (error) {
        message.textContent = T.failed + " " + ((error && error.data && error.data.message) || "");
      });
    });
  }

  fetch(config.urls.source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    })
    .then(function (body) { return modeler.importXML(body.xml); })
    .then(function () {
      var view = modeler.getViews().filter(function (v) {
        return v.type === "decisionTable" && v.element.id === config.decisionId;
      })[0];
      return view ? modeler.open(view) : null;
    })
    .then(function () {
      watch();
      modeler.on("views.changed", watch);
      host.setAttribute("data-state", "ready");
      if (draftId) { host.setAttribute("data-draft", String(draftId)); setState("saved", T.draftOpened); }
      if (checkButton) { checkButton.disabled = false; }
      showChanges();
      return check();
    })
    .catch(function (error) {
      host.setAttribute("data-state", "failed");
      summary.textContent = T.loadFailed + " " + (error && error.message ? error.message : "");
    });

  window.addEventListener("beforeunload", function (event) {
    if (unsaved || saving) {
      save();
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();
