// The facility's coupon page: reads the visitor's QR code with the phone's camera (jsQR,
// vendored from npm by `make`), puts its text in the code field and sends the form. Without
// this script (or a camera), the clerk types the 6-digit code: the form works alone.
"use strict";
(function () {
  const section = document.getElementById("scanner");
  const video = document.getElementById("scanner-video");
  const status = document.getElementById("scanner-status");
  const start = document.getElementById("scanner-start");
  const stop = document.getElementById("scanner-stop");
  const form = document.getElementById("scan-form");
  const field = document.getElementById("code");
  if (!section || !video || !form || !field || typeof jsQR !== "function" ||
      !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return;
  }
  section.hidden = false;
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let stream = null;
  let timer = null;

  function say(key) {
    status.textContent = key ? status.dataset[key] : "";
  }

  function halt() {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
    if (stream !== null) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    video.srcObject = null;
    start.hidden = false;
    stop.hidden = true;
  }

  function look() {
    if (video.readyState < video.HAVE_ENOUGH_DATA || !video.videoWidth) {
      return;
    }
    // A smaller frame is plenty for a phone held to a phone, and much faster to read.
    const scale = Math.min(1, 640 / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    const found = jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: "dontInvert" });
    if (found && found.data) {
      halt();
      say("found");
      field.value = found.data;
      form.submit();
    }
  }

  start.addEventListener("click", function () {
    say("starting");
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (opened) {
        stream = opened;
        video.srcObject = opened;
        return video.play();
      })
      .then(function () {
        say("");
        start.hidden = true;
        stop.hidden = false;
        timer = window.setInterval(look, 200);
      })
      .catch(function () {
        halt();
        say("failed");
        field.focus();
      });
  });
  stop.addEventListener("click", halt);
  window.addEventListener("pagehide", halt);
})();
