"""Submitting papers by arXiv id or URL, with metadata from a loopback arXiv serving real recordings."""

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from community_helpers import as_user, csrf
from conftest import make_app, slice_database_url
from fake_arxiv import ATOM, Fault, serve_fake_arxiv
from paperboy.http.site import site_of
from paperboy.ingest.arxiv_api import ArxivApiClient
from paperboy.ingest.http import user_agent
from paperboy.store import repo


@pytest.fixture
def site(request, tmp_path):
    """An app over a copy of the slice, whose arXiv is the loopback stand-in; ``site(**settings)``."""
    made = []

    def make(**overrides):
        folder = tmp_path / f"site{len(made)}"
        folder.mkdir()
        app = make_app(slice_database_url("sqlite", folder, request), folder, **overrides)
        site_of(app).arxiv_client = ArxivApiClient(fake.api_url, user_agent=user_agent("t@example.org"), min_interval=0, retries=0, timeout=5)
        made.append(app)
        return app

    with serve_fake_arxiv() as fake:
        make.fake = fake
        yield make


def submit(c: TestClient, text: str):
    return c.post("/submit", data={"paper": text, "csrf_token": csrf(c, "/submit")}, follow_redirects=False)


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def test_submitted_paper_lands_on_todays_feed_with_submitted_by(site):
    app = site(submit_max_age_days=100_000)
    alice = as_user(app, site_of(app).engine, "alice")
    r = submit(alice, "https://arxiv.org/abs/1605.08386v1")
    assert r.status_code == 303 and r.headers["location"] == "/papers/1605.08386"
    page = alice.get("/papers/1605.08386", follow_redirects=True).text
    assert "submitted by <a href=\"/u/alice\">alice</a>" in page and "Thanks!" in page
    assert site.fake.requests[-1]["params"]["id_list"] == "1605.08386"
    with site_of(app).engine.connect() as conn:
        paper = repo.get_paper(conn, "1605.08386")
    assert paper.announced == today() and paper.source == "arxiv-api" and paper.published.year == 2016
    feed = TestClient(app).get(f"/papers/date/{today().isoformat()}").text
    assert "/papers/1605.08386" in feed


@pytest.mark.parametrize("text", ["arXiv:1707.08567", "https://arxiv.org/pdf/1707.08567v2.pdf", " 1707.08567 "])
def test_every_form_of_id_is_accepted(site, text):
    app = site(submit_max_age_days=100_000)
    alice = as_user(app, site_of(app).engine, "alice")
    assert submit(alice, text).headers["location"] == "/papers/1707.08567"


def test_refusals_each_have_a_clear_message(site):
    app = site()  # default rules: 7 days, 5 a day
    bob = as_user(app, site_of(app).engine, "bob")
    r = submit(bob, "not a paper")
    assert r.status_code == 400 and "is not an arXiv id" in r.text
    r = submit(bob, "2606.30212")
    assert r.status_code == 409 and "already on the feed of 30 June 2026" in r.text and 'href="/papers/2606.30212"' in r.text
    r = submit(bob, "1605.08386")
    assert r.status_code == 400 and "last 7 days" in r.text and "2016" in r.text


def test_daily_cap_and_admins_are_exempt(site):
    app = site(submit_max_age_days=100_000, submit_daily_cap=1)
    carol = as_user(app, site_of(app).engine, "carol")
    assert submit(carol, "1605.08386").status_code == 303
    r = submit(carol, "1707.08567")
    assert r.status_code == 429 and "1 papers a day" in r.text.replace("1 paper a day", "1 papers a day")
    admin = as_user(app, site_of(app).engine, "chief", admin=True)
    assert submit(admin, "1707.08567").status_code == 303
    old_app = site()  # 7-day rule: admins pass it too (old-style id, from 2006)
    admin2 = as_user(old_app, site_of(old_app).engine, "chief2", admin=True)
    assert submit(admin2, "astro-ph/0601001").headers["location"] == "/papers/astro-ph/0601001"


def test_arxiv_error_feed_unreachable_and_unknown(site):
    app = site(submit_max_age_days=100_000)
    dan = as_user(app, site_of(app).engine, "dan")
    error_feed = (ATOM / next(p.name for p in ATOM.glob("id_abc*"))).read_bytes()
    site.fake.always = Fault(400, {"Content-Type": "application/atom+xml"}, error_feed)
    r = submit(dan, "2601.00001")
    assert r.status_code == 422 and "arXiv refused the request" in r.text and "incorrect id format" in r.text
    site.fake.always = Fault(503, {"Retry-After": "1"}, b"busy")
    r = submit(dan, "2601.00001")
    assert r.status_code == 502 and "be reached right now" in r.text
    empty = (ATOM / next(p.name for p in ATOM.glob("id_0000.0000*"))).read_bytes()
    site.fake.always = Fault(200, {"Content-Type": "application/atom+xml"}, empty)
    r = submit(dan, "2601.00001")
    assert r.status_code == 404 and "arXiv has no paper 2601.00001" in r.text


def test_submitting_needs_an_account(site):
    app = site()
    anon = TestClient(app)
    assert anon.get("/submit", follow_redirects=False).headers["location"] == "/login?next=/submit"


def test_a_hostile_title_from_arxiv_renders_inert(site):
    app = site(submit_max_age_days=100_000)
    eve = as_user(app, site_of(app).engine, "eve")
    body = (ATOM / next(p.name for p in ATOM.glob("id_1605.08386*"))).read_bytes()
    title = re.search(rb"<entry>.*?<title>(.*?)</title>", body, re.S).group(1)
    hostile = body.replace(title, b"&lt;script&gt;alert(1)&lt;/script&gt; javascript:alert(2) &lt;img src=x onerror=alert(3)&gt;")
    site.fake.always = Fault(200, {"Content-Type": "application/atom+xml"}, hostile)
    assert submit(eve, "1605.08386").status_code == 303
    for path in ("/papers/1605.08386", f"/papers/date/{today().isoformat()}", "/u/eve"):
        html = eve.get(path).text
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_feed_card_says_who_submitted_it(site):
    app = site(submit_max_age_days=100_000)
    zoe = as_user(app, site_of(app).engine, "zoe")
    submit(zoe, "1605.08386")
    feed = TestClient(app).get(f"/papers/date/{today().isoformat()}").text
    assert 'submitted by <a href="/u/zoe">zoe</a>' in feed
