// The command palette: Ctrl/Cmd-K (or any [data-palette-open] control) opens a search over the
// records the viewer may read, the pages and the actions (GET /palette/search). Arrows move,
// Enter opens, Escape closes. No inline script and no eval: the page's policy allows neither.
(function () {
  "use strict";
  if (!document.body || !document.body.hasAttribute("data-user-id")) return; // signed-in pages only
  // Built on first use: pages without the palette open hold none of it.
  var dialog, input, list;
  var results = [];
  var selected = 0;
  var timer = null;
  var asked = 0;

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "palette";
    dialog.setAttribute("aria-label", "Command palette");
    dialog.innerHTML =
      '<form role="search"><label class="skip" for="palette-q">Find records, pages and actions</label>' +
      '<input id="palette-q" type="search" autocomplete="off" placeholder="Find records, pages and actions…" ' +
      'role="combobox" aria-expanded="true" aria-controls="palette-results" aria-autocomplete="list"></form>' +
      '<ul id="palette-results" role="listbox" aria-label="Results"></ul>' +
      '<p class="palette-hint">↑ ↓ to move · Enter to open · Esc to close</p>';
    document.body.appendChild(dialog);
    input = dialog.querySelector("input");
    list = dialog.querySelector("ul");
    input.addEventListener("input", function () {
      dialog.removeAttribute("data-ready");
      clearTimeout(timer);
      timer = setTimeout(search, 120);
    });
    input.addEventListener("keydown", onKey);
    dialog.querySelector("form").addEventListener("submit", function (event) { event.preventDefault(); });
    list.addEventListener("click", function (event) {
      var item = event.target.closest("[role=option]");
      if (item) go(Number(item.id.replace("palette-item-", "")));
    });
    // A click on the backdrop (outside the box) closes it, as Escape does.
    dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
  }

  function render() {
    list.textContent = "";
    if (!results.length) {
      var none = document.createElement("li");
      none.className = "palette-empty";
      none.setAttribute("role", "presentation");
      none.textContent = input.value ? "Nothing found." : "Type to search.";
      list.appendChild(none);
      input.removeAttribute("aria-activedescendant");
      return;
    }
    results.forEach(function (hit, i) {
      var item = document.createElement("li");
      item.id = "palette-item-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", i === selected ? "true" : "false");
      item.dataset.href = hit.href;
      var label = document.createElement("span");
      label.className = "label";
      label.textContent = hit.label;
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = hit.kind;
      item.appendChild(label);
      item.appendChild(kind);
      list.appendChild(item);
    });
    input.setAttribute("aria-activedescendant", "palette-item-" + selected);
    var current = document.getElementById("palette-item-" + selected);
    if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
  }

  function search() {
    var ticket = ++asked;
    fetch("/palette/search?q=" + encodeURIComponent(input.value), { headers: { accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (body) {
        if (ticket !== asked) return; // an older answer arriving late
        results = body.results || [];
        selected = 0;
        render();
        dialog.setAttribute("data-ready", input.value);
      })
      .catch(function () { results = []; render(); });
  }

  function open() {
    if (!dialog) build();
    if (dialog.open) return;
    input.value = "";
    dialog.showModal();
    input.focus();
    search();
  }

  function go(i) {
    var hit = results[i];
    if (hit) { dialog.close(); window.location.assign(hit.href); }
  }

  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "k" || event.key === "K")) {
      event.preventDefault();
      if (dialog && dialog.open) dialog.close(); else open();
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-palette-open]")) { event.preventDefault(); open(); }
  });
  function onKey(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!results.length) return;
      selected = (selected + (event.key === "ArrowDown" ? 1 : results.length - 1)) % results.length;
      render();
    } else if (event.key === "Enter") {
      event.preventDefault();
      go(selected);
    } else if (event.key === "Escape") {
      // A search box would only clear itself on Escape: the palette closes instead.
      event.preventDefault();
      dialog.close();
    }
  }

  // Relative times ("3 minutes ago") stay true while the page is open; the exact time is the title.
  var UNITS = [[31536000, "year"], [2592000, "month"], [604800, "week"], [86400, "day"], [3600, "hour"], [60, "minute"]];
  function words(iso) {
    var seconds = (Date.now() - Date.parse(iso)) / 1000;
    var ahead = seconds < 0;
    seconds = Math.abs(seconds);
    if (isNaN(seconds)) return null;
    if (seconds < 45) return "just now";
    for (var i = 0; i < UNITS.length; i++) {
      if (seconds >= UNITS[i][0]) {
        var n = UNITS[i][0] < 86400 ? Math.round(seconds / UNITS[i][0]) : Math.floor(seconds / UNITS[i][0]);
        var text = n + " " + UNITS[i][1] + (n === 1 ? "" : "s");
        return ahead ? "in " + text : text + " ago";
      }
    }
    return ahead ? "in a minute" : "a minute ago";
  }
  setInterval(function () {
    document.querySelectorAll("time[data-relative]").forEach(function (t) {
      var text = words(t.getAttribute("datetime"));
      if (text && t.textContent !== text) t.textContent = text;
    });
  }, 30000);
})();
