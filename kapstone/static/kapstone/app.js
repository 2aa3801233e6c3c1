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
