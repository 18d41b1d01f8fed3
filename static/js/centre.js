// The member centre's few behaviours, as listeners (the Content-Security-Policy allows no
// onfocus="..." attributes):
// - a read-only field marked data-select-on-focus selects its text when focused;
// - a button data-copy="#field" copies the field's text (navigator.clipboard), and says so;
// - a button data-share-url shares the link through the phone's share sheet
//   (navigator.share), data-share-file shares that picture (the invitation poster); both
//   stay hidden where the browser cannot share.
(function () {
  "use strict";
  var status = document.getElementById("invite-status");

  function say(text) {
    if (status && text) status.textContent = text;
  }

  document.querySelectorAll("[data-select-on-focus]").forEach(function (field) {
    field.addEventListener("focus", function () {
      field.select();
    });
  });

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.querySelector(button.dataset.copy);
    if (!field) return;
    button.addEventListener("click", function () {
      var text = field.value || field.textContent;
      function fallback() {
        field.focus();
        field.select();
        var done = false;
        try { done = document.execCommand("copy"); } catch (e) { done = false; }
        say(done ? button.dataset.copied : button.dataset.copyFailed);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () {
          say(button.dataset.copied);
        }, fallback);
      } else {
        fallback();
      }
    });
  });

  if (!navigator.share) return;
  document.querySelectorAll("[data-share-url]").forEach(function (button) {
    var file = button.dataset.shareFile;
    if (file && !navigator.canShare) return;
    button.classList.remove("d-none");
    button.addEventListener("click", function () {
      var data = { title: button.dataset.shareTitle, text: button.dataset.shareText || "",
                   url: button.dataset.shareUrl };
      var ready = Promise.resolve(data);
      if (file) {
        ready = fetch(file, { credentials: "same-origin" })
          .then(function (response) { return response.blob(); })
          .then(function (blob) {
            var picture = new File([blob], "invite.png", { type: "image/png" });
            var withFile = { title: data.title, files: [picture] };
            return navigator.canShare(withFile) ? withFile : data;
          });
      }
      ready.then(function (payload) {
        return navigator.share(payload);
      }).catch(function () { /* cancelled, or not allowed: nothing to say */ });
    });
  });
})();
