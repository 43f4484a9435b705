/* The dashboard (/dashboard): reads the JSON API and draws with ECharts (served from node_modules, never a CDN).
 * Every tile, bar and row leads to the ledger (/cases) with the filters it stands for. No inline code: the page
 * gives its settings in <script type="application/json" id="dashboard-config">. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
  var ORDER = cfg.figures.map(function (f) { return f[0]; });
  cfg.figures = cfg.figures.reduce(function (o, f) { o[f[0]] = f[1]; return o; }, {});
  var form = document.getElementById("dashboard-filters");
  var charts = {};
  var RATE = /_rate$/;
  var LEVEL_COLOURS = { 1: "#2f6db5", 2: "#d9822b", 3: "#c9a227", 4: "#c0392b" };
  var LADDER_KEYS = { 1: "prompt", 2: "reminder", 3: "notice", 4: "listing" }; // the stats API's supervision counts

  function qs(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v !== undefined && v !== null && v !== "") parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
    });
    return parts.join("&");
  }

  function state() {
    return { from: form.elements.from.value, to: form.elements.to.value, org_unit: form.elements.org_unit.value };
  }

  function ledgerUrl(params, s) {
    var scope = s.org_unit ? { org_unit: s.org_unit, include_sub: 1 } : {};
    return cfg.urls.ledger + "?" + qs(Object.assign(scope, params));
  }

  function getJSON(url, params) {
    return fetch(url + "?" + qs(params), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body && (body.message || body.error)) || r.status);
          return body;
        });
      });
  }

  // Rates arrive as fractions (0.953); null where the denominator is 0 (nothing to rate).
  function show(key, value) {
    if (value === null || value === undefined) return "—";
    if (RATE.test(key)) return (value * 100).toFixed(1) + "%";
    if (key === "avg_handling_days") return value.toFixed(1);
    return String(value);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function monthRange(key) { // "2026-03" -> first and last day
    var y = +key.slice(0, 4), m = +key.slice(5, 7);
    var last = new Date(Date.UTC(y, m, 0)).getUTCDate();
    return [key + "-01", key + "-" + String(last).padStart(2, "0")];
  }

  // What each tile counts, as ledger filters (docs/statistics.md: the period a figure counts by).
  function tileFilters(key, s) {
    var opened = { opened_from: s.from, opened_to: s.to };
    var closed = { closed_from: s.from, closed_to: s.to, status: "closed" };
    if (key === "received" || key === "responded_on_time_rate") return opened;
    if (key === "overdue_open") return { status: "open", overdue: 1 };
    if (key === "resolved" || key === "resolved_rate") return Object.assign({ outcome: "resolved" }, closed);
    return closed;
  }

  function drawTiles(total, s) {
    var box = document.getElementById("kpis");
    box.textContent = "";
    ORDER.forEach(function (key) {
      if (!(key in total)) return;
      var a = el("a", { class: "kpi", href: ledgerUrl(tileFilters(key, s), s), "data-figure": key });
      a.appendChild(el("span", { class: "kpi-value" }, show(key, total[key])));
      a.appendChild(el("span", { class: "kpi-label" }, cfg.figures[key]));
      box.appendChild(a);
    });
    if (total.supervision) {
      var sup = el("div", { class: "kpi kpi-ladder", "data-figure": "supervision" });
      var counts = Object.keys(cfg.levels).map(function (lv) {
        var n = total.supervision[LADDER_KEYS[lv]];
        return cfg.levels[lv] + " " + (n === undefined || n === null ? 0 : n);
      });
      sup.appendChild(el("span", { class: "kpi-value small" }, counts.join(" · ")));
      sup.appendChild(el("span", { class: "kpi-label" }, cfg.text.supervision));
      box.appendChild(sup);
    }
  }

  function chart(id) {
    if (typeof echarts === "undefined") return null;
    var node = document.getElementById(id);
    if (!charts[id]) {
      charts[id] = echarts.init(node, null, { renderer: "canvas" });
      window.addEventListener("resize", function () { charts[id].resize(); });
    }
    charts[id].off("click");
    return charts[id];
  }

  function empty(c) { // a chart with nothing to draw says so, rather than showing bare axes
    c.setOption({ title: { text: cfg.text.none, left: "center", top: "middle",
                           textStyle: { color: "#6b7785", fontSize: 14, fontWeight: "normal" } } }, true);
  }

  function barOption(groups, keys, horizontal) {
    var labels = groups.map(function (g) { return g.label || g.key; });
    var series = keys.map(function (k) {
      return { name: cfg.figures[k], type: "bar", data: groups.map(function (g) { return g[k] || 0; }) };
    });
    var cat = { type: "category", data: labels, axisLabel: { interval: 0, width: 90, overflow: "truncate" } };
    var val = { type: "value", minInterval: 1 };
    return {
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: horizontal ? val : Object.assign(cat, { axisLabel: { rotate: labels.length > 4 ? 30 : 0, interval: 0 } }),
      yAxis: horizontal ? Object.assign(cat, { inverse: true }) : val, series: series
    };
  }

  function drawTrend(groups, s) {
    var c = chart("chart-trend");
    if (!c) return;
    var keys = ["received", "closed", "resolved"];
    if (!groups.length) return empty(c);
    c.setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: groups.map(function (g) { return g.label || g.key; }) },
      yAxis: { type: "value", minInterval: 1 },
      series: keys.map(function (k) {
        return { name: cfg.figures[k], type: "line", data: groups.map(function (g) { return g[k] || 0; }) };
      })
    }, true);
    c.on("click", function (p) {
      var range = monthRange(groups[p.dataIndex].key);
      var closedKey = p.seriesIndex > 0;
      var f = closedKey ? { closed_from: range[0], closed_to: range[1], status: "closed" }
                        : { opened_from: range[0], opened_to: range[1] };
      if (p.seriesIndex === 2) f.outcome = "resolved";
      window.location.href = ledgerUrl(f, s);
    });
  }

  function drawGroups(id, groups, s, filterOf) {
    var c = chart(id);
    if (!c) return;
    groups = groups.filter(function (g) { return g.received || g.closed; }); // units with nothing in the period: no bar
    if (!groups.length) return empty(c);
    c.setOption(barOption(groups, ["received", "closed"], groups.length > 6), true);
    c.on("click", function (p) {
      var g = groups[p.dataIndex];
      var f = p.seriesIndex === 1 ? { closed_from: s.from, closed_to: s.to, status: "closed" }
                                  : { opened_from: s.from, opened_to: s.to };
      window.location.href = ledgerUrl(Object.assign(f, filterOf(g)), s);
    });
  }

  function drawOverdue(board, s) {
    var levels = document.getElementById("overdue-levels");
    levels.textContent = "";
    board.levels.forEach(function (l) {
      var a = el("a", { class: "badge level-" + l.level, href: ledgerUrl({ status: "open", overdue: 1, sort: "warning" }, s) },
                 cfg.levels[l.level] + " " + l.count);
      levels.appendChild(a);
      levels.appendChild(document.createTextNode(" "));
    });
    var units = board.units.slice(0, 12);
    var c = chart("chart-overdue");
    if (c && !units.length) empty(c);
    else if (c) {
      c.setOption({
        tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", inverse: true, data: units.map(function (u) { return u.name; }),
                 axisLabel: { width: 110, overflow: "truncate" } },
        series: Object.keys(cfg.levels).map(function (lv) {
          return { name: cfg.levels[lv], type: "bar", stack: "late", itemStyle: { color: LEVEL_COLOURS[lv] },
                   data: units.map(function (u) {
                     var hit = u.levels.filter(function (l) { return String(l.level) === lv; })[0];
                     return hit ? hit.count : 0;
                   }) };
        })
      }, true);
      c.on("click", function (p) {
        window.location.href = cfg.urls.ledger + "?" + qs({ org_unit: units[p.dataIndex].code, status: "open", overdue: 1, sort: "warning" });
      });
    }
    var body = document.querySelector("#listed-units tbody");
    body.textContent = "";
    var listed = board.units.filter(function (u) { return u.levels[u.levels.length - 1].count > 0; });
    if (!listed.length) {
      var tr0 = el("tr"); tr0.appendChild(el("td", { colspan: 5, class: "muted" }, cfg.text.none)); body.appendChild(tr0);
    }
    listed.forEach(function (u) {
      var tr = el("tr");
      var td = el("td", { "data-label": cfg.text.unit });
      td.appendChild(el("a", { href: cfg.urls.ledger + "?" + qs({ org_unit: u.code, status: "open", overdue: 1, sort: "warning" }) }, u.name));
      tr.appendChild(td);
      u.levels.forEach(function (l) { tr.appendChild(el("td", { "data-label": cfg.levels[l.level] }, String(l.count))); });
      body.appendChild(tr);
    });
  }

  function drawLate(result) {
    var body = document.querySelector("#late-cases tbody");
    body.textContent = "";
    if (!result.items.length) {
      var tr0 = el("tr"); tr0.appendChild(el("td", { colspan: 4, class: "muted" }, cfg.text.none)); body.appendChild(tr0);
    }
    result.items.forEach(function (row) {
      var tr = el("tr");
      var code = el("td"); code.appendChild(el("a", { class: "code", href: cfg.urls["case"] + row.id }, row.code));
      tr.appendChild(code);
      tr.appendChild(el("td", {}, row.title));
      tr.appendChild(el("td", {}, row.org_unit.name));
      var due = el("td");
      due.appendChild(el("span", { class: "due overdue" }, (row.due_at || "").slice(0, 16).replace("T", " ")));
      if (row.days_left !== null && row.days_left < 0) {
        due.appendChild(document.createTextNode(" "));
        due.appendChild(el("span", { class: "badge badge-overdue" }, cfg.text.days_late.replace("{n}", -row.days_left)));
      }
      tr.appendChild(due);
      body.appendChild(tr);
    });
  }

  // 1把尺子: score = Σ weight × rate ÷ Σ weight over the weighed rates a unit has (a rate with nothing to rate
  // — no closed case, no rating — leaves its weight out rather than counting as 0).
  function drawRanking(groups, s, by) {
    var weights = cfg.weights, rates = Object.keys(weights);
    var rows = groups.map(function (g) {
      var sum = 0, wsum = 0;
      rates.forEach(function (r) { if (g[r] !== null && g[r] !== undefined) { sum += weights[r] * g[r]; wsum += weights[r]; } });
      return { g: g, score: wsum ? sum / wsum : null };
    }).sort(function (a, b) { return (b.score === null ? -1 : b.score) - (a.score === null ? -1 : a.score); });
    var body = document.querySelector("#ranking tbody");
    body.textContent = "";
    var unrated = rows.filter(function (row) { return row.score === null; }).length;
    rows = rows.filter(function (row) { return row.score !== null; });
    if (!rows.length) {
      var tr0 = el("tr"); tr0.appendChild(el("td", { colspan: rates.length + 3, class: "muted" }, cfg.text.none)); body.appendChild(tr0);
    }
    rows.forEach(function (row, i) {
      var tr = el("tr");
      tr.appendChild(el("td", {}, String(i + 1)));
      var name = el("td", { "data-label": cfg.text.unit });
      var filter = by === "org_unit" ? { org_unit: row.g.key, include_sub: row.g.includes_units_below ? 1 : "" } : {};
      name.appendChild(by === "org_unit" ? el("a", { href: cfg.urls.ledger + "?" + qs(Object.assign({ opened_from: s.from, opened_to: s.to }, filter)) }, row.g.label || row.g.key)
                                         : el("span", {}, row.g.label || row.g.key));
      tr.appendChild(name);
      rates.forEach(function (r) { tr.appendChild(el("td", { "data-label": cfg.figures[r] || r }, show(r, row.g[r]))); });
      tr.appendChild(el("td", { "data-label": cfg.text.score, class: "score" }, (row.score * 100).toFixed(1)));
      body.appendChild(tr);
    });
    if (unrated) {
      var trn = el("tr", { class: "unrated" });
      trn.appendChild(el("td", { colspan: rates.length + 3, class: "muted small" }, cfg.text.unrated.replace("{n}", unrated)));
      body.appendChild(trn);
    }
  }

  function fail(err) {
    var box = document.getElementById("dashboard-error");
    box.textContent = cfg.text.error.replace("{why}", err.message || String(err));
    box.hidden = false;
  }

  function load() {
    var s = state();
    document.getElementById("dashboard-error").hidden = true;
    var base = { from: s.from, to: s.to, org_unit: s.org_unit };
    var by = document.getElementById("ranking-by").value;
    document.body.setAttribute("data-loading", "1");
    return Promise.all([
      getJSON(cfg.urls.stats, Object.assign({ group_by: "month" }, base)).then(function (r) { drawTiles(r.total, s); drawTrend(r.groups, s); }),
      getJSON(cfg.urls.stats, Object.assign({ group_by: "org_unit" }, base)).then(function (r) {
        // a unit's own line (本级) is its own cases; the others include the units below them
        drawGroups("chart-units", r.groups, s, function (g) { return { org_unit: g.key, include_sub: g.includes_units_below ? 1 : "" }; });
        if (by === "org_unit") drawRanking(r.groups, s, by);
      }),
      getJSON(cfg.urls.stats, Object.assign({ group_by: "category" }, base)).then(function (r) {
        drawGroups("chart-categories", r.groups, s, function (g) { return { category: g.key }; });
      }),
      by === "dept" ? getJSON(cfg.urls.stats, Object.assign({ group_by: "dept" }, base)).then(function (r) { drawRanking(r.groups, s, by); }) : null,
      getJSON(cfg.urls.overdue, { org_unit: s.org_unit }).then(function (r) { drawOverdue(r, s); }),
      getJSON(cfg.urls.cases, Object.assign({ status: "open", overdue: 1, sort: "due", per_page: 10 },
                                            s.org_unit ? { org_unit: s.org_unit, include_sub: 1 } : {})).then(drawLate)
    ]).catch(fail).then(function () { document.body.setAttribute("data-loading", "0"); });
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); load(); });
  document.getElementById("ranking-by").addEventListener("change", load);
  document.getElementById("dashboard-print").addEventListener("click", function () { window.print(); });
  window.addEventListener("beforeprint", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
  load();
})();
