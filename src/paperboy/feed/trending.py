"""Trending: what the community is upvoting *now*.

The whole ranking rule is :func:`trending_score`; :func:`trending` only gathers votes and sorts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import Connection, select

from paperboy import clock
from paperboy.store.schema import papers, votes

__all__ = ["GRAVITY", "WINDOW_DAYS", "trending_score", "trending"]

GRAVITY = 1.8
WINDOW_DAYS = 14


def trending_score(vote_ages_hours: list[float]) -> float:
    """Score = Σ over the paper's votes of 1 / (hours since that vote + 2) ** GRAVITY.

    Hacker News ranks by ``points / (item age + 2) ** 1.8``: attention fades with time. Here each
    *vote* fades from the moment it was cast, instead of the paper fading from its publication, so:

    * a burst of recent votes beats an old total — ten votes this hour (≈ 10 × 0.14) outweigh fifty
      from a week ago (≈ 50 × 0.0001);
    * with equal votes cast at equal times, the tie goes to the newer paper (see :func:`trending`);
      and a newer paper's votes are, naturally, younger;
    * an old paper that people rediscover can trend again, which a feed of *what people value
      now* should allow.

    The +2 hours keeps a vote cast this second from weighing infinitely more than one an hour old.
    Votes older than ``WINDOW_DAYS`` weigh < 0.0001 each and are not even read.
    """
    return sum(1.0 / (max(age, 0.0) + 2.0) ** GRAVITY for age in vote_ages_hours)


def trending(conn: Connection, *, now: dt.datetime | None = None, limit: int = 50, offset: int = 0) -> list[tuple[int, float]]:
    """(paper id, score) of the trending papers, best first; hidden papers never appear."""
    now = now or clock.now()
    since = now - dt.timedelta(days=WINDOW_DAYS)
    ages: dict[int, list[float]] = defaultdict(list)
    freshness: dict[int, tuple] = {}
    rows = conn.execute(
        select(votes.c.paper_id, votes.c.created_at, papers.c.announced, papers.c.arxiv_id)
        .join(papers, papers.c.id == votes.c.paper_id)
        .where(votes.c.created_at >= since, papers.c.hidden_at.is_(None))
    )
    for paper_id, cast_at, announced, arxiv_id in rows:
        ages[paper_id].append((now - cast_at).total_seconds() / 3600)
        freshness[paper_id] = (announced or dt.date.min, arxiv_id)
    scored = [(pid, trending_score(a)) for pid, a in ages.items()]
    # Best score first; ties: the newer paper (later feed day, then later id) first.
    scored.sort(key=lambda item: (item[1], freshness[item[0]]), reverse=True)
    return scored[offset : offset + limit]
