// The receipt's paper width (58 or 80 mm): the page's ?width=, else the last one chosen
// in this browser. The printed page is as long as the receipt: the @page rule of the
// width (static/css/receipt.css) gets the receipt's length before printing.
(function () {
  "use strict";
  var KEY = "huiyuan.receiptWidth";
  var WIDTHS = ["58", "80"];
  var body = document.body;
  var receipt = document.getElementById("receipt");
  if (!receipt) return;

  function store(width) {
    try { window.localStorage.setItem(KEY, width); } catch (e) { /* private mode */ }
  }
  function remembered() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function show(width) {
    WIDTHS.forEach(function (w) { body.classList.toggle("receipt-w" + w, w === width); });
    document.querySelectorAll("[data-receipt-width]").forEach(function (link) {
      var on = link.dataset.receiptWidth === width;
      link.classList.toggle("active", on);
      link.setAttribute("aria-pressed", on ? "true" : "false");
    });
    fitPage(width);
  }
  // The page's length: the receipt's, in mm, plus a little for the cutter.
  function fitPage(width) {
    var sheet = Array.prototype.find.call(document.styleSheets, function (s) {
      return s.href && s.href.indexOf("receipt") !== -1 && s.href.indexOf(".css") !== -1;
    });
    if (!sheet) return;
    var mm = Math.ceil(receipt.getBoundingClientRect().height * 25.4 / 96 * 1.15) + 8;
    var rules = sheet.cssRules;
    for (var i = 0; i < rules.length; i++) {
      if (rules[i].type === CSSRule.PAGE_RULE && rules[i].selectorText === "receipt-" + width) {
        rules[i].style.setProperty("size", width + "mm " + Math.max(mm, 60) + "mm");
      }
    }
  }

  var asked = new URLSearchParams(window.location.search).get("width");
  var width = WIDTHS.indexOf(asked) !== -1 ? asked : remembered();
  if (WIDTHS.indexOf(width) === -1) width = body.dataset.receiptWidth || "80";
  if (asked) store(asked);
  show(width);
  document.querySelectorAll("[data-receipt-width]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      width = link.dataset.receiptWidth;
      store(width);
      show(width);
      window.history.replaceState(null, "", link.href);
    });
  });
  window.addEventListener("beforeprint", function () { fitPage(width); });
})();
