// Paperboy's small progressive enhancements. Everything works without this file.
(function () {
  "use strict";

  // htmx requests carry the CSRF token from the page's <meta name="csrf-token"> (logged-in pages).
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) event.detail.headers["X-CSRF-Token"] = meta.content;
  });

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
    var i = links.indexOf(document.activeElement);
    var next = i === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, i + step));
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
        if (target) target.focus();
        break;
      default: return;
    }
    event.preventDefault();
  });
})();
