"""A member's public profile: what they submitted, upvoted, and the papers they are a verified author of."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from paperboy.accounts.users import User, get_user_by_name
from paperboy.community.claims import Claim, claimed_papers
from paperboy.errors import NotFound
from paperboy.store import repo
from paperboy.store.schema import papers, votes

__all__ = ["Profile", "profile", "PROFILE_PAPERS"]

PROFILE_PAPERS = 50  # newest first, per list


@dataclass(frozen=True, slots=True)
class Profile:
    person: User
    submitted: list[repo.Paper]
    upvoted: list[repo.Paper]
    verified: list[Claim]


def profile(conn: Connection, username: str, *, viewer_is_admin: bool = False) -> Profile:
    """The profile of ``username``; :class:`NotFound` for unknown users, and for suspended ones
    unless an admin asks. Hidden papers are left out of both lists."""
    person = get_user_by_name(conn, username)
    if person is None or (person.suspended and not viewer_is_admin):
        raise NotFound("No such user.")
    submitted_ids = conn.execute(
        select(papers.c.id).where(papers.c.submitted_by == person.id, papers.c.hidden_at.is_(None))
        .order_by(papers.c.submitted_at.desc()).limit(PROFILE_PAPERS)
    ).scalars().all()  # fmt: skip
    upvoted_ids = conn.execute(
        select(votes.c.paper_id).join(papers, papers.c.id == votes.c.paper_id)
        .where(votes.c.user_id == person.id, papers.c.hidden_at.is_(None))
        .order_by(votes.c.created_at.desc()).limit(PROFILE_PAPERS)
    ).scalars().all()  # fmt: skip
    return Profile(person, repo.get_papers(conn, list(submitted_ids)), repo.get_papers(conn, list(upvoted_ids)),
                   claimed_papers(conn, person.id))  # fmt: skip
