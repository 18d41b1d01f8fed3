// Staff screens, keyboard first: Esc goes back (the page says where, data-esc-url on
// <body>); a button marked data-once is disabled after its form is sent, so a double
// click sends once (the form's token makes a resend harmless anyway).
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    var target = event.target;
    // Esc in a filled search box clears it first; a second Esc goes back.
    if (target && target.name === "q" && target.value) {
      target.value = "";
      return;
    }
    var back = document.body.dataset.escUrl;
    if (back && back !== window.location.pathname + window.location.search) {
      event.preventDefault();
      window.location.href = back;
    } else if (back) {
      var q = document.querySelector("input[name=q]");
      if (q) { q.focus(); q.select(); }
    }
  });
  document.addEventListener("submit", function (event) {
    var buttons = event.target.querySelectorAll("button[data-once]");
    window.setTimeout(function () {
      buttons.forEach(function (b) { b.disabled = true; });
    }, 0);
  });
  // After htmx swaps the search result in, keep the box ready for the next scan.
  document.addEventListener("htmx:afterSwap", function () {
    var q = document.querySelector("input[name=q]");
    if (q) q.select();
  });
})();
