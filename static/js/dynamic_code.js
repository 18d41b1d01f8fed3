// The member card's dynamic code (/me/): counts down to the next code and fetches it
// (the JSON of centre:card_code: the code, its barcode and QR code as SVG, the seconds
// it has left) without reloading the page. The server draws and signs every code;
// this only swaps them in. A page brought back from the background asks at once.
(function () {
  "use strict";
  var box = document.getElementById("dynamic-code");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-url");
  var left = parseInt(box.getAttribute("data-seconds-left"), 10) || 60;
  var texts = document.getElementById("code-countdown-text");
  var countdown = document.getElementById("code-countdown");
  var used = document.getElementById("code-used");
  var error = document.getElementById("code-error");
  var loading = false;

  function countdownText(n) {
    var pattern = texts.getAttribute(n === 1 ? "data-one" : "data-other");
    return pattern.replace(/\d+/, String(n));
  }

  function show(state) {
    document.getElementById("card-barcode").innerHTML = state.barcode;
    document.getElementById("card-qr").innerHTML = state.qr;
    document.getElementById("card-code").textContent = state.display;
    box.setAttribute("data-code", state.code);
    used.classList.toggle("d-none", !state.used);
    box.classList.toggle("is-used", state.used);
    error.classList.add("d-none");
    left = state.seconds_left;
    countdown.textContent = countdownText(left);
  }

  function refresh() {
    if (loading) {
      return;
    }
    loading = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("application/json") !== 0) {
          throw new Error("no code");
        }
        return response.json();
      })
      .then(show)
      .catch(function () {
        error.classList.remove("d-none");
        left = 10; // try again soon
      })
      .then(function () {
        loading = false;
      });
  }

  setInterval(function () {
    if (document.hidden) {
      return;
    }
    left -= 1;
    if (left <= 0) {
      refresh();
    } else {
      countdown.textContent = countdownText(left);
    }
  }, 1000);

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
})();
