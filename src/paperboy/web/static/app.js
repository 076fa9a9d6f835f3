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
  // --- reading tools (issue 14): abstracts, voting, paper pages, a help that lists what works here ---
  function currentCard() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("[data-paper]") : null;
  }
  function abstracts() { return Array.prototype.slice.call(document.querySelectorAll("details[data-abstract]")); }
  var expandAll = document.querySelector("[data-expand-all]");
  function setAll(open) {
    abstracts().forEach(function (d) { d.open = open; });
    if (expandAll) {
      expandAll.setAttribute("aria-pressed", open ? "true" : "false");
      expandAll.firstChild.firstChild.textContent = open ? "Collapse all" : "Expand all";  // then " abstracts" (hidden on phones)
    }
  }
  function toggleAll() {
    var list = abstracts();
    setAll(!list.every(function (d) { return d.open; }));
  }
  if (expandAll && abstracts().length) {
    expandAll.hidden = false;
    expandAll.addEventListener("click", toggleAll);
  }
  function toggleFocusedAbstract() {
    var card = currentCard();
    var details = card && card.querySelector("details[data-abstract]");
    if (details) details.open = !details.open;
    return !!details;
  }
  function voteControl() {
    var card = currentCard();
    if (card) return card.querySelector(".vote-button");
    return document.querySelector(".paper-actions .vote-button");
  }
  // "u" on a paper page: back to the feed page you came from (its page, category, week …) at this
  // paper's card; without such a referrer, to the day's page that holds the paper (the server's link).
  var FEED_PATH = /^\/(papers\/(date|week|month)\/[^/]+)?$/;
  function backLink() {
    var link = document.querySelector('[data-key="u"]');
    if (!link) return null;
    var anchor = link.getAttribute("data-anchor");
    try {
      var from = new URL(document.referrer);
      if (anchor && from.origin === window.location.origin && FEED_PATH.test(from.pathname)) {
        return from.pathname + from.search + "#" + anchor;
      }
    } catch (e) { /* no referrer */ }
    return link.getAttribute("href");
  }
  // Back on a feed at a card's anchor (#p-…): that card's link takes focus, so j/k go on from it.
  // After "load": Chromium clears focus when it scrolls to a fragment that cannot take focus itself.
  function focusLanded() {
    var landed = window.location.hash.length > 1 && document.getElementById(window.location.hash.slice(1));
    var landedLink = landed && landed.matches("[data-paper]") && landed.querySelector("[data-paper-link]");
    if (landedLink && document.activeElement !== landedLink) landedLink.focus({ preventScroll: true });
  }
  if (document.readyState === "complete") focusLanded();
  else window.addEventListener("load", function () { window.requestAnimationFrame(focusLanded); });
  // Comment deletion asks first: with JavaScript a confirm(); without, the <details> is the confirm step.
  document.addEventListener("click", function (event) {
    var summary = event.target.closest && event.target.closest("details[data-confirm-delete] > summary");
    if (!summary) return;
    event.preventDefault();
    var form = summary.parentElement.querySelector("form");
    if (form && window.confirm("Delete this comment for good?")) form.requestSubmit();
  });

  // What each key does on this page: only keys that have something to act on are listed.
  function shortcuts() {
    var rows = [];
    var onFeed = paperLinks().length > 0;
    var nextPaper = document.querySelector('[data-key="j"]'), prevPaper = document.querySelector('[data-key="k"]');
    if (onFeed) rows.push(["j / k", "next / previous paper"], ["Enter", "open the focused paper"]);
    else if (nextPaper || prevPaper) {
      rows.push([nextPaper && prevPaper ? "j / k" : nextPaper ? "j" : "k",
                 (nextPaper && prevPaper ? "next / previous" : nextPaper ? "next" : "previous") + " paper of the same day"]);
    }
    if (abstracts().length) rows.push(["o", "open or close the focused paper's abstract"]);
    if (expandAll && !expandAll.hidden) rows.push(["e", "expand or collapse all abstracts"]);
    if (onFeed && document.querySelector("[data-paper] .vote-button")) rows.push(["v", "upvote the focused paper"]);
    else if (document.querySelector(".paper-actions .vote-button")) rows.push(["v", "upvote this paper"]);
    ["p", "n"].forEach(function (key) {
      var link = document.querySelector('[data-key="' + key + '"]');
      if (link) rows.push([key, (key === "p" ? "previous: " : "next: ") + link.textContent.replace(/[←→]/g, "").trim()]);
    });
    if (document.querySelector('[data-key="u"]')) rows.push(["u", "back to the day's papers, at this one"]);
    if (document.querySelector("[data-search-box]")) rows.push(["/", "search"]);
    rows.push(["?", "this help"], ["Esc", "close"]);
    return rows;
  }
  var help;
  function showHelp() {
    if (!help) {
      help = document.createElement("dialog");
      help.className = "help";
      help.setAttribute("aria-labelledby", "help-title");
      document.body.appendChild(help);
    }
    help.textContent = "";
    var table = document.createElement("table");
    shortcuts().forEach(function (r) {
      var tr = table.insertRow();
      var k = document.createElement("kbd"); k.textContent = r[0];
      tr.insertCell().appendChild(k);
      tr.insertCell().textContent = r[1];
    });
    var h = document.createElement("h2"); h.id = "help-title"; h.textContent = "Keyboard shortcuts on this page";
    var close = document.createElement("button"); close.className = "button"; close.type = "button"; close.textContent = "Close";
    close.addEventListener("click", function () { help.close(); });
    help.append(h, table, close);
    help.showModal();
  }
  function go(key) {
    var target = document.querySelector('[data-key="' + key + '"]');
    if (!target) return false;
    window.location.href = key === "u" ? backLink() : target.href;
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event)) return;
    if (help && help.open && event.key !== "Escape") return;
    var target;
    switch (event.key) {
      case "j": case "k":
        if (paperLinks().length) move(event.key === "j" ? 1 : -1);
        else if (!go(event.key)) return;
        break;
      case "o": if (!toggleFocusedAbstract()) return; break;
      case "e": if (expandAll && !expandAll.hidden) toggleAll(); else return; break;
      case "v":
        target = voteControl();
        if (!target) return;
        target.click();
        break;
      case "p": case "n": case "u":
        if (!go(event.key)) return;
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
