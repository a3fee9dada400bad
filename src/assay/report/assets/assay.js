/* assay: small dependency-free helpers shared by the static report and the dashboard.
 * Security rule: text from cases and outputs is only ever inserted with textContent / createTextNode,
 * never innerHTML. Data arrives as JSON in <script type="application/json"> blocks. */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k)) continue;
        if (k === "text") node.textContent = attrs[k];
        else if (k === "cls") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      }
    }
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
    return v.toFixed(digits === undefined ? 3 : digits);
  }

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function renderPlots(root) {
    var scripts = (root || document).querySelectorAll("script.plot-spec");
    scripts.forEach(function (s) {
      var target = document.getElementById(s.getAttribute("data-target"));
      if (!target || typeof Plotly === "undefined") return;
      var spec = JSON.parse(s.textContent);
      Plotly.newPlot(target, spec.data, spec.layout, { responsive: true, displaylogo: false });
    });
  }

  /* Word-level diff (LCS over tokens); falls back to no diff for very long texts. */
  function wordDiff(a, b) {
    var frag = document.createDocumentFragment();
    var x = (a || "").split(/(\s+)/), y = (b || "").split(/(\s+)/);
    if (x.length * y.length > 4000000) {
      frag.appendChild(document.createTextNode(b || ""));
      return frag;
    }
    var n = x.length, m = y.length, i, j;
    var dp = new Array(n + 1);
    for (i = 0; i <= n; i++) { dp[i] = new Uint32Array(m + 1); }
    for (i = n - 1; i >= 0; i--) {
      for (j = m - 1; j >= 0; j--) {
        dp[i][j] = x[i] === y[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
      }
    }
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) { frag.appendChild(document.createTextNode(x[i])); i++; j++; }
      else if (j < m && (i >= n || dp[i][j + 1] >= dp[i + 1][j])) { frag.appendChild(el("ins", { text: y[j] })); j++; }
      else { frag.appendChild(el("del", { text: x[i] })); i++; }
    }
    return frag;
  }

  function failing(value, kind, hib) {
    if (value === null || value === undefined) return true;
    if (kind === "binary") return hib ? value < 0.5 : value >= 0.5;
    if (kind === "proportion" && hib) return value < 0.5;
    return false;
  }

  /* The report's case table: search, filter by failing scorer, pagination, expandable rows with a diff. */
  function caseTable(container, data) {
    var cols = data.metrics, rows = data.rows, pageSize = 50, page = 0, filtered = rows;
    var search = el("input", { type: "search", placeholder: "search id, input, expected, output", id: "case-search", size: "40" });
    var select = el("select", { id: "case-filter" }, [el("option", { value: "", text: "all cases" })]);
    cols.forEach(function (c) { select.appendChild(el("option", { value: c.name, text: "failing: " + c.name })); });
    select.appendChild(el("option", { value: "__target_error__", text: "target errors" }));
    var info = el("span", { cls: "muted", id: "case-count" });
    var prev = el("button", { cls: "secondary", type: "button", text: "‹ prev" });
    var next = el("button", { cls: "secondary", type: "button", text: "next ›" });
    container.appendChild(el("div", { cls: "controls" }, [search, select, prev, next, info]));
    var head = el("tr", {}, [el("th", { text: "case" }), el("th", { text: "input" }), el("th", { text: "expected" }), el("th", { text: "output" })]);
    cols.forEach(function (c) { head.appendChild(el("th", { cls: "num", text: c.name })); });
    var tbody = el("tbody", { id: "case-rows" });
    container.appendChild(el("table", { id: "case-table" }, [el("thead", {}, [head]), tbody]));

    function matches(r, q, f) {
      if (f === "__target_error__") { if (!r.err) return false; }
      else if (f) {
        var k = cols.findIndex(function (c) { return c.name === f; });
        if (r.err || !failing(r.s[k], cols[k].kind, cols[k].higher_is_better)) return false;
      }
      if (!q) return true;
      return [r.id, r.in, r.ex, r.out, r.err].some(function (t) { return t && String(t).toLowerCase().indexOf(q) >= 0; });
    }
    function detail(r) {
      var box = el("div");
      box.appendChild(el("div", { cls: "muted", text: "expected vs output (word diff: inserted in output / missing from output)" }));
      var d = el("div", { cls: "full-text diff" }); d.appendChild(wordDiff(r.ex || "", r.out || "")); box.appendChild(d);
      box.appendChild(el("div", { cls: "muted", text: "input" })); box.appendChild(el("div", { cls: "full-text", text: r.in || "" }));
      if (r.err) box.appendChild(el("div", { cls: "full-text", text: "target error: " + r.err }));
      var t = el("table");
      cols.forEach(function (c, k) {
        t.appendChild(el("tr", {}, [el("td", { text: c.name }), el("td", { cls: "num", text: fmt(r.s[k]) }), el("td", { text: r.e[k] || "" })]));
      });
      box.appendChild(t);
      if (r.m && Object.keys(r.m).length) box.appendChild(el("pre", { cls: "json", text: JSON.stringify(r.m, null, 2) }));
      return box;
    }
    function draw() {
      tbody.textContent = "";
      var start = page * pageSize, shown = filtered.slice(start, start + pageSize);
      shown.forEach(function (r) {
        var tr = el("tr", { cls: "case-row", "data-case-id": r.id }, [
          el("td", { cls: "mono", text: r.id + (r.r ? " #" + r.r : "") }),
          el("td", {}, [el("div", { cls: "cell-text", text: r.in || "" })]),
          el("td", {}, [el("div", { cls: "cell-text", text: r.ex || "" })]),
          el("td", {}, [el("div", { cls: "cell-text", text: r.err ? "⚠ " + r.err : (r.out || "") })]),
        ]);
        cols.forEach(function (c, k) {
          var bad = !r.err && failing(r.s[k], c.kind, c.higher_is_better);
          tr.appendChild(el("td", { cls: "num" + (bad ? " fail" : ""), text: fmt(r.s[k]) }));
        });
        var open = null;
        tr.addEventListener("click", function () {
          if (open) { open.remove(); open = null; return; }
          open = el("tr", { cls: "detail" }, [el("td", { colspan: String(4 + cols.length) }, [detail(r)])]);
          tr.after(open);
        });
        tbody.appendChild(tr);
      });
      var last = Math.min(start + pageSize, filtered.length);
      info.textContent = filtered.length ? (start + 1) + "–" + last + " of " + filtered.length + " (" + rows.length + " in run)" : "no matching case";
      prev.disabled = page === 0; next.disabled = last >= filtered.length;
    }
    function apply() {
      var q = search.value.trim().toLowerCase(), f = select.value;
      filtered = rows.filter(function (r) { return matches(r, q, f); });
      page = 0; draw();
    }
    search.addEventListener("input", apply);
    select.addEventListener("change", apply);
    prev.addEventListener("click", function () { if (page > 0) { page--; draw(); } });
    next.addEventListener("click", function () { page++; draw(); });
    draw();
  }

  window.Assay = { el: el, fmt: fmt, readJSON: readJSON, renderPlots: renderPlots, wordDiff: wordDiff, caseTable: caseTable };

  document.addEventListener("DOMContentLoaded", function () {
    renderPlots(document);
    var cases = readJSON("assay-cases");
    var holder = document.getElementById("cases");
    if (cases && holder) caseTable(holder, cases);
    document.querySelectorAll("[data-diff-a]").forEach(function (node) {
      var a = document.getElementById(node.getAttribute("data-diff-a")), b = document.getElementById(node.getAttribute("data-diff-b"));
      if (a && b) node.appendChild(wordDiff(a.textContent, b.textContent));
    });
  });
})();
