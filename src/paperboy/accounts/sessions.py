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
from paperboy.accounts.users import USER_COLUMNS, User
from paperboy.store.schema import sessions, users
from paperboy.store.versions import bump_sessions_version

__all__ = ["SESSION_DAYS", "create_session", "lookup_session", "end_session", "end_all_sessions", "token_hash"]

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


def lookup_session(conn: Connection, token: str | None) -> tuple[User | None, dt.datetime]:
    """(the user a session cookie belongs to — ``None`` if unknown or suspended —, when it expires)."""
    never = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    if not token or len(token) > 100:
        return None, never
    row = conn.execute(
        select(*USER_COLUMNS, sessions.c.expires_at)
        .join(sessions, sessions.c.user_id == users.c.id)
        .where(sessions.c.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None, never
    user = User(*row[:-1])
    return (None if user.suspended else user), row[-1]


def end_session(conn: Connection, token: str) -> None:
    if conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token))).rowcount:
        bump_sessions_version(conn)


def end_all_sessions(conn: Connection, user_id: int) -> None:
    conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
    bump_sessions_version(conn)  # also when there were none: the account itself changed (suspended, new password)
