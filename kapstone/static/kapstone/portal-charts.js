// The patient's progress charts (portal/patient/progress.html): a figure embedded with
// json_script (its id in data-figure) is drawn with plotly.js, served from our own static files.
// The page says the same in tables, so it works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("[data-figure]").forEach(function (container) {
      var source = document.getElementById(container.getAttribute("data-figure"));
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      Plotly.newPlot(container, figure.data, figure.layout, { displayModeBar: false, responsive: true });
    });
  });
})();
