// Progressive enhancement: every page works without this. With it, a pack's progress bar moves without
// reloading the page, and a thread's actions are sent through the JSON API, the page then showing the new state.
(function () {
  "use strict";
  function csrf(form) { var field = form.querySelector('input[name="csrf"]'); return field ? field.value : ""; }

  function followPack(section) {
    var id = section.getAttribute("data-job");
    var bar = section.querySelector("progress");
    var status = section.querySelector(".job-status");
    function poll() {
      fetch("/api/packs/" + encodeURIComponent(id), { credentials: "same-origin" })
        .then(function (answer) { return answer.json(); })
        .then(function (job) {
          bar.max = job.total; bar.value = job.done;
          if (job.state === "running") {
            status.textContent = job.done + " of " + job.total + " cards made…";
            window.setTimeout(poll, 700);
          } else if (job.state === "done") {
            status.textContent = "Done: ";
            var link = document.createElement("a");
            link.href = job.download; link.setAttribute("download", ""); link.textContent = "download " + job.name + "-pack.zip";
            status.appendChild(link);
          } else {
            status.textContent = "It failed: " + job.error;
          }
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    }
    poll();
  }

  function sendAction(form, event) {
    event.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    body.delete("csrf");
    var data = {};
    body.forEach(function (value, key) { data[key] = value; });
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(form), "Accept": "application/json" },
      body: JSON.stringify(data)
    }).then(function (answer) {
      return answer.json().then(function (reply) { return { ok: answer.ok, reply: reply }; });
    }).then(function (result) {
      if (result.ok) {
        window.location.assign(window.location.pathname + "?notice=" + encodeURIComponent(result.reply.notice));
      } else {
        showError(result.reply.error || "it could not be done");
      }
    }).catch(function () { form.submit(); });
  }

  function showError(text) {
    document.querySelectorAll("main > .flash:not(.banner)").forEach(function (old) { old.remove(); });
    var flash = document.createElement("p");
    flash.className = "flash bad"; flash.setAttribute("role", "alert"); flash.textContent = text;
    document.querySelector("main h1").insertAdjacentElement("afterend", flash);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var pack = document.querySelector("[data-job]");
    if (pack && pack.querySelector("progress") && !pack.querySelector(".job-status a")) { followPack(pack); }
    document.querySelectorAll("form[data-action]").forEach(function (form) {
      form.addEventListener("submit", function (event) { sendAction(form, event); });
    });
  });
})();
