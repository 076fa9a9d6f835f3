"""The worker a one-machine site runs (``paperboy serve`` starts it): on an empty database it first
backfills the last announcement days from arXiv's OAI-PMH (the loopback stand-in serving the
recorded ListRecords), resumably; then keeps up daily; and sends the outbox's mail at every poll.

The clock is frozen at Saturday 14 April 2007, 12:00 UTC: the last seven listing days are 5, 6, 9,
10, 11, 12 and 13 April, and the recorded records of the harvested categories (math.AG, math.MP,
nucl-th) were announced on 5, 6, 9 and 13 April (cs's recordings are not in the fixtures).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from fake_arxiv import RSS, Fault, listing_route, serve_fake_arxiv
from fake_embedder import FakeEmbedder
from paperboy.config import Settings
from paperboy.ingest.backfill import first_run_state
from paperboy.ingest.http import RetryPolicy
from paperboy.ingest.oai import OaiClient
from paperboy.jobs.daily import FIRST_RUN_KEY, run_worker_from_settings
from paperboy.jobs.leases import get_run
from paperboy.store.schema import papers

NOW = dt.datetime(2007, 4, 14, 12, 0, tzinfo=dt.timezone.utc)
KEPT = ["0704.0471", "0704.0716", "0704.0874", "0704.1586"]  # the recorded records of those categories
CATEGORIES = "math.AG,math.MP,nucl-th"  # two OAI sets: math, physics:nucl-th


@pytest.fixture
def fake():
    with serve_fake_arxiv() as fake:
        # The daily run (Thursday 12 April's) fetches the listing of these categories: a recorded one.
        fake.routes["/rss/math.AG+math.MP+nucl-th"] = listing_route(RSS / "rss-stat-2024-03-26.xml")
        yield fake


def settings_for(fake, tmp_path, **kw) -> Settings:
    return Settings(**{"data_dir": str(tmp_path), "arxiv_oai_url": fake.oai_url, "arxiv_rss_url": fake.url,
                       "arxiv_api_url": fake.api_url, "hf_base_url": fake.url, "arxiv_interval": 0.0, "hf_interval": 0.0,
                       "daily_categories": CATEGORIES, "smtp_host": "127.0.0.1", "smtp_port": 1, **kw}).resolved()  # fmt: skip


def client_for(fake) -> OaiClient:
    """No retries: a 503 fails the page at once (the worker tries the backfill again later)."""
    return OaiClient(fake.oai_url, user_agent="Paperboy-test (mailto:ops@example.org)", timeout=10,
                     policy=RetryPolicy(retries=0))  # fmt: skip


def worker_once(engine, settings, fake):
    return run_worker_from_settings(engine, settings, once=True, now=lambda: NOW, oai_client=client_for(fake),
                                    embedder=FakeEmbedder())  # fmt: skip


def ids(engine, since: dt.date | None = None) -> list[str]:
    query = select(papers.c.arxiv_id).order_by(papers.c.arxiv_id)
    if since is not None:
        query = query.where(papers.c.announced >= since, papers.c.announced < dt.date(2008, 1, 1))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def state(engine):
    with engine.connect() as conn:
        return first_run_state(conn)


def oai_tokens(fake) -> list:
    return [r["params"].get("resumptionToken") for r in fake.requests if r["path"] == "/oai"]


def test_an_empty_database_is_backfilled_then_the_daily_run_follows_and_a_rerun_does_nothing(engine, fake, tmp_path, caplog):
    settings = settings_for(fake, tmp_path)
    caplog.set_level("INFO", logger="paperboy")
    results = worker_once(engine, settings, fake)
    by_key = {r.run_key: r for r in results}
    assert by_key[FIRST_RUN_KEY].status == "done"
    assert ids(engine, dt.date(2007, 4, 5)) == KEPT  # the four papers of the window, none other of 2007
    # Both sets harvested, three pages each, with the window's OAI `from` (four days before 5 April).
    oai = [r for r in fake.requests if r["path"] == "/oai"]
    assert [r["params"].get("set") for r in oai if "set" in r["params"]] == ["math", "physics:nucl-th"]
    assert {r["params"]["from"] for r in oai if "from" in r["params"]} == {"2007-04-01"}
    assert oai_tokens(fake) == [None, "tok-2", "tok-3"] * 2
    done = state(engine)
    assert (done.status, done.first_day, done.days, done.days_done, done.papers, done.pages) == (
        "done", dt.date(2007, 4, 5), 7, 4, 4, 6)
    # The progress went to the log, page by page.
    assert "backfill: 2 of 7 days, 2 papers so far" in caplog.text
    assert "backfill finished: 4 of 7 days, 4 papers" in caplog.text
    # Then the daily run (Thursday 12 April's), after the backfill: its listing's papers join them.
    assert by_key["daily-ingest:2007-04-12"].status == "done"
    first_listing = next(i for i, r in enumerate(fake.requests) if r["path"].startswith("/rss/"))
    assert all(r["path"] != "/oai" for r in fake.requests[first_listing:])
    assert len(ids(engine)) > len(KEPT)
    if engine.dialect.name == "sqlite":  # and the vectors file the web processes map, written after embedding
        from paperboy.search.indexer import vector_file_path
        from paperboy.search.vectors import vector_file_state

        assert vector_file_state(vector_file_path(tmp_path, FakeEmbedder.name)).papers == len(ids(engine))
    # A rerun (a restart of the site): nothing fetched from OAI again, nothing run again.
    seen = len(fake.requests)
    again = worker_once(engine, settings, fake)
    assert [r for r in again if r.run_key == FIRST_RUN_KEY] == []
    assert [r["path"] for r in fake.requests[seen:] if r["path"] == "/oai"] == []
    assert state(engine).status == "done"


def test_no_backfill_starts_empty_and_a_database_with_papers_is_not_backfilled(engine, fake, tmp_path):
    settings = settings_for(fake, tmp_path, backfill_days=0)  # what --no-backfill sets
    results = worker_once(engine, settings, fake)
    assert FIRST_RUN_KEY not in {r.run_key for r in results}
    assert oai_tokens(fake) == [] and state(engine) is None
    assert ids(engine, dt.date(2007, 4, 5)) == []  # the daily listing's 2024 papers only
    # Now with backfilling on: the database is no longer empty (say, a dump was imported) — left alone.
    assert ids(engine)
    results = worker_once(engine, settings_for(fake, tmp_path), fake)
    assert {r.run_key: r.status for r in results}[FIRST_RUN_KEY] == "done"
    assert oai_tokens(fake) == [] and state(engine) is None


def test_ingest_off_fetches_nothing(engine, fake, tmp_path):
    """PAPERBOY_INGEST off: no backfill, no daily run (the digests still go out)."""
    results = worker_once(engine, settings_for(fake, tmp_path, ingest=False), fake)
    assert fake.requests == [] and ids(engine) == [] and state(engine) is None
    assert [r.run_key for r in results if not r.run_key.startswith("digest-send:")] == []


@pytest.mark.parametrize("fail_at", [1, 4], ids=["first-set", "second-set"])
def test_a_backfill_cut_short_keeps_what_it_fetched_and_a_rerun_carries_on(engine, fake, tmp_path, fail_at):
    """arXiv answers 503 at request ``fail_at`` (0-based): the pages before it stay, the run is marked
    failed, and the next pass (a restart, or the retry) carries on from the page that failed."""
    settings = settings_for(fake, tmp_path, ingest=True)
    fake.script = [None] * fail_at + [Fault(status=503, body=b"busy")]
    results = worker_once(engine, settings, fake)
    assert {r.run_key: r.status for r in results}[FIRST_RUN_KEY] == "failed"
    assert get_run(engine, FIRST_RUN_KEY).status == "failed"
    cut = state(engine)
    assert cut.status == "stopped" and cut.running  # not done: the next pass carries on
    if fail_at == 1:  # the first page of set math was stored: 0471 (5 April) and 0716 (6 April)
        assert ids(engine, dt.date(2007, 4, 5)) == KEPT[:2]
        assert (cut.days_done, cut.papers, cut.pages) == (2, 2, 1)
    else:  # set math done, the first page of physics:nucl-th too
        assert ids(engine, dt.date(2007, 4, 5)) == KEPT
        assert (cut.days_done, cut.papers, cut.pages) == (4, 4, 4)
    seen = len(oai_tokens(fake))
    results = worker_once(engine, settings, fake)
    assert {r.run_key: r.status for r in results}[FIRST_RUN_KEY] == "done"
    resumed = oai_tokens(fake)[seen:]
    if fail_at == 1:  # math from its second page on, then all of physics:nucl-th
        assert resumed == ["tok-2", "tok-3", None, "tok-2", "tok-3"]
    else:  # math is not harvested again; physics:nucl-th from its second page
        assert resumed == ["tok-2", "tok-3"]
    assert ids(engine, dt.date(2007, 4, 5)) == KEPT
    assert (state(engine).status, state(engine).papers, state(engine).days_done) == ("done", 4, 4)


def test_the_worker_sends_the_outbox_at_every_poll(engine, fake, tmp_path):
    """Sign-up, reset and confirmation mail go out from the worker, without `paperboy mail deliver`:
    at its first pass, and at a later poll for mail queued while it waits."""
    import threading

    from paperboy.mail import enqueue
    from paperboy.store.db import write_transaction
    from smtp_server import start_smtp

    got = threading.Condition()
    received: list[str] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with got:
                received.extend(envelope.rcpt_tos)
                got.notify_all()
            return "250 OK"

    def queue(to: str) -> None:
        with write_transaction(engine) as conn:
            assert enqueue(conn, key=f"signup:{to}", to=to, subject="Confirm your address", text="Click.")

    smtp = start_smtp(Handler())
    try:
        settings = settings_for(fake, tmp_path, ingest=False, smtp_port=smtp.port, worker_poll_seconds=1)
        queue("first@example.org")
        worker_once(engine, settings, fake)
        assert received == ["first@example.org"]
        # A running worker: mail queued while it sleeps goes out at its next poll.
        stop = threading.Event()
        polls = threading.Semaphore(0)

        def frozen():
            polls.release()
            return NOW

        worker = threading.Thread(target=run_worker_from_settings, args=(engine, settings),
                                  kwargs=dict(stop=stop, now=frozen, embedder=FakeEmbedder()))  # fmt: skip
        worker.start()
        try:
            assert polls.acquire(timeout=20)  # it is running
            queue("second@example.org")
            with got:
                assert got.wait_for(lambda: len(received) == 2, timeout=30), received
        finally:
            stop.set()
            worker.join(timeout=30)
        assert received == ["first@example.org", "second@example.org"]
    finally:
        smtp.stop()


def test_the_home_page_shows_the_backfill_as_it_goes(engine, fake, tmp_path):
    """From the database row (every web process sees it), through the page cache (the row's changes
    move the content version): empty site → "Fetching … 2 of 7 days, 2 papers…" → the feed."""
    import threading

    from fastapi.testclient import TestClient

    from paperboy.ingest.backfill import first_run_backfill
    from paperboy.app import create_app

    settings = settings_for(fake, tmp_path, database_url=engine.url.render_as_string(hide_password=False),
                            secret_key="test-secret")  # fmt: skip
    recorded, at_page_2, go_on = fake.routes["/oai"], threading.Event(), threading.Event()

    def oai(params):
        if params.get("resumptionToken") == "tok-2" and not go_on.is_set():
            at_page_2.set()  # page 1 and its progress are stored by now
            assert go_on.wait(30)
        return recorded(params)

    fake.routes["/oai"] = oai
    with TestClient(create_app(settings)) as web:
        before = web.get("/").text
        assert "No papers yet" in before and "Fetching" not in before
        assert web.get("/").text == before  # cached
        worker = threading.Thread(target=first_run_backfill, args=(engine, settings),
                                  kwargs=dict(today=NOW.date(), client=client_for(fake)))  # fmt: skip
        worker.start()
        try:
            assert at_page_2.wait(30)
            page = web.get("/").text
            assert "Fetching the last 7 days from arXiv: 2 of 7 days, 2 papers…" in page
            assert "0704.0716" in page  # the home page is the newest day so far, 6 April
            day = web.get("/papers/date/2007-04-10").text  # a day of the window with nothing yet
            assert "Fetching the last 7 days from arXiv: 2 of 7 days, 2 papers…" in day
            assert "Fetching" not in web.get("/papers/date/2007-04-06").text  # a day with papers, not home
        finally:
            go_on.set()
            worker.join(timeout=30)
        after = web.get("/").text
        assert "Fetching" not in after and "0704.1586" in after  # done: the newest day, 13 April


def test_the_home_page_says_when_the_backfill_stopped(engine, fake, tmp_path):
    from fastapi.testclient import TestClient

    from paperboy.ingest.backfill import first_run_backfill
    from paperboy.ingest.http import ServiceUnavailable
    from paperboy.app import create_app

    settings = settings_for(fake, tmp_path, database_url=engine.url.render_as_string(hide_password=False),
                            secret_key="test-secret")  # fmt: skip
    fake.script = [None, Fault(status=503)]
    with TestClient(create_app(settings)) as web:
        with pytest.raises(ServiceUnavailable):
            first_run_backfill(engine, settings, today=NOW.date(), client=client_for(fake))
        page = web.get("/").text
        assert "Fetching the last 7 days from arXiv stopped at 2 of 7 days, 2 papers: arXiv did not answer." in page
        first_run_backfill(engine, settings, today=NOW.date(), client=client_for(fake))
        assert "Fetching" not in web.get("/").text


def test_an_expired_resumption_token_starts_that_set_again(engine, fake, tmp_path):
    """A rerun long after a crash: arXiv no longer knows the stored token (its recorded
    badResumptionToken answer), so that set is harvested again from the start; nothing is lost."""
    from paperboy.ingest.backfill import first_run_backfill
    from paperboy.ingest.http import ServiceUnavailable
    from paperboy.store.db import write_transaction
    from paperboy.store.schema import harvest_checkpoints

    settings = settings_for(fake, tmp_path, daily_categories="math.AG,math.MP")  # one set: math
    fake.script = [None, Fault(status=503)]
    with pytest.raises(ServiceUnavailable):
        first_run_backfill(engine, settings, today=NOW.date(), client=client_for(fake))
    with write_transaction(engine) as conn:
        assert conn.execute(harvest_checkpoints.update().values(resumption_token="tok-expired")).rowcount == 1
    seen = len(oai_tokens(fake))
    report = first_run_backfill(engine, settings, today=NOW.date(), client=client_for(fake))
    assert oai_tokens(fake)[seen:] == ["tok-expired", None, "tok-2", "tok-3"]
    assert report["papers"] == 2 and ids(engine, dt.date(2007, 4, 5)) == ["0704.0716", "0704.0874"]
    assert state(engine).status == "done"


def test_a_stopping_worker_ends_the_backfill_after_a_page_and_the_next_start_carries_on(engine, fake, tmp_path):
    """SIGTERM (`paperboy serve` shutting down) sets the worker's stop event: the backfill stops after
    the page it is storing instead of holding the shutdown for the rest of the harvest."""
    import threading

    settings = settings_for(fake, tmp_path, daily_categories="math.AG,math.MP")
    stop = threading.Event()
    recorded = fake.routes["/oai"]

    def oai(params):
        stop.set()  # SIGTERM arrives while the first page is on its way
        return recorded(params)

    fake.routes["/oai"] = oai
    results = run_worker_from_settings(engine, settings, once=True, stop=stop, now=lambda: NOW, oai_client=client_for(fake),
                                       embedder=FakeEmbedder())  # fmt: skip
    assert [(r.run_key, r.status) for r in results if r.run_key == FIRST_RUN_KEY] == [(FIRST_RUN_KEY, "failed")]
    assert oai_tokens(fake) == [None] and state(engine).status == "running" and state(engine).papers == 1
    assert [r["path"] for r in fake.requests] == ["/oai"]  # nor the daily run: it stopped
    fake.routes["/oai"] = recorded
    worker_once(engine, settings, fake)
    assert oai_tokens(fake) == [None, "tok-2", "tok-3"] and state(engine).status == "done"
