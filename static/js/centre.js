// The member centre's few behaviours, as listeners (the Content-Security-Policy allows no
// onfocus="..." attributes): a read-only field marked data-select-on-focus selects its
// text when focused, ready to copy (the invitation link).
document.querySelectorAll("[data-select-on-focus]").forEach(function (field) {
  field.addEventListener("focus", function () {
    field.select();
  });
});
