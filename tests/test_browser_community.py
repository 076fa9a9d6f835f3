"""The community flow in a real browser: sign up, log in, upvote in place, submit, comment, trending."""

import re

import pytest

from conftest import ARTIFACTS, browser_tests, make_app, serve, slice_database_url
from fake_arxiv import serve_fake_arxiv

from paperboy.http.site import site_of

pytestmark = browser_tests


@pytest.fixture
def community_site(request, tmp_path):
    from paperboy.ingest.arxiv_api import ArxivApiClient
    from paperboy.ingest.http import user_agent

    with serve_fake_arxiv() as fake:
        app = make_app(slice_database_url("sqlite", tmp_path, request), tmp_path, submit_max_age_days=100_000)
        site_of(app).arxiv_client = ArxivApiClient(fake.api_url, user_agent=user_agent(), min_interval=0, retries=0)
        with serve(app) as url:
            yield url


def test_sign_up_log_in_upvote_submit_comment_and_trend(browser, community_site):
    base = community_site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{base}/signup")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("E-mail").fill("ada@example.org")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/")
    assert "Welcome to Paperboy!" in page.locator(".flash").inner_text()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base}/")
    page.get_by_role("link", name="Log in", exact=True).click()
    page.get_by_label("Username or e-mail").fill("ada@example.org")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_role("link", name="ada", exact=True).is_visible()

    # Upvote in place: the count changes and the page does not reload.
    page.goto(f"{base}/papers/date/2026-06-30?cat=cs.IT")
    page.evaluate("window.__noReload = true")
    card = page.locator("[data-paper]").first
    arxiv_id = card.locator("[data-paper-link]").get_attribute("href").split("/papers/")[1]
    button = card.locator("button.vote-button")
    assert button.get_attribute("aria-pressed") == "false" and button.locator(".vote-count").inner_text() == "0"
    button.click()
    pressed = card.locator('button.vote-button[aria-pressed="true"]')
    pressed.wait_for()
    assert pressed.locator(".vote-count").inner_text() == "1"
    assert page.evaluate("window.__noReload") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "voted.png"))

    # Submit a paper by URL (metadata from the recorded arXiv response).
    page.get_by_role("link", name="Submit", exact=True).click()
    page.get_by_label("arXiv id or URL").fill("https://arxiv.org/abs/1605.08386v1")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(f"{base}/papers/1605.08386")
    assert "submitted by ada" in page.locator(".eyebrow").inner_text().lower()

    # Comment on it.
    page.get_by_label("Add a comment").fill("A classic. See https://example.org/notes")
    page.get_by_role("button", name="Comment", exact=True).click()
    page.wait_for_url(re.compile(r".*/papers/1605\.08386#c\d+$"))
    comment = page.locator(".comment").first
    assert "A classic." in comment.inner_text()
    assert comment.locator("a[href='https://example.org/notes']").count() == 1

    # The upvoted paper is trending.
    page.get_by_role("link", name="Trending", exact=True).click()
    page.wait_for_url(f"{base}/papers/trending")
    assert page.locator(f'[data-paper-link][href="/papers/{arxiv_id}"]').count() == 1
    page.screenshot(path=str(ARTIFACTS / "trending.png"))
    assert errors == []
    context.close()
