"""The audit log: what each moderation and claim decision was, by whom, and the one per-admin limit.

Moderation and authorship claims both record here, and moderation's admin page also lists the
claims; keeping the log in its own module lets both import it without importing each other.
Each entry is written in the caller's transaction, so there is never an action without a record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from paperboy import clock
from paperboy.accounts import ratelimit
from paperboy.store.schema import audit_log, users

__all__ = ["AuditEntry", "record", "moderator_limit", "audit_entries"]


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


def moderator_limit(conn: Connection, admin_id: int) -> None:
    """Every moderation action counts against one generous per-admin limit (checked before it changes anything)."""
    ratelimit.enforce(conn, "admin-user", str(admin_id))


def audit_entries(conn: Connection, *, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
    rows = conn.execute(
        select(audit_log.c.id, users.c.username, audit_log.c.action, audit_log.c.target, audit_log.c.detail, audit_log.c.created_at)
        .outerjoin(users, users.c.id == audit_log.c.actor_id)
        .order_by(audit_log.c.created_at.desc(), audit_log.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [AuditEntry(*row) for row in rows]
