// Paperboy's small progressive enhancements. Everything works without this file.
(function () {
  "use strict";

  // htmx requests carry the CSRF token from the page's <meta name="csrf-token"> (logged-in pages).
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) event.detail.headers["X-CSRF-Token"] = meta.content;
  });

  // --- UI-A (issue #14): upvotes keep focus and announce the count; the phone header's search toggle ---
  // An in-place upvote swaps the form (htmx outerHTML): focus goes back to the new button if it was
  // on the old one, and the new count is announced in the polite live region #vote-status.
  var votePending = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.matches && form.matches("form[data-vote]")) {
      votePending = { id: form.getAttribute("data-vote"), focused: form.contains(document.activeElement) };
    }
  });
  document.addEventListener("htmx:load", function (event) {
    var form = event.detail.elt;
    if (!votePending || !form || !form.matches || !form.matches("form[data-vote]") || form.getAttribute("data-vote") !== votePending.id) return;
    var button = form.querySelector("button");
    if (votePending.focused && button) button.focus();
    var status = document.getElementById("vote-status");
    if (status && button) {
      var count = button.querySelector(".vote-count").textContent;
      var done = button.getAttribute("aria-pressed") === "true" ? "Upvoted" : "Upvote removed";
      status.textContent = done + ": " + count + (count === "1" ? " upvote" : " upvotes");
    }
    votePending = null;
  });

  // The search icon of the phone header: without JS a link to /search, with it a toggle for the box.
  var searchToggle = document.querySelector("[data-search-toggle]");
  var header = document.querySelector(".site-header");
  function openSearch(open) {
    header.classList.toggle("search-open", open);
    searchToggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) document.getElementById("header-q").focus();
  }
  if (searchToggle && header) {
    searchToggle.setAttribute("role", "button");
    searchToggle.setAttribute("aria-controls", "header-search");
    searchToggle.setAttribute("aria-expanded", "false");
    searchToggle.addEventListener("click", function (event) {
      event.preventDefault();
      openSearch(!header.classList.contains("search-open"));
    });
    searchToggle.addEventListener("keydown", function (event) {
      if (event.key === " ") { event.preventDefault(); searchToggle.click(); }
    });
    document.getElementById("header-search").addEventListener("keydown", function (event) {
      if (event.key === "Escape" && header.classList.contains("search-open")) { openSearch(false); searchToggle.focus(); }
    });
  }
  // The phone header's account menu (a <details>): Escape or a click elsewhere closes it.
  var accountMenu = document.querySelector(".account-menu");
  if (accountMenu) {
    document.addEventListener("click", function (event) {
      if (accountMenu.open && !accountMenu.contains(event.target)) accountMenu.open = false;
    });
    accountMenu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && accountMenu.open) { accountMenu.open = false; accountMenu.querySelector("summary").focus(); }
    });
  }
  // Category chips: one Tab stop (the current chip) instead of a dozen on the way to the papers;
  // ←/→, Home and End move between them (without JS every chip is a Tab stop, as before).
  document.querySelectorAll(".chips").forEach(function (bar) {
    var chips = Array.prototype.slice.call(bar.querySelectorAll(":scope > a.chip"));
    if (chips.length < 2) return;
    var current = bar.querySelector(":scope > a.chip[aria-current]") || chips[0];
    chips.forEach(function (chip) { chip.tabIndex = chip === current ? 0 : -1; });
    bar.addEventListener("keydown", function (event) {
      var i = chips.indexOf(document.activeElement);
      if (i === -1 || event.altKey || event.ctrlKey || event.metaKey) return;
      var j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: chips.length - 1 }[event.key];
      if (j === undefined) return;
      j = Math.max(0, Math.min(chips.length - 1, j));
      chips[i].tabIndex = -1;
      chips[j].tabIndex = 0;
      chips[j].focus();
      event.preventDefault();
    });
  });
  // --- end UI-A ---

  // Copy buttons: <button data-copy="#selector"> copies that element's text.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.querySelector(button.getAttribute("data-copy"));
      if (!source) return;
      navigator.clipboard.writeText(source.textContent).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        button.classList.add("copied");
        setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
      });
    });
  });

  // Keyboard shortcuts: j/k move between papers, p/n previous/next period, u up to the day, ? help.
  function typing(event) {
    var t = event.target;
    return t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName);
  }
  function paperLinks() { return Array.prototype.slice.call(document.querySelectorAll("[data-paper-link]")); }
  function move(step) {
    var links = paperLinks();
    if (!links.length) return;
    // The paper focus is in (its title link, its vote button, the card itself after "Skip to papers").
    var active = document.activeElement;
    var card = active && active.closest ? active.closest("[data-paper]") : null;
    var i = card ? links.indexOf(card.querySelector("[data-paper-link]")) : -1;
    if (i !== -1 && active === card) i -= step > 0 ? 1 : 0; // on the card itself: j opens its own link
    var next = i === -1 && !card ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, i + step));
    links[next].focus();
    links[next].scrollIntoView({ block: "center" });
  }
  var help;
  function showHelp() {
    if (!help) {
      help = document.createElement("dialog");
      help.className = "help";
      help.setAttribute("aria-label", "Keyboard shortcuts");
      var rows = [["j / k", "next / previous paper"], ["Enter", "open the focused paper"], ["p / n", "previous / next day, week or month"],
                  ["u", "from a paper, back to its day"], ["/", "search"], ["?", "this help"], ["Esc", "close"]];
      var table = document.createElement("table");
      rows.forEach(function (r) {
        var tr = table.insertRow();
        var k = document.createElement("kbd"); k.textContent = r[0];
        tr.insertCell().appendChild(k);
        tr.insertCell().textContent = r[1];
      });
      var h = document.createElement("h2"); h.textContent = "Keyboard shortcuts";
      var close = document.createElement("button"); close.className = "button"; close.textContent = "Close";
      close.addEventListener("click", function () { help.close(); });
      help.append(h, table, close);
      document.body.appendChild(help);
    }
    help.showModal();
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event)) return;
    var target;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "p": case "n": case "u":
        target = document.querySelector('[data-key="' + event.key + '"]');
        if (target) window.location.href = target.href;
        break;
      case "?": showHelp(); break;
      case "/":
        target = document.querySelector("[data-search-box]");
        if (target && searchToggle && !target.offsetParent) openSearch(true); // the phone header's box is hidden
        else if (target) target.focus();
        break;
      default: return;
    }
    event.preventDefault();
  });
})();
