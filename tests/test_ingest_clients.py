"""One client style for the four sources, and one way to store a fetched page.

Every source's client comes from :func:`paperboy.ingest.clients.client_for` with the same manners
(the deployment's contact in the User-Agent, the instance-wide pace of its service), and every
page of papers reaches the store through :func:`paperboy.ingest.pages.store_page`: papers and
resume mark together or not at all, a dry run rolled back. Fetches go to the loopback fake
(tests/fake_arxiv.py) serving the real recordings.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from fake_arxiv import serve_fake_arxiv
from paperboy import __version__
from paperboy.config import Settings
from paperboy.ingest.clients import client_for
from paperboy.ingest.http import SERVICES, ServiceClient, SharedRateLimiter
from paperboy.ingest.pages import HarvestConflict, PageMark, get_checkpoint, store_page, store_records
from paperboy.papers.model import PaperRecord
from paperboy.store import repo
from paperboy.store.schema import papers, request_slots


@pytest.fixture
def fake():
    with serve_fake_arxiv() as fake:
        yield fake


def settings_for(fake, tmp_path) -> Settings:
    """Hugging Face paced (a quarter second), to see the pace shared; a contact address for the User-Agent."""
    return fake.settings(tmp_path, hf_interval=0.25, contact_email="ops@example.org")


def record(n: int) -> PaperRecord:
    return PaperRecord(arxiv_id=f"2601.{n:05d}", version=1, title=f"Paper {n}", abstract="An abstract.", authors=["A. Author"],
                       categories=["cs.CL"], published=dt.date(2026, 1, 5), announced=dt.date(2026, 1, 6), source="test")  # fmt: skip


def stored_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(papers.c.arxiv_id)).scalars())


def test_every_source_gets_the_same_kind_of_client_from_the_settings(engine, fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    clients = {service: client_for(settings, service, engine) for service in SERVICES}
    try:
        for service, client in clients.items():
            assert isinstance(client, ServiceClient)
            assert client._http.headers["User-Agent"] == f"Paperboy/{__version__} (mailto:ops@example.org)"
            assert isinstance(client.limiter, SharedRateLimiter)
            assert (client.limiter.service, client.limiter.min_interval) == (service, 0.25 if service == "hf" else 0.0)
        assert clients["arxiv-api"].base_url == fake.api_url and clients["arxiv-oai"].base_url == fake.oai_url
        # Each fetches from its service's address, through the instance-wide slot of its service.
        assert clients["arxiv-api"].fetch_ids(["1605.08386"])[0].arxiv_id == "1605.08386"
        assert len(clients["arxiv-oai"].list_records(set_spec="cs").records) == 2
        assert len(clients["arxiv-rss"].listing("stat").items) == 123
        assert len(clients["hf"].daily_papers(dt.date(2024, 6, 14))) == 28
    finally:
        for client in clients.values():
            client.close()
    assert [r["path"] for r in fake.requests] == ["/api/query", "/oai", "/rss/stat", "/api/daily_papers"]
    with engine.connect() as conn:
        assert sorted(conn.execute(select(request_slots.c.service)).scalars()) == sorted(SERVICES)


def test_without_a_database_a_client_paces_itself_and_an_unknown_service_is_refused(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    with client_for(settings, "arxiv-rss", interval=5.0, base_url="http://127.0.0.1:9") as client:
        assert client.limiter.min_interval == 5.0 and not isinstance(client.limiter, SharedRateLimiter)
        assert client.base_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="unknown service 'rss'"):
        client_for(settings, "rss")


def test_a_page_and_its_mark_are_stored_together_or_not_at_all(engine):
    key = "oai:arXivRaw:cs::"
    first = PageMark(key, "tok-2", pages=1, records=2, expected=None)

    def upsert_then_fail(conn, records):
        repo.upsert_papers(conn, records)
        raise RuntimeError("the process died half-way")

    with pytest.raises(RuntimeError):
        store_page(engine, [record(1), record(2)], upsert_then_fail, mark=first)
    assert stored_ids(engine) == [] and get_checkpoint(engine, key) is None

    preview = store_records(engine, [record(1), record(2)], dry_run=True, mark=first)
    assert preview.new == 2 and stored_ids(engine) == [] and get_checkpoint(engine, key) is None

    assert store_records(engine, [record(1), record(2)], mark=first).new == 2
    point = get_checkpoint(engine, key)
    assert stored_ids(engine) == ["2601.00001", "2601.00002"]
    assert (point.resumption_token, point.pages, point.records, point.complete) == ("tok-2", 1, 2, False)

    # A second run of the same harvest that read the checkpoint before the first stored its page
    # stops, and the page it had fetched is not stored.
    with pytest.raises(HarvestConflict):
        store_records(engine, [record(3)], mark=PageMark(key, "tok-3", pages=2, records=3, expected=None))
    with pytest.raises(HarvestConflict):
        store_records(engine, [record(3)], mark=PageMark(key, "tok-3", pages=2, records=3, expected=(0, False)))
    assert stored_ids(engine) == ["2601.00001", "2601.00002"] and get_checkpoint(engine, key).pages == 1

    last = store_records(engine, [record(3)], mark=PageMark(key, None, pages=2, records=3, expected=(1, False)))
    point = get_checkpoint(engine, key)
    assert last.new == 1 and (point.resumption_token, point.pages, point.records, point.complete) == (None, 2, 3, True)
