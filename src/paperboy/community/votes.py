"""Upvotes: one per user per paper, toggled.

The votes table's primary key (user, paper) is what guarantees "one vote": two concurrent requests
both try to insert, the database lets one through, the other sees the conflict and changes nothing.
The paper's ``upvotes`` counter moves in the same transaction as the vote row.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from paperboy import clock
from paperboy.accounts import ratelimit
from paperboy.store.repo import add_upvotes, find_paper
from paperboy.store.schema import papers, votes
from paperboy.store.versions import bump_vote_version

__all__ = ["vote", "set_vote", "has_voted", "voted_ids", "all_voted_ids"]


def vote(conn: Connection, user_id: int, arxiv_id: str, up: bool):
    """The upvote action: the paper must exist and be visible; limited per user. Returns
    (paper, voted now, the paper's vote count)."""
    paper = find_paper(conn, arxiv_id)
    ratelimit.enforce(conn, "vote-user", str(user_id), "You are voting too fast. Wait a minute.")
    voted, count = set_vote(conn, user_id, paper.id, up)
    return paper, voted, count


def set_vote(conn: Connection, user_id: int, paper_id: int, up: bool) -> tuple[bool, int]:
    """Make the user's vote on the paper ``up`` (or not); returns (voted now, paper's vote count)."""
    changed = False
    if up:
        try:
            with conn.begin_nested():
                conn.execute(insert(votes).values(user_id=user_id, paper_id=paper_id, created_at=clock.now()))
            changed = True
            delta = 1
        except IntegrityError:
            delta = 0  # already voted (perhaps by a concurrent request): count once
    else:
        changed = conn.execute(delete(votes).where(votes.c.user_id == user_id, votes.c.paper_id == paper_id)).rowcount > 0
        delta = -1 if changed else 0
    if delta:
        add_upvotes(conn, paper_id, delta)
        bump_vote_version(conn)
    count = conn.execute(select(papers.c.upvotes).where(papers.c.id == paper_id)).scalar_one()
    return has_voted(conn, user_id, paper_id), count


def has_voted(conn: Connection, user_id: int, paper_id: int) -> bool:
    return conn.execute(select(votes.c.paper_id).where(votes.c.user_id == user_id, votes.c.paper_id == paper_id)).first() is not None


def voted_ids(conn: Connection, user_id: int, paper_ids: list[int]) -> set[int]:
    """Which of ``paper_ids`` the user has upvoted (for marking buttons on a feed page)."""
    if not paper_ids:
        return set()
    return set(conn.execute(select(votes.c.paper_id).where(votes.c.user_id == user_id, votes.c.paper_id.in_(paper_ids))).scalars())


def all_voted_ids(conn: Connection, user_id: int) -> frozenset[int]:
    """Every paper the user has upvoted: the set a per-process memo keeps while votes stand still."""
    return frozenset(conn.execute(select(votes.c.paper_id).where(votes.c.user_id == user_id)).scalars())
