"""Reading in a real browser (issue 14): layouts, abstracts, shortcuts and their help, back to the same place,
comment deletion that asks first, bold math in titles. Playwright driving Debian's Chromium."""

import re

import pytest

from conftest import ARTIFACTS, browser_tests, make_app, serve, slice_database_url

from paperboy.http.site import site_of

pytestmark = browser_tests

DAY = "/papers/date/2026-06-30"


def _context(browser, **kw):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **kw)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return context, page


def _visible_cards(page) -> int:
    return page.evaluate("""[...document.querySelectorAll('[data-paper]')].filter(c => {
        const r = c.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }).length""")


def open_options(page):
    """The date picker and the layout are behind one disclosure (a <details>: no JavaScript needed)."""
    page.locator(".feed-options > summary").click()


def test_compact_layout_is_chosen_and_remembered_without_javascript(browser, live_server):
    context, page = _context(browser, java_script_enabled=False)
    page.goto(live_server + DAY)
    assert page.evaluate("document.documentElement.className") == "layout-cards"
    cards_seen = _visible_cards(page)
    open_options(page)
    page.get_by_role("link", name="Compact", exact=True).click()
    page.wait_for_url(live_server + DAY)
    assert page.evaluate("document.documentElement.className") == "layout-compact"
    open_options(page)
    assert page.get_by_role("link", name="Compact", exact=True).get_attribute("aria-current") == "true"
    compact_seen = _visible_cards(page)
    assert compact_seen >= 2 * cards_seen, (cards_seen, compact_seen)  # denser: at least twice the papers per screen
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "day-compact.png"))
    page.goto(live_server + "/papers/week/2026-W27")  # remembered on other pages
    assert page.evaluate("document.documentElement.className") == "layout-compact"
    open_options(page)
    page.get_by_role("link", name="Cards", exact=True).click()
    page.wait_for_url(live_server + "/papers/week/2026-W27")
    assert page.evaluate("document.documentElement.className") == "layout-cards"
    # The date picker is a plain GET form.
    open_options(page)
    page.fill("#feed-day", "2026-06-29")
    page.get_by_role("button", name="Go", exact=True).click()
    page.wait_for_url(live_server + "/papers/week/2026-W27")  # the week holding that day
    page.goto(live_server + DAY)
    open_options(page)
    page.fill("#feed-day", "2026-06-29")
    page.get_by_role("button", name="Go", exact=True).click()
    page.wait_for_url(live_server + "/papers/date/2026-06-29")
    context.close()


def test_expand_all_and_the_focused_abstract_key(browser, live_server):
    context, page = _context(browser)
    page.goto(live_server + DAY)
    details = page.locator("details[data-abstract]")
    button = page.locator("[data-expand-all]")
    assert button.inner_text() == "Expand all abstracts" and button.is_visible()
    button.click()
    assert page.evaluate("[...document.querySelectorAll('details[data-abstract]')].every(d => d.open)")
    assert button.get_attribute("aria-pressed") == "true" and button.inner_text() == "Collapse all abstracts"
    assert details.nth(3).locator("p").first.is_visible()
    button.click()
    assert page.evaluate("[...document.querySelectorAll('details[data-abstract]')].every(d => !d.open)")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("o")  # the focused (second) paper's abstract, no other
    assert page.evaluate("[...document.querySelectorAll('details[data-abstract]')].map(d => d.open).slice(0, 3)") == [False, True, False]
    page.keyboard.press("o")
    assert not details.nth(1).evaluate("d => d.open")
    page.keyboard.press("e")
    assert page.evaluate("[...document.querySelectorAll('details[data-abstract]')].every(d => d.open)")
    assert page.errors == []
    context.close()


def _help_rows(page) -> dict[str, str]:
    page.keyboard.press("?")
    dialog = page.locator("dialog.help")
    assert dialog.is_visible()
    rows = dict(dialog.locator("tr").evaluate_all("rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])"))
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    return rows


def test_shortcut_help_lists_what_works_on_each_page(browser, live_server):
    context, page = _context(browser)
    page.goto(live_server + DAY)
    feed = _help_rows(page)
    assert feed["j / k"] == "next / previous paper" and "o" in feed and "e" in feed and feed["v"] == "upvote the focused paper"
    assert feed["p"] == "previous: Mon 29 Jun" and feed["n"] == "next: Wed 1 Jul" and "u" not in feed

    page.goto(live_server + "/papers/2606.30212")
    paper = _help_rows(page)
    assert paper["v"] == "upvote this paper" and paper["u"].startswith("back to the day")
    assert any("paper of the same day" in what for what in paper.values())
    assert "Enter" not in paper and "e" not in paper and "o" not in paper and "p" not in paper

    page.goto(live_server + "/search?q=constacyclic+codes")
    search = _help_rows(page)
    assert search["j / k"] == "next / previous paper" and "p" not in search and "u" not in search and "e" not in search
    context.close()


