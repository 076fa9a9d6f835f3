"""arXiv's daily listings: the real recordings, listings built from arXiv's docs, hostile XML, the
store rules (new / cross / replace / withdrawn) and end-to-end fetches from the loopback fake
(tests/fake_arxiv.py) injecting 503s with Retry-After, timeouts and truncated bodies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections import Counter

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fake_arxiv import LISTINGS, RSS, Fault, serve_fake_arxiv
from paperboy.cli import app
from paperboy.ingest.http import RateLimiter, ServiceError, ServiceUnavailable
from paperboy.ingest.listings import (
    ANNOUNCE_TYPES,
    ListingsClient,
    cross_announced_day,
    fetch_listing,
    ingest_from_feed,
    ingest_listing,
    is_withdrawal_notice,
    listing_url,
    parse_categories,
    parse_listing,
)
from paperboy.papers.ids import parse_arxiv_id
from paperboy.papers.model import PaperRecord
from paperboy.store import repo, versions
from paperboy.store.feeds import feed_page
from paperboy.store.schema import papers

STAT = LISTINGS["/rss/stat"]
MULTI = LISTINGS["/rss/cs.LG+cs.AI+cs.CL+stat.ML"]
ATOM = LISTINGS["/atom/math.OC"]
WEEKEND = LISTINGS["/rss/math.OC"]
DAY = dt.date(2024, 3, 26)

if not STAT.exists():
    message = f"arXiv listing fixtures not found under {RSS} (set PAPERBOY_SHARED)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


@pytest.fixture(scope="module")
def stat():
    return parse_listing(STAT.read_bytes())


def item(listing, arxiv_id):
    (found,) = [i for i in listing.items if i.record.arxiv_id == arxiv_id]
    return found


@pytest.fixture
def feeds():
    with serve_fake_arxiv() as fake:
        yield fake


def fetch(url, categories, *, fmt="rss", **kw):
    kw.setdefault("limiter", RateLimiter(0))
    kw.setdefault("sleep", lambda s: None)
    with ListingsClient(url, **kw) as client:
        return fetch_listing(client, categories, fmt=fmt)


# --- parsing the real recordings ---------------------------------------------------------------

def test_the_stat_listing_of_26_march_2024_parses_completely(stat):
    assert stat.day == DAY and stat.categories == ["stat"] and stat.format == "rss"
    assert len(stat.items) == 123 and stat.skipped == 0
    assert Counter(i.announce_type for i in stat.items) == {"replace": 41, "new": 35, "cross": 27, "replace-cross": 20}
    assert (stat.count("new"), stat.count("cross")) == (35, 27)
    for i in stat.items:
        r = i.record
        assert i.announce_type in ANNOUNCE_TYPES and r.source == "arxiv-listing"
        assert parse_arxiv_id(r.arxiv_id).id == r.arxiv_id and r.version >= 1
        assert r.title and r.title == " ".join(r.title.split())
        assert r.abstract and r.abstract == " ".join(r.abstract.split()) and not r.abstract.startswith("arXiv:")
        assert r.authors and all(a == " ".join(a.split()) for a in r.authors)
        assert r.categories and r.license.startswith("http")
        assert not i.withdrawn
        if i.announce_type == "new":
            assert r.announced == DAY and r.updated is None and r.version == 1
        if i.announce_type in ("replace", "replace-cross"):
            assert r.announced is None and r.updated == DAY and r.version >= 2
    assert sum(1 for i in stat.items if i.record.doi) == 8
    assert sum(1 for i in stat.items if i.record.journal_ref) == 5


def test_a_new_item_in_detail(stat):
    i = item(stat, "2403.15527")
    r = i.record
    assert (i.announce_type, r.version, r.announced) == ("new", 1, DAY)
    assert r.title == "Conformal online model aggregation"
    assert r.authors == ["Matteo Gasparin", "Aaditya Ramdas"]
    assert r.categories == ["stat.ML", "cs.LG"] and r.primary_category == "stat.ML"
    assert r.abstract.startswith("Conformal prediction equips machine learning models")
    assert r.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"


def test_cross_lists_keep_their_own_primary_category(stat):
    crosses = [i for i in stat.items if i.announce_type in ("cross", "replace-cross")]
    assert len(crosses) == 47
    # Cross-listed into stat, primary elsewhere: the first category is never a stat one.
    assert all(not i.record.primary_category.startswith("stat.") for i in crosses)
    assert all(any(c.startswith("stat.") for c in i.record.categories) for i in crosses)
    assert item(stat, "2403.15400").record.categories == ["cs.CY", "cs.CR", "cs.GT", "stat.AP"]
    assert item(stat, "2403.15635").record.primary_category == "cs.SI"  # not alphabetical: cs.SI, cond-mat…
    # New in stat: primary in stat (math.ST is stat.TH's alias).
    assert all(i.record.primary_category.split(".")[0] in ("stat", "math") for i in stat.items if i.announce_type == "new")


def test_a_fresh_cross_list_lands_on_the_day_an_old_one_does_not(stat):
    assert item(stat, "2403.14917").record.announced == DAY  # announced today in cs.LG
    assert item(stat, "2305.18699").record.announced is None  # a May 2023 paper cross-listed in March 2024


def test_dois_and_journal_refs(stat):
    with_doi = [i.record for i in stat.items if i.record.doi]
    assert all(d.doi.startswith("10.") for d in with_doi)
    assert all(" " not in d.doi for d in with_doi)


def test_multi_category_listing_header_and_items():
    listing = parse_listing(MULTI.read_bytes())
    assert listing.day == dt.date(2026, 9, 24)
    assert listing.categories == ["cs.LG", "cs.AI", "cs.CL", "stat.ML"]
    got = [(i.record.arxiv_id, i.record.version, i.announce_type, i.record.primary_category, i.record.announced) for i in listing.items]
    assert got == [
        ("2609.26811", 1, "new", "cs.LG", dt.date(2026, 9, 24)),
        ("2609.26820", 1, "new", "cs.LG", dt.date(2026, 9, 24)),
        ("2205.06398", 2, "cross", "stat.ME", None),  # primary stat.ME is not one of the listing's
        ("2009.13987", 3, "replace", "cs.LG", None),
    ]
    assert item(listing, "2205.06398").record.doi == "10.1093/bioinformatics/btac431"
    assert item(listing, "2609.26820").record.authors == ["Naser Mansour", "Sidahmed Benabderrahmane", "Ameer Rahwan"]


# --- listings built from arXiv's docs ----------------------------------------------------------

def test_the_atom_listing_from_the_docs():
    listing = parse_listing(ATOM.read_bytes())
    assert listing.format == "atom" and listing.day == dt.date(2024, 2, 23) and listing.categories == ["math.OC"]
    assert [i.announce_type for i in listing.items] == ["new", "cross", "replace-cross", "replace"]
    docs = item(listing, "2203.01250")
    r = docs.record
    assert (r.version, r.doi, r.license) == (3, "10.5802/jep.257", "http://creativecommons.org/licenses/by/4.0/")
    assert r.journal_ref.startswith("Journal de l'\\'Ecole polytechnique")
    assert r.authors == ["Antonin Monteil", "Paul Pegon"] and r.categories == ["math.AP", "math.OC"]
    assert r.abstract.startswith("We consider first order local minimization problems")
    assert item(listing, "2402.13500").record.primary_category == "cs.LG"
    assert item(listing, "2311.04242").withdrawn and not docs.withdrawn


def test_the_empty_weekend_listing_is_a_no_op(engine):
    listing = parse_listing(WEEKEND.read_bytes())
    assert listing.empty and listing.day == dt.date(2024, 2, 24) and listing.categories == ["math.OC"]
    with engine.connect() as conn:
        before = versions.content_version(conn)
    summary = ingest_listing(engine, listing)
    assert "empty" in summary.message and "weekends and holidays" in summary.message and "Saturday" in summary.message
    assert (summary.new, summary.replaced, summary.cross, summary.withdrawn, summary.unchanged) == (0, 0, 0, 0, 0)
    with engine.connect() as conn:
        assert repo.count_papers(conn) == 0 and versions.content_version(conn) == before


# --- hostile and broken input ------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>&lol3;</title><pubDate>Tue, 26 Mar 2024 00:00:00 -0400</pubDate></channel></rss>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&xxe;</title><pubDate>Tue, 26 Mar 2024 00:00:00 -0400</pubDate></channel></rss>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://example.org/evil.dtd">
<rss version="2.0"><channel><pubDate>Tue, 26 Mar 2024 00:00:00 -0400</pubDate></channel></rss>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY], ids=["billion-laughs", "external-entity", "dtd"])
def test_hostile_xml_is_refused_unread(body):
    with pytest.raises(ServiceError, match="refused") as e:
        parse_listing(body)
    assert not isinstance(e.value, ServiceUnavailable)  # not worth retrying


@pytest.mark.parametrize("body", [STAT.read_bytes()[:50_000], b"<html><body>Service Unavailable</body></html>", b""],
                         ids=["truncated", "html", "empty"])  # fmt: skip
def test_truncated_or_foreign_bodies_are_unavailable(body):
    with pytest.raises(ServiceUnavailable):
        parse_listing(body)


def test_a_feed_without_any_date_is_an_error():
    with pytest.raises(ServiceError, match="no date"):
        parse_listing(b'<rss version="2.0"><channel><title>x updates on arXiv.org</title></channel></rss>')


def test_unusable_entries_are_skipped_and_counted():
    body = STAT.read_bytes().replace(b"<guid isPermaLink=\"false\">oai:arXiv.org:2403.15527v1</guid>", b"<guid>nonsense</guid>", 1)
    body = body.replace(b"arXiv:2403.15527v1 Announce", b"arXiv:nonsense Announce", 1)
    body = body.replace(b"<link>https://arxiv.org/abs/2403.15527</link>", b"<link>https://example.org/</link>", 1)
    listing = parse_listing(body)
    assert listing.skipped == 1 and len(listing.items) == 122


@pytest.mark.parametrize("text", [
    "This paper has been withdrawn by the authors due to a crucial error in equation 1.",
    "Withdrawn.",
    "withdrawn due to an error in the proof",
    "The submission was withdrawn by arXiv administrators because it is a duplicate.",
    "This manuscript has been withdrawn by the author.",
])  # fmt: skip
def test_withdrawal_notices(text):
    assert is_withdrawal_notice(text)


@pytest.mark.parametrize("text", [
    None, "",
    "We study drugs withdrawn from the market and the withdrawal of consent.",
    "Utilizing papers withdrawn from arXiv, we validated our methods.",
    "the model learns to withdraw from situations where it lacks confidence",
])  # fmt: skip
def test_ordinary_abstracts_are_not_withdrawal_notices(text):
    assert not is_withdrawal_notice(text)


def test_cross_announced_day_rules():
    day = dt.date(2024, 3, 26)
    assert cross_announced_day("2403.14917", 1, day) == day
    assert cross_announced_day("2403.14917", 2, day) is None
    assert cross_announced_day("2402.14917", 1, day) is None  # previous month, late in this one
    assert cross_announced_day("2402.14917", 1, dt.date(2024, 3, 2)) == dt.date(2024, 3, 2)
    assert cross_announced_day("2305.18699", 1, day) is None
    assert cross_announced_day("hep-th/9901001", 1, day) is None


def test_categories_and_urls():
    assert parse_categories("cs.CL,cs.LG") == ["cs.CL", "cs.LG"]
    assert parse_categories("cs.CL+stat.ML, math") == ["cs.CL", "stat.ML", "math"]
    assert listing_url(["cs.CL", "cs.LG"]) == "https://rss.arxiv.org/rss/cs.CL+cs.LG"
    assert listing_url("stat", fmt="atom", base_url="http://h/x/") == "http://h/x/atom/stat"
    for bad in ("", "cs.CL,../etc", "nonsense.XX", "cs.CL?x=1"):
        with pytest.raises(ValueError):
            parse_categories(bad)


# --- storing -----------------------------------------------------------------------------------

def stored(engine, arxiv_id):
    with engine.connect() as conn:
        return repo.get_paper(conn, arxiv_id)


def test_ingesting_the_stat_listing(engine, stat):
    summary = ingest_listing(engine, stat)
    assert (summary.new, summary.cross, summary.replaced, summary.withdrawn, summary.unchanged) == (35, 27, 61, 0, 0)
    assert "35 new, 27 cross-listed, 61 replaced" in summary.message
    assert len(summary.changed_ids) == 123
    with engine.connect() as conn:
        assert repo.count_papers(conn) == 123
        fresh_crosses = sum(1 for i in stat.items if i.announce_type == "cross" and i.record.announced == DAY)
        page = feed_page(conn, DAY, DAY, limit=200)
        assert page.total == 35 + fresh_crosses  # replacements and old cross-lists stay off the day's feed
        assert "2403.15527" in {p.arxiv_id for p in page.papers}
        assert feed_page(conn, DAY, DAY, category="stat.AP", limit=200).total > 0
        before = versions.content_version(conn)
    assert stored(engine, "2403.15400").primary_category == "cs.CY"
    assert stored(engine, "2008.12927").announced is None and stored(engine, "2008.12927").version == 3
    again = ingest_listing(engine, stat)
    assert (again.new, again.cross, again.replaced, again.unchanged) == (0, 0, 0, 123)
    with engine.connect() as conn:
        assert versions.content_version(conn) == before


def test_a_replacement_updates_version_and_date_but_keeps_the_day(engine, stat):
    with engine.begin() as conn:
        repo.upsert_papers(conn, [
            PaperRecord(arxiv_id="2009.13961", title="Old title", abstract="Old.", authors=["C. Flores"], categories=["stat.ML"],
                        version=3, published=dt.date(2020, 9, 29), updated=dt.date(2021, 5, 1), announced=dt.date(2020, 9, 30)),
            PaperRecord(arxiv_id="2009.13987", title="Ahead", abstract="Already at v5.", categories=["cs.LG"], version=5,
                        announced=dt.date(2020, 9, 30)),
        ])  # fmt: skip
    ingest_listing(engine, stat)
    p = stored(engine, "2009.13961")
    assert (p.version, p.updated, p.announced, p.published) == (4, DAY, dt.date(2020, 9, 30), dt.date(2020, 9, 29))
    assert p.title == "Online Action Learning in High Dimensions: A Conservative Perspective"
    summary = ingest_listing(engine, parse_listing(MULTI.read_bytes()))  # carries 2009.13987v3
    assert summary.unchanged >= 1
    ahead = stored(engine, "2009.13987")
    assert (ahead.version, ahead.title) == (5, "Ahead")  # an older version changes nothing


def test_a_cross_list_of_a_known_paper_keeps_its_primary_and_day(engine, stat):
    cs_day = dt.date(2024, 3, 25)
    with engine.begin() as conn:
        repo.upsert_papers(conn, [PaperRecord(arxiv_id="2403.14917", title="Mean-field Analysis on Two-layer Neural Networks from a Kernel Perspective",
                                              abstract="x", categories=["cs.LG"], version=1, announced=cs_day)])  # fmt: skip
    ingest_listing(engine, stat)
    p = stored(engine, "2403.14917")
    assert p.categories == ["cs.LG", "stat.ML"] and p.primary_category == "cs.LG" and p.announced == cs_day
    with engine.connect() as conn:
        assert conn.execute(select(papers.c.primary_category).where(papers.c.arxiv_id == "2403.14917")).scalar() == "cs.LG"


def test_withdrawn_papers_are_marked_and_shown(engine):
    with engine.begin() as conn:
        repo.upsert_papers(conn, [PaperRecord(arxiv_id="2311.04242", title="On a Conjecture About Convex Relaxations",
                                              abstract="A proof.", categories=["math.OC"], version=1, announced=dt.date(2023, 11, 8))])  # fmt: skip
    listing = parse_listing(ATOM.read_bytes())
    summary = ingest_listing(engine, listing)
    assert summary.withdrawn == 1 and summary.new == 1 and summary.cross == 1 and summary.replaced == 2
    p = stored(engine, "2311.04242")
    assert p.withdrawn and p.version == 2 and p.announced == dt.date(2023, 11, 8)
    assert not stored(engine, "2203.01250").withdrawn
    assert ingest_listing(engine, listing).withdrawn == 0  # already marked
    # A later ordinary replacement lifts the mark.
    v3 = ATOM.read_bytes().replace(b"2311.04242v2", b"2311.04242v3").replace(
        b"This paper has been withdrawn by the authors due to a crucial error in the proof of Theorem 2.", b"A corrected proof.")
    ingest_listing(engine, parse_listing(v3))
    p = stored(engine, "2311.04242")
    assert not p.withdrawn and p.version == 3


def test_a_withdrawn_paper_we_never_had_is_stored_marked_and_off_the_feed(engine):
    ingest_listing(engine, parse_listing(ATOM.read_bytes()))
    p = stored(engine, "2311.04242")
    assert p.withdrawn and p.announced is None


def test_dry_run_counts_exactly_and_changes_nothing(engine, stat):
    with engine.connect() as conn:
        before = versions.content_version(conn)
    dry = ingest_listing(engine, stat, dry_run=True)
    assert dry.dry_run and (dry.new, dry.cross, dry.replaced) == (35, 27, 61) and dry.message.startswith("Would ingest")
    with engine.connect() as conn:
        assert repo.count_papers(conn) == 0 and versions.content_version(conn) == before
    real = ingest_listing(engine, stat)
    assert (real.new, real.cross, real.replaced) == (35, 27, 61)


def test_withdrawn_badge_on_the_paper_page_and_card(client):
    day = dt.date(2026, 6, 30)
    with client.engine.begin() as conn:
        (first,) = feed_page(conn, day, day, limit=1).papers  # the first card of the day's page
        assert not first.withdrawn
        assert repo.mark_withdrawn(conn, [first.arxiv_id]) == 1
        assert repo.mark_withdrawn(conn, [first.arxiv_id]) == 0
        assert repo.get_paper(conn, first.arxiv_id).withdrawn
    page = client.get(f"/papers/{first.arxiv_id}").text
    assert 'badge-danger">withdrawn</span>' in page and "arXiv lists this paper as withdrawn" in page
    feed = client.get(f"/papers/date/{day.isoformat()}").text
    start = feed.index(f'id="p-{first.arxiv_id.replace("/", "-")}"')
    card = feed[start : feed.index("</article>", start)]
    assert ">withdrawn</span>" in card
    assert feed.count(">withdrawn</span>") == 1


# --- fetching from a loopback server -----------------------------------------------------------

def test_fetch_listing_end_to_end(feeds, engine):
    listing = fetch(feeds.url, "stat")
    assert len(listing.items) == 123 and listing.day == DAY
    (req,) = feeds.requests
    assert req["path"] == "/rss/stat" and req["headers"]["User-Agent"].startswith("Paperboy/")
    summary = ingest_listing(engine, listing)
    assert summary.new == 35
    assert len(fetch(feeds.url, ["cs.LG", "cs.AI", "cs.CL", "stat.ML"]).items) == 4
    assert fetch(feeds.url, "math.OC", fmt="atom").format == "atom"
    assert feeds.requests[-1]["path"] == "/atom/math.OC"


def test_503_with_retry_after_is_honoured(feeds):
    feeds.script = [Fault(status=503, headers={"Retry-After": "7"}, body=b"busy")]
    sleeps = []
    listing = fetch(feeds.url, "stat", sleep=sleeps.append)
    assert len(listing.items) == 123 and len(feeds.requests) == 2
    assert len(sleeps) == 1 and sleeps[0] >= 7


def test_a_timeout_is_retried(feeds):
    feeds.script = [Fault(hang=True)]  # answers only when the fake shuts down
    started = time.monotonic()
    listing = fetch(feeds.url, "stat", timeout=0.3)
    assert len(listing.items) == 123 and len(feeds.requests) == 2
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("fault", [Fault(hangup=True), Fault(cut=0.5)], ids=["connection-closed-early", "cut-short-xml"])
def test_a_truncated_body_is_retried(feeds, fault):
    feeds.script = [fault]
    listing = fetch(feeds.url, "stat")
    assert len(listing.items) == 123 and len(feeds.requests) == 2


def test_persistent_failure_gives_up_with_a_clear_error(feeds):
    feeds.script = [Fault(status=503, body=b"down")] * 4
    sleeps = []
    with pytest.raises(ServiceUnavailable, match=r"HTTP 503 \(after 4 tries\)"):
        fetch(feeds.url, "stat", retries=3, sleep=sleeps.append)
    assert len(feeds.requests) == 4 and len(sleeps) == 3


def test_client_errors_and_hostile_bodies_are_not_retried(feeds):
    with pytest.raises(ServiceError, match="HTTP 404") as e:
        fetch(feeds.url, "cs.XX")
    assert e.value.status == 404 and len(feeds.requests) == 1
    feeds.script = [Fault(status=200, body=BILLION_LAUGHS)]
    with pytest.raises(ServiceError, match="refused"):
        fetch(feeds.url, "stat")
    assert len(feeds.requests) == 2


def test_fetch_with_a_base_url_ending_in_a_slash_and_a_shared_limiter(feeds):
    calls = []

    class CountingLimiter:
        @contextlib.contextmanager
        def slot(self):
            calls.append(1)
            yield

    with ListingsClient(feeds.url + "/", timeout=5, limiter=CountingLimiter(), sleep=lambda s: None) as client:
        listing = fetch_listing(client, "stat")
    assert len(listing.items) == 123 and calls == [1]


def test_the_daily_job_in_one_call_with_the_shared_limiter(feeds, engine):
    from paperboy.ingest.http import SharedRateLimiter

    limiter = SharedRateLimiter(engine, "arxiv-rss", 0.0)
    with ListingsClient(feeds.url, limiter=limiter) as client:
        summary = ingest_from_feed(engine, client, "stat")
        assert (summary.new, summary.cross, summary.replaced) == (35, 27, 61)
        assert ingest_from_feed(engine, client, "math.OC").message.startswith("The math.OC listing")


def test_cli_ingest_rss(feeds, tmp_path):
    env = {"PAPERBOY_DATA_DIR": str(tmp_path), "PAPERBOY_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    dry = runner.invoke(app, ["ingest", "rss", "--categories", "stat", "--base-url", feeds.url, "--min-interval", "0", "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["new"] == 35 and json.loads(dry.stdout)["dry_run"] is True
    real = runner.invoke(app, ["ingest", "rss", "--categories", "stat", "--base-url", feeds.url, "--min-interval", "0"], env=env)
    assert real.exit_code == 0, real.output
    assert "35 new, 27 cross-listed, 61 replaced (0 withdrawn), 0 unchanged" in real.stdout
    weekend = runner.invoke(app, ["ingest", "rss", "-c", "math.OC", "--file", str(WEEKEND)], env=env)
    assert weekend.exit_code == 0 and "empty" in weekend.stdout
    bad = runner.invoke(app, ["ingest", "rss", "--categories", "nonsense!"], env=env)
    assert bad.exit_code == 2
    impolite = runner.invoke(app, ["ingest", "rss", "-c", "stat", "--min-interval", "0"], env=env)
    assert impolite.exit_code == 1 and "3 seconds" in impolite.output  # only loopback servers may be asked faster
    down = runner.invoke(app, ["ingest", "rss", "-c", "cs.XX", "--base-url", feeds.url, "--min-interval", "0"], env=env)
    assert down.exit_code == 1 and "HTTP 404" in down.output
