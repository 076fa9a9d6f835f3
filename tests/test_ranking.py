"""The feed's ranking rule (feeds.FEED_RANK) on both databases: votes, then Hugging Face's votes, then newest first."""

import datetime as dt

from paperboy.papers.model import PaperRecord
from paperboy.store import feeds, repo

D1, D2 = dt.date(2026, 6, 29), dt.date(2026, 7, 1)


def _papers(conn, rows):
    """rows: (arxiv_id, announced, upvotes, hf_upvotes or None)."""
    repo.upsert_papers(conn, [PaperRecord(arxiv_id=a, title=f"Paper {a}", abstract="A.", authors=["A. Author"], categories=["cs.LG"],
                                          announced=day) for a, day, _, _ in rows])  # fmt: skip
    for a, _, votes, _ in rows:
        conn.exec_driver_sql(f"UPDATE papers SET upvotes = {votes} WHERE arxiv_id = '{a}'")
    repo.set_hf_upvotes(conn, {a: hf for a, _, _, hf in rows if hf is not None})


ROWS = [
    ("2006.00001", D1, 0, None),  # an old id announced again: must not head the month by being the smallest id
    ("2606.00010", D1, 0, None),
    ("2606.00020", D1, 2, None),
    ("2606.00030", D1, 0, 0),  # on HF with no upvotes: above papers HF does not list
    ("2607.00001", D2, 0, None),
    ("2607.00002", D2, 0, 7),
    ("2607.00003", D2, 2, 1),
    ("2607.00004", D2, 0, None),
]
EXPECTED = [
    "2607.00003",  # 2 votes, HF 1
    "2606.00020",  # 2 votes, not on HF
    "2607.00002",  # 0 votes, HF 7
    "2606.00030",  # 0 votes, HF 0
    "2607.00004", "2607.00001",  # not on HF: the later day first, the later id first within it
    "2606.00010", "2006.00001",
]  # fmt: skip


def test_top_papers_order_votes_then_hf_then_newest(engine):
    with engine.begin() as conn:
        _papers(conn, ROWS)
    with engine.connect() as conn:
        page = feeds.feed_page(conn, dt.date(2026, 6, 1), dt.date(2026, 7, 31))
        assert [p.arxiv_id for p in page.papers] == EXPECTED
        # pages split the same order
        first = feeds.feed_page(conn, dt.date(2026, 6, 1), dt.date(2026, 7, 31), limit=3)
        rest = feeds.feed_page(conn, dt.date(2026, 6, 1), dt.date(2026, 7, 31), limit=10, offset=3)
        assert [p.arxiv_id for p in first.papers + rest.papers] == EXPECTED


def test_python_rank_key_agrees_with_the_sql_order(engine):
    """web/pages.py re-sorts a cached page with fresh counts by feed_rank_key: it must rank as SQL does."""
    with engine.begin() as conn:
        _papers(conn, ROWS)
    with engine.connect() as conn:
        papers = feeds.feed_page(conn, dt.date(2026, 6, 1), dt.date(2026, 7, 31)).papers
    shuffled = papers[::-1]
    ranked = sorted(shuffled, key=lambda p: feeds.feed_rank_key(p.upvotes, p.hf_upvotes, p.announced, p.arxiv_id))
    assert [p.arxiv_id for p in ranked] == EXPECTED


def test_a_day_with_no_votes_and_no_hf_is_newest_id_first(engine):
    with engine.begin() as conn:
        _papers(conn, [(f"2607.{n:05d}", D2, 0, None) for n in (5, 1, 9, 3)])
    with engine.connect() as conn:
        assert [p.arxiv_id for p in feeds.feed_page(conn, D2, D2).papers] == ["2607.00009", "2607.00005", "2607.00003", "2607.00001"]
