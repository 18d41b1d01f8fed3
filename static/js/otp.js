// The "resend code" countdown. Without JavaScript the button stays as the server drew it
// (and the server refuses a resend within 60 s either way).
document.querySelectorAll("button[data-wait]").forEach(function (button) {
  var left = parseInt(button.dataset.wait, 10) || 0;
  if (left <= 0) return;
  var timer = setInterval(function () {
    left -= 1;
    if (left <= 0) {
      clearInterval(timer);
      button.disabled = false;
      button.textContent = button.dataset.label;
    } else {
      button.textContent = button.dataset.waitLabel.replace("%(n)s", left);
    }
  }, 1000);
});
