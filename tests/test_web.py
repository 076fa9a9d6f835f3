"""Every page over HTTP, on a real SQLite database holding a slice of the real corpus."""

import datetime as dt
import re

import pytest

from paperboy.papers.model import PaperRecord
from paperboy.store import feeds, repo, versions


def cards(html: str) -> list[str]:
    """arXiv ids of the paper cards on a page, in order."""
    return re.findall(r'<a href="/papers/([^"]+)" data-paper-link', html)


def test_home_shows_the_latest_day_with_papers(client):
    r = client.get("/")
    assert r.status_code == 200
    assert "Wed, 1 Jul 2026" in r.text and "300 papers" in r.text
    assert '<link rel="canonical" href="/papers/date/2026-07-01">' in r.text
    assert len(cards(r.text)) == 50


def test_day_page_lists_that_days_papers_with_prev_and_next_skipping_empty_days(client):
    r = client.get("/papers/date/2026-06-29")  # Monday: the weekend before it had no announcements
    assert r.status_code == 200
    assert "166 papers" in r.text
    assert 'href="/papers/date/2026-06-26" data-key="p" rel="prev"' in r.text
    assert 'href="/papers/date/2026-06-30" data-key="n" rel="next"' in r.text
    with client.engine.connect() as conn:
        expected = feeds.feed_page(conn, dt.date(2026, 6, 29), dt.date(2026, 6, 29), limit=50)
    assert cards(r.text) == [p.arxiv_id for p in expected.papers]


def test_feed_orders_by_upvotes_then_stably(client):
    with client.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE papers SET upvotes = 7 WHERE arxiv_id = (SELECT max(arxiv_id) FROM papers WHERE announced = '2026-06-30')")
        conn.exec_driver_sql("UPDATE papers SET upvotes = 3 WHERE arxiv_id = (SELECT min(arxiv_id) FROM papers WHERE announced = '2026-06-30')")
        versions.bump_content_version(conn)
        top = conn.exec_driver_sql("SELECT arxiv_id FROM papers WHERE upvotes = 7").scalar()
        second = conn.exec_driver_sql("SELECT arxiv_id FROM papers WHERE upvotes = 3").scalar()
        # HF's counts break ties between equal votes; a paper HF lists with 0 upvotes beats one it does not list
        hf = [r[0] for r in conn.exec_driver_sql(
            "SELECT arxiv_id FROM papers WHERE announced = '2026-06-30' AND upvotes = 0 ORDER BY arxiv_id LIMIT 3")]
        repo.set_hf_upvotes(conn, {hf[0]: 0, hf[1]: 40, hf[2]: 5})
        rest = [r[0] for r in conn.exec_driver_sql(
            "SELECT arxiv_id FROM papers WHERE announced = '2026-06-30' AND upvotes = 0 AND hf_upvotes IS NULL ORDER BY arxiv_id DESC LIMIT 45")]
    text = client.get("/papers/date/2026-06-30").text
    ids = cards(text)
    assert ids == [top, second, hf[1], hf[2], hf[0]] + rest  # then newest (highest arXiv id) first, never id ascending
    assert '<span class="rank">1.</span>' in text and '<span class="rank">50.</span>' in text
    page2 = client.get("/papers/date/2026-06-30?page=2").text
    assert '<span class="rank">51.</span>' in page2 and '<span class="rank">1.</span>' not in page2


def test_week_without_votes_opens_with_the_newest_day(client):
    """A week with no votes: the latest announcement day's papers first (latest ids first), not the oldest arXiv ids."""
    with client.engine.connect() as conn:
        expected = [r[0] for r in conn.exec_driver_sql(
            "SELECT arxiv_id FROM papers WHERE announced BETWEEN '2026-06-29' AND '2026-07-05' AND hidden_at IS NULL "
            "ORDER BY announced DESC, arxiv_id DESC LIMIT 50")]
        oldest = conn.exec_driver_sql("SELECT min(arxiv_id) FROM papers WHERE announced BETWEEN '2026-06-29' AND '2026-07-05'").scalar()
    ids = cards(client.get("/papers/week/2026-W27").text)
    assert ids == expected and oldest not in ids


def test_a_busy_day_is_paginated(client):
    first = client.get("/papers/date/2026-06-30")
    assert "Page 1 of 11" in first.text and 'href="/papers/date/2026-06-30?page=2"' in first.text
    last = client.get("/papers/date/2026-06-30?page=11")
    assert last.status_code == 200 and len(cards(last.text)) == 30
    seen = set()
    for page in range(1, 12):
        seen.update(cards(client.get(f"/papers/date/2026-06-30?page={page}").text))
    assert len(seen) == 530  # every paper exactly once across the pages
    assert client.get("/papers/date/2026-06-30?page=12").status_code == 404
    assert client.get("/papers/date/2026-06-30?page=abc").status_code == 400


