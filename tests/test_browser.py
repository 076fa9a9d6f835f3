"""Real-browser tests: Playwright driving Debian's Chromium against the app served on loopback."""

import re

import pytest

from conftest import ARTIFACTS, browser_tests

pytestmark = browser_tests


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def test_open_a_day_go_back_a_day_open_a_paper_with_mathml(page, live_server):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{live_server}/papers/date/2026-06-30")
    assert page.locator("h1").inner_text() == "Tue, 30 Jun 2026"
    page.screenshot(path=str(ARTIFACTS / "day.png"), full_page=False)

    page.get_by_role("link", name=re.compile("Mon 29 Jun")).first.click()
    page.wait_for_url(f"{live_server}/papers/date/2026-06-29")
    assert page.locator("h1").inner_text() == "Mon, 29 Jun 2026"
    assert page.locator("[data-paper]").count() == 50

    page.keyboard.press("n")  # keyboard: next day
    page.wait_for_url(f"{live_server}/papers/date/2026-06-30")

    page.goto(f"{live_server}/papers/2606.30212")
    title_math = page.locator("h1 math").first
    assert page.evaluate("document.querySelector('h1 math').namespaceURI") == "http://www.w3.org/1998/Math/MathML"
    box = title_math.bounding_box()
    assert box and box["width"] > 10 and box["height"] > 5  # laid out, not ignored
    assert page.locator(".abstract-full math").count() >= 5
    page.screenshot(path=str(ARTIFACTS / "paper.png"), full_page=True)
    assert page.errors == []  # no CSP violations, no script errors


def test_keyboard_only_navigation_from_feed_to_paper(page, live_server):
    page.goto(f"{live_server}/papers/date/2026-06-30")
    page.keyboard.press("j")
    first = page.evaluate("document.activeElement.getAttribute('href')")
    assert first.startswith("/papers/")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.getAttribute('href')") == first
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}{first}")
    page.keyboard.press("u")  # back up to the paper's day
    page.wait_for_url(re.compile(r".*/papers/date/\d{4}-\d\d-\d\d(\?page=\d+)?#p-[\w.-]+$"))  # at the paper's card
    page.wait_for_function("href => document.activeElement.getAttribute('href') === href", arg=first)  # back at its card
    # A skip link is the first thing Tab reaches: on a feed, the one to its papers.
    page.goto(f"{live_server}/papers/date/2026-06-30")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to papers"


def test_fits_a_phone_and_follows_dark_mode(browser, live_server):
    context = browser.new_context(viewport={"width": 375, "height": 812}, color_scheme="dark", is_mobile=True)
    page = context.new_page()
    for path in ["/papers/date/2026-06-30", "/papers/2606.30212", "/papers/week/2026-W27"]:
        page.goto(live_server + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    r, g, b = map(int, re.findall(r"\d+", background)[:3])
    assert r + g + b < 150, background  # dark
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(live_server + "/papers/date/2026-06-30")
    page.screenshot(path=str(ARTIFACTS / "day-phone-dark.png"))
    context.close()


def test_copy_bibtex_button(browser, live_server):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(f"{live_server}/papers/2606.30212")
    page.get_by_role("button", name="Copy BibTeX").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("@misc{chandra2026") and "eprint={2606.30212}" in copied
    context.close()
