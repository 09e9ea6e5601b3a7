// The console's one script: restates every time in the browser's own time zone, with the
// offset shown, and keeps the work list live from the console's change events.
"use strict";
(function () {
  function pad(n) {
    return String(n).padStart(2, "0");
  }
  function local(ms) {
    const d = new Date(ms);
    const offset = -d.getTimezoneOffset();
    const sign = offset >= 0 ? "+" : "-";
    const abs = Math.abs(offset);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " +
      sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }
  function localise(root) {
    root.querySelectorAll("time[data-ms]").forEach(function (t) {
      const ms = Number(t.dataset.ms);
      if (Number.isFinite(ms)) {
        t.textContent = local(ms);
        t.title = "UTC " + t.getAttribute("datetime");
      }
    });
  }
  function follow(live) {
    if (!window.EventSource) {
      return;
    }
    const source = new EventSource("/live");
    source.addEventListener("changed", function () {
      fetch(live.dataset.live, { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (rows) {
          if (rows !== null) {
            live.innerHTML = rows;
            localise(live);
            document.body.dataset.updated = String(Date.now());
          }
        })
        .catch(function () { /* the next change retries */ });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    const live = document.querySelector("[data-live]");
    if (live) {
      follow(live);
    }
  });
})();
