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
  // The app frame. Wide screens: the menu button folds the sidebar to icons (remembered in a
  // cookie, so the server draws the next page folded). Narrow screens: it opens the sidebar as a
  // drawer over the page, which Escape, the backdrop or the close button shut again.
  var root = document.documentElement;
  var narrow = window.matchMedia("(max-width: 860px)");
  function toggleButton() { return document.querySelector("[data-sidebar-toggle]"); }
  function syncToggle() {
    var button = toggleButton();
    if (!button) return;
    var open = narrow.matches ? root.classList.contains("drawer-open") : !root.classList.contains("sidebar-collapsed");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  function setInert(on) {
    document.querySelectorAll(".frame-main > main, .topbar .header-tools").forEach(function (e) { e.inert = on; });
  }
  function closeDrawer(returnFocus) {
    if (!root.classList.contains("drawer-open")) return;
    root.classList.remove("drawer-open");
    setInert(false);
    syncToggle();
    var button = toggleButton();
    if (returnFocus && button) button.focus();
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-sidebar-toggle]")) {
      if (narrow.matches) {
        root.classList.add("drawer-open");
        setInert(true); // the page behind the open drawer takes no focus or clicks
        var first = document.querySelector("#sidebar [data-drawer-close]");
        // After the drawer becomes visible: focus cannot go to a hidden element.
        if (first) setTimeout(function () { first.focus(); }, 50);
      } else {
        var collapsed = root.classList.toggle("sidebar-collapsed");
        document.cookie = "tenantry.sidebar=" + (collapsed ? "collapsed" : "open") + "; path=/; max-age=31536000; samesite=lax";
      }
      syncToggle();
      return;
    }
    if (event.target.closest("[data-sidebar-expand]")) {
      // The folded sidebar's organization button: unfold, then hand the focus to the switcher.
      root.classList.remove("sidebar-collapsed");
      document.cookie = "tenantry.sidebar=open; path=/; max-age=31536000; samesite=lax";
      syncToggle();
      var switcher = document.getElementById("org-switcher");
      if (switcher) switcher.focus();
      return;
    }
    if (event.target.closest("[data-drawer-close]")) { closeDrawer(true); return; }
    // A click outside an open menu (user menu, bell) closes it.
    document.querySelectorAll("details.user-menu[open], details.bell[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    closeDrawer(true);
    document.querySelectorAll("details.user-menu[open], details.bell[open]").forEach(function (d) {
      d.removeAttribute("open");
      var summary = d.querySelector("summary");
      if (summary) summary.focus();
    });
  });
  if (narrow.addEventListener) narrow.addEventListener("change", function () { closeDrawer(false); syncToggle(); });
  document.addEventListener("DOMContentLoaded", function () {
    syncToggle();
    // A row of tabs wider than the screen scrolls sideways: bring the current one into view.
    var tab = document.querySelector(".settings-nav [aria-current=page]");
    if (tab && tab.parentElement.scrollWidth > tab.parentElement.clientWidth) {
      tab.parentElement.scrollLeft = tab.offsetLeft - tab.parentElement.offsetLeft - 16;
    }
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