def test_category_filter_and_chips(client):
    r = client.get("/papers/date/2026-06-30?cat=cs.CL")
    assert r.status_code == 200
    assert "136 papers" in r.text and "in <strong>cs.CL</strong>" in r.text
    assert 'class="chip chip-active" href="/papers/date/2026-06-30?cat=cs.CL" aria-current="true"' in r.text
    with client.engine.connect() as conn:
        for arxiv_id in cards(r.text):
            assert "cs.CL" in repo.get_paper(conn, arxiv_id).categories
    # prev/next keep the filter and skip days without papers in that category
    assert 'href="/papers/date/2026-06-29?cat=cs.CL" data-key="p"' in r.text
    assert client.get("/papers/date/2026-06-30?cat=<script>").status_code == 400


def test_week_and_month_pages(client):
    week = client.get("/papers/week/2026-W27")  # 29 June to 5 July
    assert week.status_code == 200
    assert "Week 27, 2026" in week.text and f"{166 + 530 + 300} papers" in week.text
    assert 'href="/papers/week/2026-W26" data-key="p"' in week.text
    month = client.get("/papers/month/2026-06")
    assert month.status_code == 200 and "June 2026" in month.text
    assert f"{261 + 166 + 530} papers" in month.text  # the slice holds 26, 29 and 30 June
    assert 'href="/papers/month/2026-07" data-key="n"' in month.text


def test_header_weekly_and_monthly_links_lead_to_the_latest_week_and_month(client):
    """Pages without a period of their own (trending, search, log-in, 404) link to /papers/week and
    /papers/month, which redirect to the period of the latest day with papers (1 July 2026)."""
    for path in ["/papers/trending", "/search?q=graphs", "/login", "/no-such-page"]:
        html = client.get(path).text
        assert re.search(r'href="/papers/week"\s+data-period-link="week"', html), path
        assert re.search(r'href="/papers/month"\s+data-period-link="month"', html), path
    assert client.get("/papers/week", follow_redirects=False).headers["location"] == "/papers/week/2026-W27"
    assert client.get("/papers/month", follow_redirects=False).headers["location"] == "/papers/month/2026-07"
    day = client.get("/papers/date/2026-06-30").text  # a feed links to its own week and month
    assert re.search(r'href="/papers/week/2026-W27"\s+data-period-link="week"', day)
    assert re.search(r'href="/papers/month/2026-06"\s+data-period-link="month"', day)


