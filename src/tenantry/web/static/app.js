// Tenantry's web UI behaviour: small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.documentElement.classList.add("js"); // controls that need scripts show only with them
  // Loading state on submit: the button shows it is busy and cannot be pressed twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("hx-get")) return; // htmx updates part of the page; the form stays usable
    var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
    if (button) {
      setTimeout(function () { button.setAttribute("aria-busy", "true"); button.disabled = true; }, 0);
    }
  });
  // Dialogs: <button data-open="id"> opens <dialog id>; <button data-close> closes its dialog.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open"));
      if (dialog && dialog.showModal) { event.preventDefault(); dialog.showModal(); var f = dialog.querySelector("input, select, textarea, button"); if (f) f.focus(); }
    }
    var closer = event.target.closest("[data-close]");
    if (closer) { var d = closer.closest("dialog"); if (d) { event.preventDefault(); d.close(); } }
  });
  // Selects that act at once (the organization switcher, role changes).
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) { event.target.form.requestSubmit(); }
  });
  // A toast, as the server's pages show them (role=status region at the bottom of every page).
  function toast(message, kind) {
    var region = document.querySelector(".toasts");
    if (!region) return;
    var item = document.createElement("div");
    item.className = "toast " + (kind || "success");
    item.textContent = message;
    region.appendChild(item);
    setTimeout(function () { item.remove(); }, 6000);
  }
  window.tenantryToast = toast; // realtime.js shows notifications arriving on the page with it
  // A request htmx did not swap (refused, or the server failed): say so, and make the form usable again.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    toast(status === 403 ? "You are not allowed to do that." : "That did not work (" + status + "). Try again.", "error");
  });
  document.addEventListener("htmx:sendError", function () { toast("The server cannot be reached. Try again.", "error"); });
  document.addEventListener("htmx:afterRequest", function (event) {
    event.detail.elt.querySelectorAll("button[aria-busy]").forEach(function (b) { b.removeAttribute("aria-busy"); b.disabled = false; });
  });
  // After htmx put a refused form back, the first field with an error takes the focus.
  document.addEventListener("htmx:afterSwap", function () {
    var invalid = document.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
  });
  // A dialog holding a form with errors opens by itself; toasts leave after a while.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog[data-open-now]").forEach(function (d) { if (d.showModal) d.showModal(); });
    document.querySelectorAll(".toast").forEach(function (t) { setTimeout(function () { t.remove(); }, 6000); });
    var invalid = document.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
  });
})();
