"""API tokens: how scripts, bots and other programs act for a user (``Authorization: Bearer pb_…``).

A token is a random secret shown once, when it is made; the database keeps only its SHA-256 (a
stolen database yields no usable token) and its first characters, to tell a user's tokens apart.
Each token has a scope: ``read`` tokens only identify their user, ``write`` tokens may also vote,
comment and submit — with exactly the checks and rate limits the site's forms apply, plus a
per-token request limit (``api-token`` in :mod:`~paperboy.accounts.ratelimit`). Revoking is
immediate; a suspended user's tokens stop working while the suspension lasts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from paperboy import clock
from paperboy.accounts import ratelimit
from paperboy.accounts.users import USER_COLUMNS, User
from paperboy.errors import DomainError, Forbidden, Invalid, Kind, NotFound
from paperboy.store.schema import api_tokens, users

__all__ = ["SCOPES", "PREFIX", "ApiToken", "NewToken", "TokenRefused", "create_token", "list_tokens", "revoke_token",
           "revoke_all_tokens", "authenticate_token", "MAX_TOKENS", "NOT_VALID"]  # fmt: skip

SCOPES = ("read", "write")
PREFIX = "pb_"  # every Paperboy token starts so (other services' tokens can be told apart, and ignored)
MAX_TOKENS = 20  # active tokens per user
SHOWN = 10  # characters of the secret kept for display: "pb_AbC1dE2" + "…"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # last_used_at moves at most this often (one write a minute)
#: The one answer for a token that is malformed, unknown or revoked: which of these it is would tell
#: whoever holds a leaked secret that it was once real (and the owner sees revocations in settings).
NOT_VALID = "That API token is not valid (unknown or revoked): make a new one in your account settings."


class TokenRefused(DomainError):
    """The request's token is unknown, revoked, or not allowed to do this (401/403)."""

    kind = Kind.LOGIN_REQUIRED


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    prefix: str
    scope: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str  # shown to the user once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_SELECT = [api_tokens.c.id, api_tokens.c.user_id, api_tokens.c.name, api_tokens.c.prefix, api_tokens.c.scope,
           api_tokens.c.created_at, api_tokens.c.last_used_at, api_tokens.c.revoked_at]  # fmt: skip


def create_token(conn: Connection, user_id: int, name: str, scope: str, *, now: dt.datetime | None = None) -> NewToken:
    """Make a token for ``user_id`` (limited per user, at most :data:`MAX_TOKENS` active)."""
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 100:
        raise Invalid("Give the token a name of 1 to 100 characters, so you can tell it apart later.")
    if scope not in SCOPES:
        raise Invalid("A token's scope is read or write.")
    active = conn.execute(
        select(func.count()).select_from(api_tokens).where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
    ).scalar_one()
    if active >= MAX_TOKENS:
        raise Invalid(f"You have {MAX_TOKENS} active tokens; revoke one you no longer use first.")
    ratelimit.enforce(conn, "token-user", str(user_id), "You are making tokens too fast. Try again later.", now=now)
    now = now or clock.now()
    secret = PREFIX + secrets.token_urlsafe(32)
    pk = conn.execute(
        insert(api_tokens).returning(api_tokens.c.id),
        {"user_id": user_id, "name": name, "prefix": secret[:SHOWN], "token_hash": _hash(secret), "scope": scope, "created_at": now},
    ).scalar_one()
    row = conn.execute(select(*_SELECT).where(api_tokens.c.id == pk)).one()
    return NewToken(ApiToken(*row), secret)


def list_tokens(conn: Connection, user_id: int) -> list[ApiToken]:
    """A user's tokens, active ones first, newest first."""
    rows = conn.execute(
        select(*_SELECT).where(api_tokens.c.user_id == user_id)
        .order_by(api_tokens.c.revoked_at.is_not(None), api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
    )  # fmt: skip
    return [ApiToken(*row) for row in rows]


def revoke_token(conn: Connection, user_id: int, token_id: int, *, now: dt.datetime | None = None) -> ApiToken:
    """Revoke one of the user's own tokens (limited per user); revoking a revoked token is a no-op."""
    row = conn.execute(select(*_SELECT).where(api_tokens.c.id == token_id)).first()
    if row is None or row.user_id != user_id:
        raise NotFound("You have no such token.")
    token = ApiToken(*row)
    if not token.active:
        return token
    ratelimit.enforce(conn, "token-user", str(user_id), "Too many token changes. Try again later.", now=now)
    now = now or clock.now()
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now))
    return ApiToken(*conn.execute(select(*_SELECT).where(api_tokens.c.id == token_id)).one())


def revoke_all_tokens(conn: Connection, user_id: int, *, now: dt.datetime | None = None) -> int:
    """Revoke every active token of the user (a password reset: whoever knew the old password may
    have made tokens with it, and a token is as good as the password). How many were revoked."""
    return conn.execute(update(api_tokens).where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
                        .values(revoked_at=now or clock.now())).rowcount  # fmt: skip


def authenticate_token(conn: Connection, secret: str, *, write: bool = False, now: dt.datetime | None = None) -> tuple[User, ApiToken]:
    """The user and token behind ``secret``; counts the request against the token's limit.

    :class:`TokenRefused` (401) for an unknown, revoked or suspended user's token; :class:`Forbidden`
    (403) for a read token asked to write; :class:`~paperboy.errors.RateLimited` past the limit.
    Runs in a write transaction (the request count and ``last_used_at`` are written).
    """
    if not secret or len(secret) > 200 or not secret.startswith(PREFIX):
        raise TokenRefused(NOT_VALID)
    row = conn.execute(
        select(*USER_COLUMNS, *_SELECT).join(api_tokens, api_tokens.c.user_id == users.c.id).where(api_tokens.c.token_hash == _hash(secret))
    ).first()
    if row is None:
        raise TokenRefused(NOT_VALID)
    user, token = User(*row[: len(USER_COLUMNS)]), ApiToken(*row[len(USER_COLUMNS) :])
    if not token.active:
        raise TokenRefused(NOT_VALID)
    if user.suspended:
        raise TokenRefused("This account is suspended.")
    ratelimit.enforce(conn, "api-token", str(token.id), "Too many requests with this token. Slow down.", now=now)
    if write and token.scope != "write":
        raise Forbidden("This token is read-only: make a token with the write scope to vote, comment or submit.")
    now = now or clock.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        conn.execute(update(api_tokens).where(api_tokens.c.id == token.id).values(last_used_at=now))
    return user, token
