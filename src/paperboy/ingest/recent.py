"""Recent papers of some categories through the arXiv API: what ``paperboy ingest arxiv`` does.

The API answers a search query (``(cat:cs.CL OR cat:cs.LG) AND submittedDate:[… TO …]``) in pages
of at most 2,000 results and serves no more than the first 30,000 of any query, newest submissions
first here; :func:`ingest_recent` walks those pages and stores each as it arrives (one transaction a
page, so an interrupted run keeps what it fetched). Bulk harvesting beyond that is OAI-PMH's job
(:mod:`paperboy.ingest.oai`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from paperboy import clock
from paperboy.ingest.arxiv_api import ApiPage, ArxivApiClient
from paperboy.ingest.pages import store_records
from paperboy.store.repo import UpsertCounts

__all__ = ["MAX_RESULTS", "PAGE_SIZE", "RecentSummary", "ingest_recent", "query_pages", "search_query"]

#: The most results the API returns for one request, and for one query in all.
PAGE_SIZE = 2000
MAX_RESULTS = 30000


def search_query(categories: Sequence[str], start: dt.datetime, end: dt.datetime) -> str:
    """``(cat:cs.CL OR cat:cs.LG) AND submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]`` (times in UTC)."""
    utc = dt.timezone.utc
    span = f"submittedDate:[{start.astimezone(utc):%Y%m%d%H%M} TO {end.astimezone(utc):%Y%m%d%H%M}]"
    cats = " OR ".join(f"cat:{c}" for c in categories)
    return f"({cats}) AND {span}" if len(categories) > 1 else f"cat:{categories[0]} AND {span}"


def query_pages(client: ArxivApiClient, search_query: str, *, page_size: int = PAGE_SIZE,
                max_total: int = MAX_RESULTS) -> Iterator[ApiPage]:  # fmt: skip
    """Every page of an API query: slices of at most ``page_size``, at most ``max_total`` results in
    all, newest submissions first. Stops early at the last result or at an empty page."""
    start = 0
    while start < max_total:
        size = min(page_size, max_total - start)
        page = client.query(search_query, start=start, max_results=size, sort_by="submittedDate", sort_order="descending")
        yield page
        start += size
        if not page.records and not page.skipped or start >= page.total_results:
            return


@dataclass(slots=True)
class RecentSummary(UpsertCounts):
    """What :func:`ingest_recent` did: ``read`` records in all, ``available`` results arXiv has for
    the query (it serves the first :data:`MAX_RESULTS`), and the store's counts. With ``dry_run``
    the counts say what *would* change; nothing is written."""

    read: int = 0
    available: int = 0
    query: str = ""
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {
            "read": self.read, "new": self.new, "updated": self.updated, "unchanged": self.unchanged,
            "available": self.available, "query": self.query, "dry_run": self.dry_run, "changed_ids": self.changed_ids[:20],
        }  # fmt: skip


def ingest_recent(
    engine: Engine,
    client: ArxivApiClient,
    categories: Sequence[str],
    days: int,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RecentSummary:
    """Fetch the papers of ``categories`` submitted in the last ``days`` days and store them page by
    page (each page its own transaction; with ``dry_run``, rolled back).

    ``progress(records_so_far, records_to_expect)`` is called after each page. Raises what the
    client raises (:class:`~paperboy.ingest.http.ServiceError`); pages stored before stay stored.
    """
    end = clock.now()
    summary = RecentSummary(query=search_query(categories, end - dt.timedelta(days=days), end), dry_run=dry_run)
    for page in query_pages(client, summary.query):
        summary.add(store_records(engine, page.records, dry_run=dry_run))
        summary.read += len(page.records)
        summary.available = page.total_results
        if progress:
            progress(summary.read, min(page.total_results, MAX_RESULTS))
    return summary
