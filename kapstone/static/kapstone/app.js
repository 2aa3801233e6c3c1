// Kapstone: small progressive enhancements. Everything works without this file.
(function () {
  "use strict";
  // "/" focuses the element that declares data-shortcut="/" (the patient search), unless typing.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (document.activeElement && document.activeElement.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    var target = document.querySelector('[data-shortcut="/"]');
    if (target) { event.preventDefault(); target.focus(); target.select && target.select(); }
  });
  // Move focus to the first field with an error after a refused submit, so keyboard users land on it.
  document.addEventListener("DOMContentLoaded", function () {
    var invalid = document.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (invalid) { invalid.focus(); }
  });
})();

// Charts: a figure embedded with json_script (id in data-figure) is drawn with plotly.js; a
// <select data-chart-models="ID"> shows one model's trace at a time.
(function () {
  "use strict";
  function draw(container) {
    if (typeof Plotly === "undefined") { return; }
    var source = document.getElementById(container.getAttribute("data-figure"));
    if (!source) { return; }
    var figure = JSON.parse(source.textContent);
    Plotly.newPlot(container, figure.data, figure.layout, { displaylogo: false, responsive: true });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-figure]").forEach(draw);
    document.querySelectorAll("select[data-chart-models]").forEach(function (select) {
      select.addEventListener("change", function () {
        var chart = document.getElementById(select.getAttribute("data-chart-models"));
        if (!chart || !chart.data) { return; }
        var visible = chart.data.map(function (trace) { return trace.meta === select.value; });
        Plotly.restyle(chart, { visible: visible });
        var note = document.querySelector("[data-model-source='" + select.getAttribute("data-chart-models") + "']");
        if (note) { note.textContent = select.options[select.selectedIndex].getAttribute("data-source") || ""; }
      });
    });
  });
})();

// Monitoring board (monitoring/board.html): the poller redraws #monitoring-board when something
// changed. Keep what a nurse is typing into an acknowledgement form across a redraw, and say so
// when the polls fail (the board would otherwise silently go stale).
(function () {
  "use strict";
  var draft = null;
  function isBoard(target) { return target && target.id === "monitoring-board"; }
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!isBoard(event.detail.target)) { return; }
    var board = event.detail.target;
    var active = document.activeElement;
    draft = { focus: active && active.id && board.contains(active) ? active.id : null, values: {} };
    board.querySelectorAll("form.ack-form input[id], form.ack-form select[id]").forEach(function (field) {
      draft.values[field.id] = field.value;
    });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!draft || !isBoard(event.detail.target)) { return; }
    Object.keys(draft.values).forEach(function (id) {
      var field = document.getElementById(id);
      if (field) { field.value = draft.values[id]; }
    });
    var focus = draft.focus && document.getElementById(draft.focus);
    if (focus) { focus.focus(); }
    draft = null;
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var poller = event.detail.elt;
    var status = document.getElementById("board-connection");
    if (!status || !poller || !poller.classList || !poller.classList.contains("board-poll")) { return; }
    if (event.detail.successful) {
      if (!status.hidden) { status.hidden = true; status.textContent = ""; }
    } else if (status.hidden) {
      status.hidden = false;
      status.className = "small banner warn";
      status.textContent = "Connection lost at " + new Date().toLocaleTimeString() + ": the board is not up to date.";
    }
  });
})();

// Vitals form on the session page (monitoring/_vitals_form.html, data-enter-submits): Enter in any
// field records the set — the MOAA/S select too, where a browser would only open or close the
// list. A refused set comes back with status 400 and every error beside its field: htmx swaps
// that form in (data-swap-refusal) instead of treating it as a failed request, and the first
// field in error takes the focus.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) { return; }
    var field = event.target;
    var form = field && field.form;
    if (!form || !form.hasAttribute("data-enter-submits")) { return; }
    if (field.tagName !== "INPUT" && field.tagName !== "SELECT") { return; }
    if (field.tagName === "INPUT" && /^(submit|button|reset|checkbox|radio|file)$/.test(field.type)) { return; }
    event.preventDefault();
    if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (event.detail.xhr.status === 400 && elt && elt.hasAttribute && elt.hasAttribute("data-swap-refusal")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:load", function (event) {
    var form = event.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-swap-refusal")) { return; }
    var invalid = form.querySelector(".has-error input, .has-error select");
    if (invalid) { invalid.focus(); }
  });
})();
