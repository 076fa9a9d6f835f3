"""The digest in a real browser: subscribe from a day page, confirm from the mailed link, change
preferences, unsubscribe — with the mail going through a real SMTP server on loopback."""

import email
import re
import time
from email import policy

import pytest

from conftest import ARTIFACTS, browser_tests, free_port, make_app, serve, slice_database_url

from paperboy.http.site import site_of

pytestmark = browser_tests


@pytest.fixture
def digest_site(request, tmp_path, smtp):
    port = free_port()
    app = make_app(slice_database_url("sqlite", tmp_path, request), tmp_path, base_url=f"http://127.0.0.1:{port}",
                   smtp_host="127.0.0.1", smtp_port=smtp.port, mail_from="Paperboy <digest@example.org>")  # fmt: skip
    with serve(app, port) as url:
        yield url, smtp.handler, app


def wait_for_mail(handler, n, timeout=20):
    deadline = time.monotonic() + timeout
    while len(handler.envelopes) < n:
        assert time.monotonic() < deadline, f"expected {n} mails, got {len(handler.envelopes)}"
        time.sleep(0.05)
    return [email.message_from_bytes(e.content, policy=policy.default) for e in handler.envelopes]


def test_subscribe_confirm_change_preferences_and_unsubscribe(browser, digest_site):
    base, handler, app = digest_site
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")  # a phone, dark
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{base}/papers/date/2026-06-30")
    box = page.locator(".digest-box")
    box.scroll_into_view_if_needed()
    page.get_by_label("Your e-mail address").fill("reader@example.org")
    page.screenshot(path=str(ARTIFACTS / "digest-subscribe-box.png"))
    box.get_by_role("button", name="Subscribe").click()
    assert "Check your inbox" in page.locator("main").inner_text()

    [confirmation] = wait_for_mail(handler, 1)
    assert confirmation["To"] == "reader@example.org"
    link = re.search(r"http://127\.0\.0\.1:\d+/digest/confirm/\S+", confirmation.get_content())[0]
    page.goto(link)
    page.get_by_role("button", name="Confirm my subscription").click()
    page.wait_for_url(re.compile(r".*/digest/preferences/.+"))
    assert "Subscribed!" in page.locator(".flash").inner_text()

    page.get_by_label("Weekly").check()
    page.get_by_label("Trending papers per digest").fill("7")
    page.get_by_label("Keywords or phrases, one per line").fill("diffusion\nreinforcement learning")
    page.get_by_label("arXiv categories, separated by spaces").fill("cs.RO nonsense")
    page.get_by_role("button", name="Save preferences").click()
    assert "Not an arXiv category: nonsense" in page.locator("[role=alert]").inner_text()
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]  # that refusal
    errors.clear()
    assert page.get_by_label("Weekly").is_checked()  # what was typed is kept
    page.get_by_label("arXiv categories, separated by spaces").fill("cs.RO")
    page.get_by_role("button", name="Save preferences").click()
    assert "Saved." in page.locator("[role=status]").inner_text()
    assert page.get_by_label("Weekly").is_checked() and page.get_by_label("Trending papers per digest").input_value() == "7"
    page.screenshot(path=str(ARTIFACTS / "digest-preferences-phone-dark.png"), full_page=True)

    # Keyboard only: tab to the unsubscribe button and press it.
    page.locator("button.button-danger").focus()
    with page.expect_navigation():  # the form posts and the answer replaces the page
        page.keyboard.press("Enter")
    assert "gets no more digests" in page.locator("[role=status]").inner_text()
    assert not errors, errors

    from sqlalchemy import select

    from paperboy.store.schema import subscribers

    with site_of(app).engine.connect() as conn:
        row = conn.execute(select(subscribers.c.status, subscribers.c.frequency, subscribers.c.keywords)).one()
    assert tuple(row) == ("unsubscribed", "weekly", "diffusion\nreinforcement learning")
    context.close()


def test_the_mail_reads_well_in_light_and_dark(browser, digest_site):
    """The digest's HTML part, as a mail client would show it, on a laptop (light) and a phone (dark)."""
    base, _, app = digest_site
    from paperboy.digest.editions import parse_edition
    from paperboy.digest.send import preview

    mail, _ = preview(site_of(app).engine, site_of(app).settings, parse_edition("2026-06-30"))
    for name, viewport, scheme in (("digest-mail-light.png", (900, 1100), "light"), ("digest-mail-phone-dark.png", (390, 844), "dark")):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, color_scheme=scheme)
        page = context.new_page()
        page.set_content(mail.html)
        page.screenshot(path=str(ARTIFACTS / name))
        background = page.evaluate("getComputedStyle(document.querySelector('.paper')).backgroundColor")
        assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(34, 34, 31)")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport[0]  # no sideways scrolling on a phone
        context.close()
    # The preview page serves it under a policy of its own: inline styles, and no script at all.
    import httpx

    r = httpx.get(f"{base}/digest/preview?edition=2026-06-30")
    assert r.status_code == 200 and "sandbox" in r.headers["content-security-policy"] and "script-src" not in r.headers["content-security-policy"]
