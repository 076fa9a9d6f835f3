"""Real-browser checks of the API's pages: the Swagger UI reference under the site's strict CSP,
and the API token settings page (phone and desktop, light and dark)."""

from __future__ import annotations

import re

import pytest

from community_helpers import PASSWORD, make_user
from conftest import ARTIFACTS, browser_tests, make_app, serve, slice_database_url

from paperboy.http.site import site_of

pytestmark = browser_tests


def _page(browser, **options):
    context = browser.new_context(**options)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page, problems


def test_api_docs_render_under_the_csp(browser, live_server):
    context, page, problems = _page(browser, viewport={"width": 1280, "height": 900})
    page.goto(live_server + "/api/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/daily_papers" in p for p in paths) and any("/api/v1/papers/{arxiv_id}/vote" in p.replace("\u200b", "") for p in paths)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=False)
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    context.close()


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    """A live server of its own, over a copy of the slice with two members to log in as."""
    folder = tmp_path_factory.mktemp("browser-api")
    app = make_app(slice_database_url("sqlite", folder, request), folder)
    for name in ("toklight", "tokdark"):
        make_user(site_of(app).engine, name)
    with serve(app) as url:
        yield url


@pytest.mark.parametrize("scheme,width", [("light", 1280), ("dark", 390)])
def test_token_page_shows_a_new_token_once(browser, site, scheme, width):
    context, page, problems = _page(browser, viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(site + "/login?next=/settings/tokens")
    page.fill("#login", f"tok{scheme}")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/settings/tokens$"))
    page.fill("#token-name", "laptop script")
    page.check("input[name=scope][value=write]")
    page.click("button:has-text('Make token')")
    secret = page.input_value("#new-secret")
    assert secret.startswith("pb_")
    page.screenshot(path=str(ARTIFACTS / f"tokens-{scheme}-{width}.png"), full_page=True)
    page.goto(site + "/settings/tokens")
    assert secret not in page.content() and "laptop script" in page.content() and secret[:10] in page.content()
    assert not problems, problems
    context.close()
