// The resident's coupon page: fetches the next code when the current one changes (every 30
// seconds) and swaps the QR image, the six digits and the uses left. Without this script the
// page shows the code of the moment it was loaded, and "reload" shows the current one.
"use strict";
(function () {
  const section = document.getElementById("coupon-code");
  const image = document.getElementById("coupon-qr");
  const digits = document.getElementById("coupon-digits");
  const uses = document.getElementById("coupon-uses");
  const reload = document.getElementById("coupon-reload");
  if (!section || !image || !digits || !window.fetch) {
    return;
  }
  let failures = 0;

  function stop() {
    section.replaceChildren();
    const note = document.createElement("p");
    note.className = "flash";
    note.textContent = section.dataset.ended;
    section.appendChild(note);
  }

  function schedule(seconds) {
    window.setTimeout(refresh, Math.max(1, seconds) * 1000 + 300);
  }

  function refresh() {
    fetch(section.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        if (uses && data.uses) {
          uses.textContent = data.uses;
        }
        if (!data.usable) {
          stop();
          return;
        }
        image.src = data.qr;
        digits.textContent = data.code;
        schedule(data.changes_in);
      })
      .catch(function (error) {
        failures += 1;
        // Signed out (the page's session ended) or the coupon is gone: nothing more to show.
        if (error.message === "403" || error.message === "404" || failures > 3) {
          stop();
          return;
        }
        schedule(5);
      });
  }

  if (reload) {
    reload.hidden = true;
  }
  schedule(Number(section.dataset.changesIn) || 30);
})();
