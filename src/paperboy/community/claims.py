"""Claimed authorship: a user says "author #n of this paper is me"; an admin approves or rejects.

Approved claims link the author's name on the paper page to the user's profile, marked verified.
One approved claim per author position: approving another for the same position is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, and_, insert, select, update

from paperboy import clock
from paperboy.accounts import ratelimit
from paperboy.community.audit import moderator_limit, record
from paperboy.errors import Invalid
from paperboy.store.repo import find_paper
from paperboy.store.schema import authorship_claims, paper_authors, papers, users
from paperboy.store.versions import touch_paper

__all__ = ["ClaimError", "Claim", "claim", "claim_authorship", "decide_claim", "pending_claims", "claimed_papers",
           "VerifiedAuthor", "verified_authors_of"]  # fmt: skip


class ClaimError(Invalid):
    """A claim or decision that can't be made; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    paper_id: int
    arxiv_id: str
    title: str
    username: str
    author_position: int
    author_name: str
    status: str
    created_at: dt.datetime


def claim(conn: Connection, user_id: int, arxiv_id: str, position: int) -> str:
    """The "this author is me" action: limited per user; returns the paper's arXiv id."""
    paper = find_paper(conn, arxiv_id)
    ratelimit.enforce(conn, "claim-user", str(user_id), "Too many claims. Try again later.")
    claim_authorship(conn, user_id, paper.id, position)
    return paper.arxiv_id


def claim_authorship(conn: Connection, user_id: int, paper_id: int, position: int) -> int:
    name = conn.execute(
        select(paper_authors.c.name).where(paper_authors.c.paper_id == paper_id, paper_authors.c.position == position)
    ).scalar()
    if name is None:
        raise ClaimError("That author is not on this paper.")
    existing = conn.execute(
        select(authorship_claims.c.status, authorship_claims.c.user_id).where(
            authorship_claims.c.paper_id == paper_id,
            authorship_claims.c.author_position == position,
            authorship_claims.c.status.in_(("pending", "approved")),
        )
    ).all()
    if any(status == "approved" for status, _ in existing):
        raise ClaimError(f"{name} is already a verified author.")
    if any(uid == user_id for _, uid in existing):
        raise ClaimError("You have already claimed this author; an admin will review it.")
    return conn.execute(
        insert(authorship_claims).returning(authorship_claims.c.id),
        {"paper_id": paper_id, "user_id": user_id, "author_position": position, "status": "pending", "created_at": clock.now()},
    ).scalar_one()


def decide_claim(conn: Connection, admin_id: int, claim_id: int, approve: bool) -> None:
    claim = conn.execute(select(authorship_claims).where(authorship_claims.c.id == claim_id)).first()
    if claim is None or claim.status != "pending":
        raise ClaimError("That claim is not waiting for a decision.")
    if approve:
        taken = conn.execute(
            select(authorship_claims.c.id).where(
                authorship_claims.c.paper_id == claim.paper_id,
                authorship_claims.c.author_position == claim.author_position,
                authorship_claims.c.status == "approved",
            )
        ).first()
        if taken:
            raise ClaimError("Another user is already the verified author at that position.")
    moderator_limit(conn, admin_id)
    status = "approved" if approve else "rejected"
    conn.execute(
        update(authorship_claims)
        .where(authorship_claims.c.id == claim_id)
        .values(status=status, decided_at=clock.now(), decided_by=admin_id)
    )
    arxiv_id = conn.execute(select(papers.c.arxiv_id).where(papers.c.id == claim.paper_id)).scalar()
    record(conn, admin_id, f"{'approve' if approve else 'reject'}-claim", f"paper:{arxiv_id}", f"claim {claim_id}, author #{claim.author_position + 1}")
    touch_paper(conn, claim.paper_id, counts_changed=False)  # a verified author shows on that paper's page only


_CLAIM_SELECT = [authorship_claims.c.id, authorship_claims.c.paper_id, papers.c.arxiv_id, papers.c.title, users.c.username,
                 authorship_claims.c.author_position, paper_authors.c.name, authorship_claims.c.status,
                 authorship_claims.c.created_at]  # fmt: skip


def _claims_query():
    return (
        select(*_CLAIM_SELECT)
        .join(papers, papers.c.id == authorship_claims.c.paper_id)
        .join(users, users.c.id == authorship_claims.c.user_id)
        .join(
            paper_authors,
            and_(paper_authors.c.paper_id == authorship_claims.c.paper_id, paper_authors.c.position == authorship_claims.c.author_position),
        )
    )


def pending_claims(conn: Connection, limit: int = 100) -> list[Claim]:
    rows = conn.execute(_claims_query().where(authorship_claims.c.status == "pending").order_by(authorship_claims.c.created_at).limit(limit))
    return [Claim(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class VerifiedAuthor:
    user_id: int
    username: str
    since: dt.datetime | None  # when the claim was approved


def verified_authors_of(conn: Connection, paper_ids: list[int]) -> dict[int, dict[int, VerifiedAuthor]]:
    """Paper id → author position → the verified author, for many papers in one query."""
    out: dict[int, dict[int, VerifiedAuthor]] = {}
    if not paper_ids:
        return out
    rows = conn.execute(
        select(authorship_claims.c.paper_id, authorship_claims.c.author_position, users.c.id, users.c.username,
               authorship_claims.c.decided_at)
        .join(users, users.c.id == authorship_claims.c.user_id)
        .where(authorship_claims.c.paper_id.in_(paper_ids), authorship_claims.c.status == "approved")
    )
    for paper_id, position, user_id, username, since in rows:
        out.setdefault(paper_id, {})[position] = VerifiedAuthor(user_id, username, since)
    return out


def claimed_papers(conn: Connection, user_id: int) -> list[Claim]:
    """A user's approved claims (their verified papers), newest first."""
    rows = conn.execute(
        _claims_query()
        .where(authorship_claims.c.user_id == user_id, authorship_claims.c.status == "approved")
        .order_by(authorship_claims.c.created_at.desc())
    )
    return [Claim(*row) for row in rows]