@pytest.mark.parametrize(
    "path",
    ["/papers/date/2026-13-01", "/papers/date/2026-02-30", "/papers/date/yesterday", "/papers/week/2026-W54",
     "/papers/month/2026-00", "/papers/date/2026-06-30%00"],
)  # fmt: skip
def test_impossible_periods_are_real_404_pages(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html") and "Not found" in r.text


def test_a_day_without_papers_says_so_and_links_to_neighbours(client):
    r = client.get("/papers/date/2026-06-27")  # a Saturday
    assert r.status_code == 200
    assert "No papers were announced on this day" in r.text
    assert 'href="/papers/date/2026-06-26"' in r.text and 'href="/papers/date/2026-06-29"' in r.text


def test_paper_page_shows_everything_about_the_paper(client):
    r = client.get("/papers/2606.30212")
    assert r.status_code == 200
    html = r.text
    assert "On symbol-pair distance of repeated-root constacyclic codes" in html
    assert "Payel Chandra" in html and "Kalyan Hansda" in html
    assert "<math" in html and "</math>" in html  # TeX rendered to MathML
    assert 'href="https://arxiv.org/abs/2606.30212"' in html and 'href="https://arxiv.org/pdf/2606.30212"' in html
    assert 'href="/papers/date/2026-06-30"' in html  # back to its day
    assert "@misc{chandra2026" in html and "eprint={2606.30212}" in html
    assert '<link rel="canonical" href="/papers/2606.30212">' in html


def test_old_style_ids_versions_and_unknown_papers(client):
    r = client.get("/papers/hep-th/9711200")
    assert r.status_code == 200 and "The Large N Limit of Superconformal Field Theories" in r.text
    assert "Adv.Theor.Math.Phys.2:231-252,1998" in r.text and "(v3)" in r.text
    moved = client.get("/papers/2606.30212v2", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "/papers/2606.30212"
    assert client.get("/papers/hep-th/9711200v1", follow_redirects=False).headers["location"] == "/papers/hep-th/9711200"
    missing = client.get("/papers/2101.00001")
    assert missing.status_code == 404 and "no paper 2101.00001" in missing.text
    assert client.get("/papers/not-a-paper").status_code == 404


def test_math_that_cannot_be_parsed_shows_raw_tex_and_hostile_text_is_inert(client):
    evil = PaperRecord(
        arxiv_id="2606.99998",
        title='<script>alert("t")</script> Attack on $\\frac{1}{$ parsers',
        abstract='We show <img src=x onerror=alert(1)> and $\\text{<script>alert(2)</script>}$ and $x^2$.',
        authors=['<b onmouseover="alert(3)">Mallory</b>'],
        categories=["cs.CR"],
        announced=dt.date(2026, 6, 30),
        comment="javascript:alert(4)",
    )
    with client.engine.begin() as conn:
        repo.upsert_papers(conn, [evil])
    html = client.get("/papers/2606.99998").text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;" in html
    assert "<math" in html  # the well-formed formula still renders
    day = client.get("/papers/date/2026-06-30?cat=cs.CR").text
    assert "<script>alert" not in day and "&lt;script&gt;" in day


def test_security_headers_on_every_response(client):
    for path in ["/", "/papers/2606.30212", "/papers/nope", "/healthz", "/static/style.css"]:
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_script_or_style_and_no_external_assets(client):
    for path in ["/", "/papers/2606.30212", "/papers/week/2026-W27"]:
        html = client.get(path).text
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
        assert " style=" not in html and "<style" not in html
        for url in re.findall(r'(?:src|href)="(https?:[^"]+)"', html):
            assert "arxiv.org" in url or "doi.org" in url, url  # only outbound links, never assets


def test_static_assets_are_served_locally_and_cacheable(client):
    html = client.get("/").text
    css = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', html).group(1)
    r = client.get(css)
    assert r.status_code == 200 and "prefers-color-scheme: dark" in r.text
    assert "immutable" in r.headers["cache-control"]
    js = re.search(r'src="(/static/app\.js\?v=[0-9a-f]+)"', html).group(1)
    assert client.get(js).status_code == 200


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_cached_pages_change_as_soon_as_the_data_does(client):
    before = client.get("/papers/date/2026-06-30")
    etag = before.headers["etag"]
    assert client.get("/papers/date/2026-06-30", headers={"If-None-Match": etag}).status_code == 304
    # the newest id: first among equal votes
    new = PaperRecord(arxiv_id="2606.99999", title="A brand new paper", abstract="Fresh.", authors=["N. Ew"],
                      categories=["cs.CL"], announced=dt.date(2026, 6, 30))  # fmt: skip
    with client.engine.begin() as conn:
        repo.upsert_papers(conn, [new])
    after = client.get("/papers/date/2026-06-30", headers={"If-None-Match": etag})
    assert after.status_code == 200 and "531 papers" in after.text and "A brand new paper" in after.text
    assert after.headers["etag"] != etag


def test_pages_are_gzipped_for_clients_that_accept_it(client):
    plain = client.get("/papers/date/2026-06-30", headers={"Accept-Encoding": "identity"})
    zipped = client.get("/papers/date/2026-06-30", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["vary"]
    assert zipped.text == plain.text  # httpx decodes it: the same page
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3


def test_paper_page_title_and_link_previews_are_plain_text(client):
    r = client.get("/papers/2606.26434")  # "Deletion-Correcting Codes for the $\ell$-Symbol Read Channel"
    title = re.search(r"<title>(.*?)</title>", r.text).group(1)
    assert title == "Deletion-Correcting Codes for the ℓ-Symbol Read Channel — Paperboy"
    metas = dict(re.findall(r'<meta (?:property|name)="((?:og|twitter):[a-z_]+)" content="([^"]*)"', r.text))
    assert metas["og:title"] == metas["twitter:title"] == "Deletion-Correcting Codes for the ℓ-Symbol Read Channel"
    assert metas["og:type"] == "article" and metas["twitter:card"] == "summary"
    assert metas["og:url"].startswith("http") and metas["og:url"].endswith("/papers/2606.26434")
    assert "$" not in metas["og:description"] and "\\" not in metas["og:description"]
    assert "<math" in r.text.split("</title>")[1]  # the page itself still shows MathML


def test_keyword_only_related_papers_are_labelled(client):
    """Without a model every related paper comes from title words: the fragment says so instead of calling them close."""
    fragment = client.get("/papers/2606.30212/related", headers={"HX-Request": "true"}).text
    assert 'data-related-basis="keyword"' in fragment and "Keyword matches" in fragment and "<li>" in fragment


def test_layout_choice_is_a_cookie_and_its_own_shared_cache_entry(client):
    cards_page = client.get("/papers/date/2026-06-30")
    assert '<html lang="en" class="layout-cards">' in cards_page.text
    assert 'href="/layout/compact?next=/papers/date/2026-06-30"' in cards_page.text.replace("%2F", "/")
    r = client.get("/layout/compact", params={"next": "/papers/date/2026-06-30"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/papers/date/2026-06-30"
    assert "pb_layout=compact" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    compact = client.get("/papers/date/2026-06-30")  # the client keeps the cookie
    assert '<html lang="en" class="layout-compact">' in compact.text and cards(compact.text) == cards(cards_page.text)
    client.cookies.delete("pb_layout")
    again = client.get("/papers/date/2026-06-30")  # the cached compact copy never reaches a cards visitor
    assert '<html lang="en" class="layout-cards">' in again.text
    client.cookies.set("pb_layout", "compact")
    assert 'class="layout-compact"' in client.get("/papers/date/2026-06-30").text
    client.cookies.set("pb_layout", "<script>")
    assert 'class="layout-cards"' in client.get("/papers/date/2026-06-30").text
    assert client.get("/layout/huge").status_code == 404
    evil = client.get("/layout/cards", params={"next": "//evil.example/"}, follow_redirects=False)
    assert evil.headers["location"] == "/"


def test_page_of_pages_and_date_picker_at_the_top(client):
    text = client.get("/papers/date/2026-06-30?page=2").text
    top = text.split('<ol class="feed"')[0]
    assert "Page 2 of 11" in top and 'href="/papers/date/2026-06-30?page=3"' in top and 'href="/papers/date/2026-06-30?page=1"' in top
    assert '<form class="date-picker" method="get" action="/papers/date">' in top and 'type="date" value="2026-06-30"' in top
    r = client.get("/papers/date", params={"day": "2026-06-29"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/papers/date/2026-06-29"
    r = client.get("/papers/date", params={"day": "2026-07-01", "kind": "week", "cat": "cs.CL"}, follow_redirects=False)
    assert r.headers["location"] == "/papers/week/2026-W27?cat=cs.CL"
    r = client.get("/papers/date", params={"day": "2026-07-01", "kind": "month"}, follow_redirects=False)
    assert r.headers["location"] == "/papers/month/2026-07"
    assert client.get("/papers/date", params={"day": "yesterday"}).status_code == 404
    assert client.get("/papers/date", params={"day": "2026-07-01", "kind": "year"}).status_code == 400
    week = client.get("/papers/week/2026-W27").text
    assert '<input type="hidden" name="kind" value="week">' in week


def test_paper_page_knows_its_place_on_the_day(client):
    """Back to the day links to the page holding the paper, at its card; previous/next follow the feed's order."""
    pages = [cards(client.get(f"/papers/date/2026-06-30?page={n}").text) for n in (1, 2, 3)]
    middle = pages[2][10]  # rank 111: page 3
    text = client.get(f"/papers/{middle}").text
    anchor = "p-" + middle.replace("/", "-")
    assert f'href="/papers/date/2026-06-30?page=3#{anchor}" data-key="u"' in text and "#111 of the day" in text
    assert f'href="/papers/{pages[2][9]}" data-key="k" rel="prev"' in text
    assert f'href="/papers/{pages[2][11]}" data-key="j" rel="next"' in text
    first = client.get(f"/papers/{pages[0][0]}").text
    assert 'data-key="k"' not in first and f'href="/papers/{pages[0][1]}" data-key="j"' in first
    assert f'href="/papers/date/2026-06-30#p-{pages[0][0].replace("/", "-")}" data-key="u"' in first
    boundary = client.get(f"/papers/{pages[1][0]}").text  # rank 51: its previous paper is the last of page 1
    assert f'href="/papers/{pages[0][-1]}" data-key="k"' in boundary and "?page=2#" in boundary


def test_feed_link_previews_are_plain_text(client):
    text = client.get("/papers/date/2026-06-30?cat=cs.IT").text
    metas = dict(re.findall(r'<meta (?:property|name)="((?:og|twitter):[a-z_]+)" content="([^"]*)"', text))
    assert metas["og:title"] == "Daily Papers · Tue, 30 Jun 2026 · cs.IT" and metas["og:url"].endswith("/papers/date/2026-06-30?cat=cs.IT")
    assert metas["og:description"].startswith("25 papers in cs.IT, led by") and "$" not in metas["og:description"]