def test_search_page_keys_do_not_type_into_the_box(browser, live_server):
    context, page = _context(browser)
    page.goto(live_server + "/search?q=constacyclic+codes")
    page.keyboard.press("j")
    assert page.input_value("#search-q") == "constacyclic codes"
    assert page.evaluate("document.activeElement.hasAttribute('data-paper-link')")
    page.goto(live_server + "/search")  # an empty search page: the box has focus, and typing goes there
    page.wait_for_function("document.activeElement && document.activeElement.id === 'search-q'")  # autofocus lands after load
    page.keyboard.type("jk")
    assert page.input_value("#search-q") == "jk"
    context.close()


def test_open_a_paper_walk_its_day_and_come_back_to_the_same_place(browser, live_server):
    context, page = _context(browser)
    page.goto(f"{live_server}{DAY}?page=3")
    for _ in range(4):
        page.keyboard.press("j")
    fourth = page.evaluate("document.activeElement.getAttribute('href')")
    fifth = page.locator("[data-paper-link]").nth(4).get_attribute("href")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + fourth)
    page.keyboard.press("u")  # back to page 3 at the paper's card, which has focus again
    page.wait_for_url(re.compile(re.escape(f"{live_server}{DAY}?page=3#p-")))
    page.wait_for_function("href => document.activeElement.getAttribute('href') === href", arg=fourth)
    page.keyboard.press("j")  # and j goes on from there
    assert page.evaluate("document.activeElement.getAttribute('href')") == fifth

    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + fourth)
    page.keyboard.press("j")  # next paper of the same day, in the feed's order
    page.wait_for_url(live_server + fifth)
    page.keyboard.press("k")
    page.wait_for_url(live_server + fourth)
    page.keyboard.press("u")  # came from a paper page: the server's link, the day's page holding the paper
    page.wait_for_url(re.compile(re.escape(f"{live_server}{DAY}?page=3#p-")))
    page.wait_for_function("href => document.activeElement.getAttribute('href') === href", arg=fourth)
    card = page.locator(f"[data-paper]:has(a[href='{fourth}'])")
    box = card.bounding_box()
    assert box and 0 <= box["y"] < 900  # on screen

    page.goto(live_server + fourth)
    page.keyboard.press("v")  # logged out, the vote control asks to log in first
    page.wait_for_url(re.compile(r".*/login\?next="))
    assert page.errors == []
    context.close()


def test_math_in_bold_titles_is_bold(browser, live_server):
    context, page = _context(browser)
    page.goto(live_server + "/papers/2606.30212")
    assert int(page.evaluate("getComputedStyle(document.querySelector('h1.paper-title math')).fontWeight")) >= 600
    assert int(page.evaluate("getComputedStyle(document.querySelector('.abstract-full math')).fontWeight")) < 600
    page.goto(live_server + "/papers/date/2026-06-30?cat=cs.IT")
    weight = page.evaluate("(() => { const m = document.querySelector('.card-title math'); return m && getComputedStyle(m).fontWeight; })()")
    assert weight is None or int(weight) >= 600
    context.close()


@pytest.fixture
def site_with_a_comment(request, tmp_path):
    from community_helpers import make_user
    from paperboy.community.comments import add_comment
    from paperboy.store import repo

    app = make_app(slice_database_url("sqlite", tmp_path, request), tmp_path)
    engine = site_of(app).engine
    alice = make_user(engine, "alice")
    with engine.begin() as conn:
        paper = repo.get_paper(conn, "2606.30212")
        add_comment(conn, paper.id, alice.id, "Nice bound: $O(p^s)$ is tight.")
        add_comment(conn, paper.id, alice.id, "Second thought.")
    with serve(app) as url:
        yield url


def _log_in(page, base):
    from community_helpers import PASSWORD

    page.goto(f"{base}/login?next=/papers/2606.30212")
    page.get_by_label("Username or e-mail").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(f"{base}/papers/2606.30212")


def test_deleting_a_comment_asks_first_with_and_without_javascript(browser, site_with_a_comment):
    base = site_with_a_comment
    context, page = _context(browser)
    _log_in(page, base)
    comments = page.locator(".comments article.comment")
    assert comments.count() == 2
    first = comments.first
    assert first.locator(".comment-body math").count() == 1  # $…$ in a comment is MathML, like abstracts
    assert page.evaluate("getComputedStyle(document.querySelector('.comments .comment')).fontStyle") == "normal"
    # With JavaScript: a confirm(); dismissing it deletes nothing.
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    first.locator("summary", has_text="Delete").click()
    assert asked == ["Delete this comment for good?"] and comments.count() == 2
    page.once("dialog", lambda d: d.accept())
    first.locator("summary", has_text="Delete").click()
    page.wait_for_url(re.compile(re.escape(f"{base}/papers/2606.30212")))
    page.wait_for_function("document.querySelectorAll('.comments article.comment').length === 1")
    context.close()

    # Without JavaScript: the Delete disclosure is the confirm step.
    context, page = _context(browser, java_script_enabled=False)
    _log_in(page, base)
    comment = page.locator(".comments article.comment").first
    yes = comment.get_by_role("button", name="Yes, delete")
    assert not yes.is_visible()
    comment.locator("summary", has_text="Delete").click()
    assert yes.is_visible()
    yes.click()
    page.wait_for_url(re.compile(re.escape(f"{base}/papers/2606.30212")))
    assert page.locator(".comments article.comment").count() == 0
    context.close()
