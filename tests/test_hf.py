"""The Hugging Face Daily Papers mirror: every recorded generation of /api/daily_papers, HF's upvotes
kept apart from ours and shown, and fetches from a loopback server with injected faults."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from fake_arxiv import HF, Fault, hf_route, serve_fake_arxiv
from paperboy.cli import app
from paperboy.ingest.hf import HfClient, fetch_hf_day, ingest_hf_day, mirror_hf_day, parse_daily_entry, parse_daily_papers
from paperboy.ingest.http import RateLimiter, ServiceError, ServiceUnavailable
from paperboy.papers.ids import parse_arxiv_id
from paperboy.papers.model import PaperRecord
from paperboy.store import feeds, repo, versions
from paperboy.store.schema import papers

FILES = sorted(HF.glob("hf_daily_papers_*.json"))

if not FILES:
    message = f"Hugging Face fixtures not found under {HF} (set PAPERBOY_SHARED)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def recording(day: str) -> Path:
    return HF / f"hf_daily_papers_{day}.json"


def day_of(path: Path) -> dt.date:
    return dt.date.fromisoformat(path.stem.rsplit("_", 1)[1])


# --- parsing every generation ------------------------------------------------------------------

@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem[-10:])
def test_every_generation_parses_completely(path):
    raw = json.loads(path.read_bytes())
    items = parse_daily_papers(path.read_bytes())
    assert len(items) == len(raw) > 0
    for item, entry in zip(items, raw):
        r = item.record
        assert r.arxiv_id == parse_arxiv_id(entry["paper"]["id"]).id and r.source == "hf"
        assert r.title and r.title == " ".join(r.title.split())
        assert r.abstract and r.abstract == " ".join(r.abstract.split())
        assert r.authors and all(a == " ".join(a.split()) for a in r.authors)
        assert r.published and r.published <= day_of(path)
        assert r.categories == [] and r.version is None and r.announced is None
        assert item.hf_upvotes == entry["paper"]["upvotes"] >= 0
        assert item.num_comments == entry["numComments"]


def test_the_2024_05_generation():
    items = parse_daily_papers(recording("2024-05-29").read_bytes())
    first = items[0]
    assert (first.record.arxiv_id, first.record.title, first.hf_upvotes) == ("2405.18407", "Phased Consistency Model", 18)
    assert first.record.published == dt.date(2024, 5, 28) and first.record.authors[0] == "Fu-Yun Wang"
    assert first.submitted_by is None  # no submitter in this generation
    assert first.submitted_at == dt.datetime(2024, 5, 29, 2, 42, 39, 779000, tzinfo=dt.timezone.utc)


def test_submitters_across_generations():
    # 2024: the username sits in "name"; 2025 on: in "user" too.
    assert parse_daily_papers(recording("2024-06-14").read_bytes())[0].submitted_by == "akhaliq"
    later = parse_daily_papers(recording("2025-06-13").read_bytes())[0]
    assert later.submitted_by == "YuSun-AI" and later.ai_summary.startswith("ReasonMed, a large medical reasoning dataset")
    assert later.submitted_at == dt.datetime(2025, 6, 13, 1, 6, 46, 741000, tzinfo=dt.timezone.utc)
    assert later.github_repo == "https://github.com/YuSun-Work/ReasonMed"
    assert parse_daily_papers(recording("2025-10-15").read_bytes())[0].organization == "AMAP-ML"
    newest = parse_daily_papers(recording("2026-08-21").read_bytes())[0]
    assert (newest.record.arxiv_id, newest.hf_upvotes, newest.organization) == ("2608.19880", 163, "Google")


def test_the_2025_03_top_level_published_at_is_not_taken_for_the_list_time():
    first = parse_daily_papers(recording("2025-03-14").read_bytes())[0]
    assert first.record.published == dt.date(2025, 3, 13)
    assert first.submitted_at is None  # "2025-03-13T13:55:45Z" is the arXiv time minus 4 hours


def test_titles_are_the_top_level_ones_normalised():
    items = parse_daily_papers(recording("2024-12-10").read_bytes())
    assert items[0].record.title == "Unraveling the Complexity of Memory in RL Agents: an Approach for Classification and Evaluation"


def test_the_flat_paper_info_shape_and_zero_upvotes():
    flat = {
        "id": "2407.21783", "title": "The Llama 3 Herd of Models", "summary": "Modern artificial intelligence (AI) systems ...",
        "authors": [{"_id": "a", "name": "Abhimanyu Dubey", "hidden": False}], "publishedAt": "2024-07-31T17:54:27.000Z",
        "submittedOnDailyAt": "2024-08-01T00:44:16.213Z", "upvotes": 0, "numComments": 3,
        "submittedOnDailyBy": {"fullname": "AK", "name": "akhaliq", "user": "akhaliq"},
    }  # fmt: skip
    item = parse_daily_entry(flat)
    assert item.record.published == dt.date(2024, 7, 31) and item.hf_upvotes == 0  # 0 is 0, not "unknown"
    assert item.submitted_by == "akhaliq" and item.submitted_at.date() == dt.date(2024, 8, 1) and item.num_comments == 3


def test_bad_entries_are_skipped_and_duplicates_kept_once():
    good = json.loads(recording("2024-05-29").read_bytes())
    body = [good[0], {"paper": {"id": "not-an-id"}, "title": "x"}, {"paper": {"id": "2405.18047"}}, "junk", good[0], good[1]]
    items = parse_daily_papers(body)
    assert [i.record.arxiv_id for i in items] == ["2405.18407", "2405.18047"]


def test_broken_answers():
    with pytest.raises(ServiceUnavailable):
        parse_daily_papers(recording("2024-05-29").read_bytes()[:5000])
    with pytest.raises(ServiceError, match="Invalid 'date'"):
        parse_daily_papers(b'{"error": "Invalid \'date\', expected YYYY-MM-DD"}')
    with pytest.raises(ServiceError, match="not a JSON array"):
        parse_daily_papers(b'"hello"')
    assert parse_daily_papers(b"[]") == []


# --- storing -----------------------------------------------------------------------------------

def test_ingest_puts_new_papers_on_the_day_with_hf_upvotes_apart(engine):
    path = recording("2024-06-14")
    day = day_of(path)
    items = parse_daily_papers(path.read_bytes())
    summary = ingest_hf_day(engine, items, day)
    assert (summary.entries, summary.new, summary.hf_upvotes, summary.unchanged) == (28, 28, 28, 0)
    with engine.connect() as conn:
        page = feeds.feed_page(conn, day, day, limit=100)
        assert page.total == 28
        p = repo.get_paper(conn, "2406.09414")
        assert (p.hf_upvotes, p.upvotes, p.announced, p.source, p.title) == (45, 0, day, "hf", "Depth Anything V2")
        before = versions.content_version(conn)
    again = ingest_hf_day(engine, items, day)
    assert (again.new, again.hf_upvotes, again.unchanged) == (0, 0, 28)
    with engine.connect() as conn:
        assert versions.content_version(conn) == before
    # HF's count moves: only hf_upvotes changes, and pages are told (content version).
    items[0].hf_upvotes = 99
    moved = ingest_hf_day(engine, items, day)
    assert (moved.new, moved.hf_upvotes, moved.unchanged) == (0, 1, 27)
    with engine.connect() as conn:
        assert repo.get_paper(conn, "2406.09414").hf_upvotes == 99 and versions.content_version(conn) > before


def test_a_known_paper_keeps_arxivs_metadata_its_day_and_our_votes(engine):
    arxiv_day = dt.date(2024, 6, 14)
    with engine.begin() as conn:
        repo.upsert_papers(conn, [PaperRecord(arxiv_id="2406.09414", title="Depth Anything V2 (arXiv)", abstract="arXiv's abstract.",
                                              categories=["cs.CV"], version=2, announced=arxiv_day, source="arxiv-listing")])  # fmt: skip
        conn.execute(update(papers).where(papers.c.arxiv_id == "2406.09414").values(upvotes=7))
    items = parse_daily_papers(recording("2024-06-14").read_bytes())
    ingest_hf_day(engine, items, dt.date(2024, 6, 15))
    with engine.connect() as conn:
        p = repo.get_paper(conn, "2406.09414")
        assert (p.title, p.categories, p.version, p.announced, p.source) == ("Depth Anything V2 (arXiv)", ["cs.CV"], 2, arxiv_day, "arxiv-listing")
        assert (p.upvotes, p.hf_upvotes) == (7, 45)
        assert repo.get_paper(conn, "2406.09415").announced == dt.date(2024, 6, 15)  # new to us: HF's day


def test_dry_run_and_an_empty_day(engine):
    items = parse_daily_papers(recording("2024-05-29").read_bytes())
    dry = ingest_hf_day(engine, items, dt.date(2024, 5, 29), dry_run=True)
    assert dry.dry_run and dry.new == 8 and dry.message.startswith("Would mirror")
    with engine.connect() as conn:
        assert repo.count_papers(conn) == 0
    empty = ingest_hf_day(engine, [], dt.date(2024, 6, 1))
    assert empty.new == 0 and "no daily papers" in empty.message


def test_hf_upvotes_are_shown_on_the_paper_page_and_the_feed(client):
    path = recording("2026-08-21")
    day = day_of(path)
    summary = ingest_hf_day(client.engine, parse_daily_papers(path.read_bytes()), day)
    assert summary.new == 17
    page = client.get("/papers/2608.19880")
    assert page.status_code == 200 and "HF 163" in page.text and "163 upvotes on Hugging Face" in page.text
    feed = client.get(f"/papers/date/{day.isoformat()}")
    assert feed.status_code == 200 and "HF 163" in feed.text and "EnvHarness" in feed.text
    # A paper of the slice: local votes and HF's count side by side, never mixed.
    with client.engine.begin() as conn:
        arxiv_id = conn.execute(select(papers.c.arxiv_id).where(papers.c.announced == dt.date(2026, 6, 30)).limit(1)).scalar_one()
        conn.execute(update(papers).where(papers.c.arxiv_id == arxiv_id).values(upvotes=3))
        versions.bump_content_version(conn)
    before = client.get(f"/papers/{arxiv_id}").text
    assert "HF " not in before.split('class="paper-actions"')[1].split("</div>")[0]
    entry = {"paper": {"id": arxiv_id, "authors": [{"name": "X"}], "summary": "s", "upvotes": 12, "publishedAt": "2026-06-29T10:00:00.000Z"},
             "title": "HF's title", "numComments": 0}  # fmt: skip
    ingest_hf_day(client.engine, [parse_daily_entry(entry)], dt.date(2026, 7, 1))
    with client.engine.connect() as conn:
        p = repo.get_paper(conn, arxiv_id)
    assert (p.upvotes, p.hf_upvotes, p.announced) == (3, 12, dt.date(2026, 6, 30)) and p.title != "HF's title"
    assert "HF 12" in client.get(f"/papers/{arxiv_id}").text


# --- fetching from a loopback server -----------------------------------------------------------

@pytest.fixture
def hf():
    with serve_fake_arxiv() as fake:
        yield fake


def fetch(base, day, *, page_size=100, max_pages=10, **kw):
    kw.setdefault("sleep", lambda s: None)
    with HfClient(base, limiter=RateLimiter(0), **kw) as client:
        return fetch_hf_day(client, day, page_size=page_size, max_pages=max_pages)


def test_fetch_sends_the_clients_query(hf):
    items = fetch(hf.url, dt.date(2024, 6, 14))
    assert len(items) == 28
    (req,) = hf.requests
    assert req["path"] == "/api/daily_papers" and req["query"] == "p=0&limit=100&date=2024-06-14"
    assert req["headers"]["User-Agent"].startswith("Paperboy/")
    assert len(fetch(hf.url + "/prefix/", "2024-05-29")) == 8  # a sub-path base and a trailing slash


def test_fetch_pages_through_a_long_day(hf):
    items = fetch(hf.url, dt.date(2024, 6, 14), page_size=10)
    assert len(items) == 28 and len({i.record.arxiv_id for i in items}) == 28
    assert [r["params"]["p"] for r in hf.requests] == ["0", "1", "2"]


def test_a_server_that_ignores_p_does_not_loop(hf):
    with serve_fake_arxiv() as fake:
        fake.routes["/api/daily_papers"] = lambda params: hf_route({"date": params["date"]})
        items = fetch(fake.url, dt.date(2024, 5, 29), page_size=8)
    assert len(items) == 8 and len(fake.requests) == 2


def test_503_with_retry_after_timeout_and_truncation_are_retried(hf):
    sleeps = []
    hf.script = [Fault(status=503, headers={"Retry-After": "5"}, body=b"{}"), Fault(hang=True), Fault(hangup=True), Fault(cut=0.5)]
    items = fetch(hf.url, dt.date(2024, 12, 10), timeout=0.3, retries=4, sleep=sleeps.append)
    assert len(items) == 12 and len(hf.requests) == 5
    assert sleeps[0] >= 5 and len(sleeps) == 4


def test_errors_are_clear_and_not_retried(hf):
    assert fetch(hf.url, dt.date(2025, 12, 31)) == []  # a day without picks
    hf.requests.clear()
    hf.script = [Fault(status=400, headers={"Content-Type": "application/json"}, body=b'{"error": "Invalid \'date\', expected YYYY-MM-DD"}')]
    with pytest.raises(ServiceError, match=r"HTTP 400: Invalid 'date', expected YYYY-MM-DD") as e:
        fetch(hf.url, dt.date(2025, 12, 31), retries=3)
    assert e.value.status == 400 and not isinstance(e.value, ServiceUnavailable) and len(hf.requests) == 1
    hf.script = [Fault(status=503, body=b"")] * 3
    with pytest.raises(ServiceUnavailable, match=r"after 3 tries"):
        fetch(hf.url, dt.date(2024, 5, 29), retries=2)


def test_the_scheduled_job_in_one_call(hf, engine):
    with HfClient(hf.url, limiter=RateLimiter(0)) as client:
        summary = mirror_hf_day(engine, client, dt.date(2025, 10, 15))
        assert (summary.entries, summary.new) == (26, 26)
        again = mirror_hf_day(engine, client, dt.date(2025, 10, 15))
        assert (again.new, again.unchanged) == (0, 26)


def test_cli_ingest_hf(hf, tmp_path):
    env = {"PAPERBOY_DATA_DIR": str(tmp_path), "PAPERBOY_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    args = ["ingest", "hf", "--date", "2024-06-14", "--base-url", hf.url, "--min-interval", "0"]
    dry = runner.invoke(app, [*args, "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["new"] == 28 and json.loads(dry.stdout)["dry_run"] is True
    real = runner.invoke(app, args, env=env)
    assert real.exit_code == 0, real.output
    assert "28 papers, 28 new to us, 28 upvote counts changed" in real.stdout
    saved = runner.invoke(app, ["ingest", "hf", "--date", "2024-05-29", "--file", str(recording("2024-05-29")), "--json"], env=env)
    assert saved.exit_code == 0 and json.loads(saved.stdout)["new"] == 8
    assert runner.invoke(app, ["ingest", "hf", "--date", "2024-13-40"], env=env).exit_code == 2
