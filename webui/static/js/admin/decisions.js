/* The decision table editor (/admin/decisions/<id>/edit): dmn-js's decision table view over a deployed version,
   the server's check (POST /api/v1/decisions/validate: every refused cell by rule and column) after each change,
   and deploying the edited table as the next version (POST /api/v1/decisions, administrators). Data comes from the
   page's JSON block and the API; no inline code (the page's Content-Security-Policy). */
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

  function request(method, url, body) {
    var headers = { "X-CSRFToken": config.csrfToken, "Accept": "application/json" };
    if (body !== undefined) { headers["Content-Type"] = "application/xml"; }
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
    form.querySelector("button[type=submit]").disabled = !(checkedOk && dirty);
  }

  function changed() {
    dirty = true;
    checkedOk = false;
    state.setAttribute("data-state", "changed");
    state.textContent = T.changed;
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
      xml().then(function (text) {
        var url = config.urls.deploy + (config.urls.deploy.indexOf("?") < 0 ? "?" : "&") +
          "note=" + encodeURIComponent(note);
        return request("POST", url, text);
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
          state.setAttribute("data-state", "deployed");
          state.textContent = text;
          updateDeploy();
        } else {
          message.textContent = T.failed + " " + ((answer.data && answer.data.message) || answer.status);
          var details = answer.data && answer.data.details;
          if (Array.isArray(details)) { showProblems(details); }
        }
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
      if (checkButton) { checkButton.disabled = false; }
      return check();
    })
    .catch(function (error) {
      host.setAttribute("data-state", "failed");
      summary.textContent = T.loadFailed + " " + (error && error.message ? error.message : "");
    });
})();
