"""A member's public lists: the papers they submitted and upvoted (what their profile shows,
:func:`paperboy.feed.views.profile_view`)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from paperboy.store.schema import papers, votes

__all__ = ["submitted_ids", "upvoted_ids", "PROFILE_PAPERS"]

PROFILE_PAPERS = 50  # newest first, per list


def submitted_ids(conn: Connection, user_id: int, limit: int) -> list[int]:
    """The visible papers ``user_id`` put on the feed, latest first."""
    return list(conn.execute(
        select(papers.c.id).where(papers.c.submitted_by == user_id, papers.c.hidden_at.is_(None))
        .order_by(papers.c.submitted_at.desc()).limit(limit)
    ).scalars())  # fmt: skip


def upvoted_ids(conn: Connection, user_id: int, limit: int) -> list[int]:
    """The visible papers ``user_id`` upvoted, latest vote first."""
    return list(conn.execute(
        select(votes.c.paper_id).join(papers, papers.c.id == votes.c.paper_id)
        .where(votes.c.user_id == user_id, papers.c.hidden_at.is_(None))
        .order_by(votes.c.created_at.desc()).limit(limit)
    ).scalars())  # fmt: skip
