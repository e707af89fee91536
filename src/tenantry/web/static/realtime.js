// Live updates on signed-in pages, over Socket.IO (/socket.io, authenticated by the session cookie):
// the header's notification bell and toasts, and lists that refresh when rows change in the organization.
(function () {
  "use strict";
  if (typeof window.io !== "function") return;
  var bell = document.getElementById("bell");
  // The newest notification the page was rendered with: reconnecting from it replays what arrived since.
  var last = bell ? bell.getAttribute("data-last") : null;
  var seen = {};
  var socket = window.io({
    auth: function (send) { send(last ? { since: last } : {}); }
  });
  socket.on("connect", function () { document.documentElement.setAttribute("data-realtime", "connected"); });
  socket.on("disconnect", function () { document.documentElement.setAttribute("data-realtime", "offline"); });

  socket.on("notification", function (n) {
    if (!n || !n.id || seen[n.id]) return; // delivery is at least once
    seen[n.id] = true;
    last = n.id;
    bell = document.getElementById("bell"); // "Mark all read" swaps it
    if (bell) {
      var count = bell.querySelector(".bell-count");
      var value = (parseInt(count.textContent, 10) || 0) + (n.read ? 0 : 1);
      count.textContent = String(value);
      count.hidden = value === 0;
      var button = bell.querySelector(".bell-head button");
      if (button) button.disabled = value === 0;
      var list = bell.querySelector(".bell-list");
      var empty = list.querySelector(".bell-empty");
      if (empty) empty.remove();
      var item = document.createElement("li");
      item.className = n.read ? "" : "unread";
      var title = document.createElement("strong");
      title.textContent = n.title || "Notification";
      var message = document.createElement("span");
      message.textContent = n.message || "";
      item.append(title, message);
      list.prepend(item);
    }
    if (window.tenantryToast) window.tenantryToast((n.title ? n.title + ": " : "") + (n.message || ""));
  });

  // Row events ("projects.created", …: {entity, action, …}) refresh the regions marked
  // data-live-entity="<entity>" with the current page's version of them; a burst of changes
  // becomes one request (each new event restarts the wait).
  var timers = {};
  socket.onAny(function (name, event) {
    if (!event || typeof event !== "object" || !event.entity || !event.action) return;
    document.querySelectorAll("[data-live-entity]").forEach(function (region) {
      if (region.getAttribute("data-live-entity") !== event.entity || !region.id) return;
      clearTimeout(timers[region.id]);
      timers[region.id] = setTimeout(function () { refresh(region.id); }, 300);
    });
  });
  function refresh(id) {
    if (!window.htmx || !document.getElementById(id)) return;
    var url = window.location.pathname + window.location.search;
    window.htmx.ajax("GET", url, { target: "#" + id, select: "#" + id, swap: "outerHTML" });
  }
})();
