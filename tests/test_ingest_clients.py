"""One way to store a fetched page.

Every page of papers reaches the store through :func:`paperboy.ingest.pages.store_page`: papers
and resume mark together or not at all, a dry run rolled back.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from paperboy.ingest.pages import HarvestConflict, PageMark, get_checkpoint, store_page, store_records
from paperboy.papers.model import PaperRecord
from paperboy.store import repo
from paperboy.store.schema import papers


def record(n: int) -> PaperRecord:
    return PaperRecord(arxiv_id=f"2601.{n:05d}", version=1, title=f"Paper {n}", abstract="An abstract.", authors=["A. Author"],
                       categories=["cs.CL"], published=dt.date(2026, 1, 5), announced=dt.date(2026, 1, 6), source="test")  # fmt: skip


def stored_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(papers.c.arxiv_id)).scalars())


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
