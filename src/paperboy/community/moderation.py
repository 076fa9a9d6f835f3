"""Moderation: admins hide papers and comments and suspend users; every action is audited.

Each function writes its change and its audit-log entry (``audit.py``) in the caller's
transaction, so there is never an action without a record (or a record without the action).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from paperboy import clock
from paperboy.accounts.sessions import end_all_sessions
from paperboy.accounts.users import set_suspended
from paperboy.community.audit import AuditEntry, audit_entries, moderator_limit, record
from paperboy.community.claims import pending_claims
from paperboy.community.comments import recount_comments
from paperboy.errors import Forbidden, Invalid, NotFound
from paperboy.store.repo import find_paper, set_hidden
from paperboy.store.schema import comments, papers, users
from paperboy.store.versions import bump_content_version

__all__ = ["ModerationError", "hide_paper", "hide_comment", "suspend_user", "admin_overview", "AdminOverview"]


class ModerationError(Invalid):
    """A moderation action that can't be done; the message is safe to show."""


def hide_paper(conn: Connection, admin_id: int, arxiv_id: str, hidden: bool, reason: str = "") -> str:
    """Hide a paper from every feed, search and page but the admins' (or show it again); returns its id."""
    paper = find_paper(conn, arxiv_id, include_hidden=True)
    moderator_limit(conn, admin_id)
    set_hidden(conn, paper.id, hidden)
    bump_content_version(conn)
    record(conn, admin_id, "hide-paper" if hidden else "unhide-paper", f"paper:{paper.arxiv_id}", reason or None)
    return paper.arxiv_id


def hide_comment(conn: Connection, admin_id: int, comment_id: int, hidden: bool, reason: str = "") -> str:
    """Hide a comment from everyone but the admins (or show it again); returns its paper's arXiv id."""
    row = conn.execute(
        select(comments.c.paper_id, papers.c.arxiv_id).join(papers, papers.c.id == comments.c.paper_id).where(comments.c.id == comment_id)
    ).first()
    if row is None:
        raise NotFound("No such comment.")
    moderator_limit(conn, admin_id)
    conn.execute(update(comments).where(comments.c.id == comment_id).values(hidden_at=clock.now() if hidden else None))
    recount_comments(conn, row.paper_id)
    record(conn, admin_id, "hide-comment" if hidden else "unhide-comment", f"comment:{comment_id}", reason or None)
    return row.arxiv_id


def suspend_user(conn: Connection, admin_id: int, username: str, suspended: bool, reason: str = "") -> str:
    """Suspend a user (every session ends at once) or lift it; returns their username."""
    target = conn.execute(
        select(users.c.id, users.c.username, users.c.is_admin, users.c.is_owner).where(users.c.username_key == (username or "").strip().lower())
    ).first()
    if target is None:
        raise NotFound("No such user.")
    user_id = target.id
    if suspended and user_id == admin_id:
        raise ModerationError("You can't suspend yourself.")
    if target.is_owner:
        raise Forbidden("The site's owner can't be suspended.")
    if target.is_admin and not conn.execute(select(users.c.is_owner).where(users.c.id == admin_id)).scalar():
        raise Forbidden("Only the site's owner can suspend or reinstate an admin.")
    moderator_limit(conn, admin_id)
    set_suspended(conn, user_id, suspended, reason)
    if suspended:
        end_all_sessions(conn, user_id)  # logged out everywhere, now
    record(conn, admin_id, "suspend-user" if suspended else "unsuspend-user", f"user:{target.username}", reason or None)
    return target.username


@dataclass(frozen=True, slots=True)
class AdminOverview:
    claims: list  # pending authorship claims, oldest first
    entries: list[AuditEntry]  # the audit log, newest first


def admin_overview(conn: Connection, *, entries: int = 200) -> AdminOverview:
    """What the admins' page shows: claims waiting for a decision and the latest audit entries."""
    return AdminOverview(pending_claims(conn), audit_entries(conn, limit=entries))
