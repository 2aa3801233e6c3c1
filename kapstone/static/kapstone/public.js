// The public pre-screen. Works without JavaScript; this only moves the focus to the first
// answer that needs attention after the page comes back with errors (a screen reader then
// reads the question and its error together).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-focus]");
    if (!form) { return; }
    var target = document.getElementById(form.getAttribute("data-focus"));
    if (!target) { return; }
    if (target.tagName === "FIELDSET") {
      var first = target.querySelector("input");
      (first || target).focus();
    } else {
      target.focus();
    }
  });
})();
