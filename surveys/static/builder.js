// The survey builder's question list: drag a question to reorder (the Up and Down buttons
// do the same without a mouse or without this script). The new order is posted with the
// page's CSRF token and the version's revision; the page reloads to show the result.
(function () {
  "use strict";
  const list = document.getElementById("question-list");
  if (!list || !list.dataset.reorderUrl) {
    return;
  }
  const status = document.getElementById("reorder-status");
  const token = document.querySelector('meta[name="csrf-token"]').content;
  let dragged = null;

  function say(message) {
    status.textContent = message;
  }

  function clearTargets() {
    list.querySelectorAll(".drop-target").forEach((item) => item.classList.remove("drop-target"));
  }

  list.addEventListener("dragstart", (event) => {
    dragged = event.target.closest("li");
    if (!dragged) {
      return;
    }
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.name);
  });

  list.addEventListener("dragover", (event) => {
    const target = event.target.closest("li");
    if (!dragged || !target || target === dragged) {
      return;
    }
    event.preventDefault();
    clearTargets();
    target.classList.add("drop-target");
  });

  list.addEventListener("dragend", () => {
    if (dragged) {
      dragged.classList.remove("dragging");
    }
    clearTargets();
    dragged = null;
  });

  list.addEventListener("drop", async (event) => {
    const target = event.target.closest("li");
    event.preventDefault();
    clearTargets();
    if (!dragged || !target || target === dragged) {
      return;
    }
    const moved = dragged;
    const before = moved.nextSibling;
    list.insertBefore(moved, target);
    const body = new URLSearchParams();
    body.append("csrf_token", token);
    body.append("revision", list.dataset.revision);
    list.querySelectorAll(":scope > li").forEach((item) => body.append("order", item.dataset.name));
    say(list.dataset.saving || "…");
    try {
      const response = await fetch(list.dataset.reorderUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token },
      });
      const answer = await response.json();
      if (response.ok) {
        window.location.reload();
        return;
      }
      say(answer.problems.join(" "));
    } catch (error) {
      say(String(error));
    }
    list.insertBefore(moved, before); // not saved: put it back where it was
  });
})();
