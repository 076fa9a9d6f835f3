"""Moderation: admins hide papers and comments and suspend users; every action is audited.

Each function writes its change and its audit-log entry in the caller's transaction, so there is
never an action without a record (or a record without the action).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from paperboy import clock
from paperboy.accounts.sessions import end_all_sessions
from paperboy.store.repo import bump_content_version
from paperboy.store.schema import audit_log, comments, papers, users

__all__ = ["ModerationError", "AuditEntry", "record", "hide_paper", "hide_comment", "suspend_user", "audit_entries"]


class ModerationError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    actor: str | None
    action: str
    target: str
    detail: str | None
    created_at: dt.datetime


def record(conn: Connection, actor_id: int | None, action: str, target: str, detail: str | None = None) -> None:
    conn.execute(insert(audit_log).values(actor_id=actor_id, action=action, target=target[:128], detail=detail, created_at=clock.now()))


def hide_paper(conn: Connection, admin_id: int, paper_id: int, arxiv_id: str, hidden: bool, reason: str = "") -> None:
    conn.execute(update(papers).where(papers.c.id == paper_id).values(hidden_at=clock.now() if hidden else None))
    bump_content_version(conn)
    record(conn, admin_id, "hide-paper" if hidden else "unhide-paper", f"paper:{arxiv_id}", reason or None)


def hide_comment(conn: Connection, admin_id: int, comment_id: int, hidden: bool, reason: str = "") -> None:
    row = conn.execute(select(comments.c.paper_id).where(comments.c.id == comment_id)).first()
    if row is None:
        raise ModerationError("No such comment.")
    conn.execute(update(comments).where(comments.c.id == comment_id).values(hidden_at=clock.now() if hidden else None))
    from paperboy.community.comments import _recount

    _recount(conn, row.paper_id)
    record(conn, admin_id, "hide-comment" if hidden else "unhide-comment", f"comment:{comment_id}", reason or None)


def suspend_user(conn: Connection, admin_id: int, user_id: int, suspended: bool, reason: str = "") -> None:
    target = conn.execute(select(users.c.username, users.c.is_admin).where(users.c.id == user_id)).first()
    if target is None:
        raise ModerationError("No such user.")
    if suspended and user_id == admin_id:
        raise ModerationError("You can't suspend yourself.")
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(suspended_at=clock.now() if suspended else None, suspended_reason=(reason or None) if suspended else None)
    )
    if suspended:
        end_all_sessions(conn, user_id)  # logged out everywhere, now
    record(conn, admin_id, "suspend-user" if suspended else "unsuspend-user", f"user:{target.username}", reason or None)


def audit_entries(conn: Connection, *, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
    rows = conn.execute(
        select(audit_log.c.id, users.c.username, audit_log.c.action, audit_log.c.target, audit_log.c.detail, audit_log.c.created_at)
        .outerjoin(users, users.c.id == audit_log.c.actor_id)
        .order_by(audit_log.c.created_at.desc(), audit_log.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [AuditEntry(*row) for row in rows]
