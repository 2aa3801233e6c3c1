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
