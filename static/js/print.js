// A button marked data-print prints the page (receipts, slips, posters): a listener, as
// the Content-Security-Policy allows no onclick="..." attributes.
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () {
    window.print();
  });
});
