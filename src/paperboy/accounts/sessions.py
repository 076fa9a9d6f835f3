"""Server-side sessions: the cookie carries a random token, the database keeps only its SHA-256.

A stolen database does not yield usable cookies; deleting rows logs people out everywhere at once
(log-out, password reset, suspension).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import Connection, delete, insert, select

from paperboy import clock
from paperboy.accounts.users import _COLUMNS, User
from paperboy.store.schema import sessions, users

__all__ = ["SESSION_DAYS", "create_session", "load_session", "end_session", "end_all_sessions", "token_hash"]

SESSION_DAYS = 30


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(conn: Connection, user_id: int, *, days: int = SESSION_DAYS) -> str:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    conn.execute(
        insert(sessions).values(
            token_hash=token_hash(token), user_id=user_id, created_at=now, expires_at=now + dt.timedelta(days=days)
        )
    )
    return token


def load_session(conn: Connection, token: str | None) -> User | None:
    """The user a session cookie belongs to; ``None`` if unknown, expired or the user is suspended."""
    if not token or len(token) > 100:
        return None
    row = conn.execute(
        select(*_COLUMNS, sessions.c.expires_at)
        .join(sessions, sessions.c.user_id == users.c.id)
        .where(sessions.c.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    user = User(*row[:-1])
    if row[-1] < clock.now() or user.suspended:
        return None
    return user


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token)))


def end_all_sessions(conn: Connection, user_id: int) -> None:
    conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
