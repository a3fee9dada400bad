// The labelling page: keyboard shortcuts, label/skip via the JSON API, DOM updates with textContent only.
(function () {
  "use strict";
  var stateEl = document.getElementById("label-state");
  if (!stateEl) { return; }
  var state = JSON.parse(stateEl.textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var busy = false;
  var keys = {};
  state.choices.forEach(function (c) { keys[c.key] = c.label; });

  function $(id) { return document.getElementById(id); }

  function render(item, progress) {
    state.item = item;
    if (progress) {
      $("progress").textContent = progress.n_labelled + " of " + progress.n_items + " labelled";
      $("overlap-progress").textContent = progress.n_overlap_done + "/" + progress.n_overlap;
      var mine = progress.annotators[state.annotator];
      $("my-count").textContent = mine ? mine.labelled : 0;
    }
    $("item-area").hidden = !item;
    $("done").hidden = !!item;
    $("note").value = "";
    if (!item) { return; }
    $("item-input").textContent = item.input;
    $("item-output").textContent = item.output;
    $("overlap-badge").hidden = !item.overlap;
    var ctx = $("item-context");
    while (ctx.firstChild) { ctx.removeChild(ctx.firstChild); }
    item.context.forEach(function (text) {
      var pre = document.createElement("pre");
      pre.className = "text";
      pre.textContent = text;
      ctx.appendChild(pre);
    });
    $("context-box").hidden = item.context.length === 0;
    document.body.setAttribute("data-item-id", item.item_id);
  }

  function send(body) {
    if (busy || !state.item) { return; }
    busy = true;
    $("status").textContent = "saving…";
    body.annotator = state.annotator;
    body.note = $("note").value;
    var url = "/api/label/queues/" + encodeURIComponent(state.queue_id) + "/items/" +
      state.item.item_id.split("/").map(encodeURIComponent).join("/");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (data) { return { ok: resp.ok, data: data }; });
    }).then(function (r) {
      if (!r.ok) { throw new Error(r.data.error || "could not save"); }
      $("status").textContent = body.skipped ? "skipped" : "saved: " + body.label;
      render(r.data.item, r.data.progress);
    }).catch(function (err) {
      $("status").textContent = "error: " + err.message;
      $("status").className = "status error";
    }).finally(function () { busy = false; });
  }

  document.querySelectorAll("#choices button[data-label]").forEach(function (b) {
    b.addEventListener("click", function () { send({ label: b.getAttribute("data-label") }); });
  });
  $("skip").addEventListener("click", function () { send({ skipped: true }); });

  document.addEventListener("keydown", function (ev) {
    var inNote = document.activeElement === $("note");
    if (inNote) {
      if (ev.key === "Escape") { $("note").blur(); ev.preventDefault(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (keys[ev.key] !== undefined) { send({ label: keys[ev.key] }); ev.preventDefault(); }
    else if (ev.key === "s") { send({ skipped: true }); ev.preventDefault(); }
    else if (ev.key === "n") { $("note").focus(); ev.preventDefault(); }
  });

  if (state.item) { document.body.setAttribute("data-item-id", state.item.item_id); }
  document.body.setAttribute("data-ready", "1");
}());
