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
  function readyForNextScan() {
    var q = document.querySelector("input[name=q]");
    if (q) q.select();
  }
  document.addEventListener("htmx:afterSwap", readyForNextScan);

  // htmx swaps no error answer, so a search that met an outage (config/outage.py: 503,
  // or 507 when the disk is full) or no server at all would show nothing: say so at the
  // top of the page (#htmx-alert, templates/base.html, which holds the translated words),
  // until the next htmx request succeeds. Other errors keep their own handling.
  // 502/504: the proxy in front answered for an app server that is down or too slow.
  var MESSAGES = { 502: "unreachable", 503: "unavailable", 504: "unreachable", 507: "diskFull" };
  function showAlert(key) {
    var box = document.getElementById("htmx-alert");
    if (!box || !box.dataset[key]) return;
    box.textContent = box.dataset[key];
    box.hidden = false;
    readyForNextScan();  // the clerk scans again: the new scan replaces the old one
  }
  document.addEventListener("htmx:responseError", function (event) {
    var key = MESSAGES[event.detail.xhr.status];
    if (key) showAlert(key);
  });
  document.addEventListener("htmx:sendError", function () {
    showAlert("unreachable");
  });
  document.addEventListener("htmx:timeout", function () {
    showAlert("unreachable");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var box = document.getElementById("htmx-alert");
    if (box && event.detail.successful) box.hidden = true;
  });
})();
