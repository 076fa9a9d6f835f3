"""Rate limits shared by every web process: fixed-window counters in the database.

One readable table of rules; :func:`hit` counts an event and says whether it is allowed. Counters
live in ``rate_limits`` and are updated with one atomic upsert, so concurrent requests in several
processes (or machines on PostgreSQL) can't slip past a limit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import Connection, case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from paperboy import clock
from paperboy.errors import RateLimited
from paperboy.store.schema import rate_limits

__all__ = ["Rule", "RULES", "Verdict", "hit", "peek", "clear", "enforce", "refuse_if_over", "too_many"]


@dataclass(frozen=True, slots=True)
class Rule:
    """``limit`` events per fixed ``window`` of seconds. Past the limit a blocking rule refuses until
    the window ends; a back-off rule (``backoff`` > 0) only makes each next attempt wait
    2 ** (events over the limit) seconds after the last one, at most ``backoff``."""

    limit: int
    window: int  # seconds
    backoff: int = 0


RULES: dict[str, Rule] = {
    # Failed log-ins (successes are not counted). Guessing is blocked per address and per (account,
    # address); across addresses an account only gets slower, never locked, and a browser that has
    # logged in to it before (accounts/devices.py) is judged on its own failures alone.
    "login-ip": Rule(30, 15 * 60),
    "login-account-ip": Rule(10, 15 * 60),
    "login-account": Rule(10, 15 * 60, backoff=60),
    "login-device": Rule(10, 15 * 60),
    "signup-ip": Rule(5, 60 * 60),
    "reset-ip": Rule(5, 60 * 60),
    "reset-account": Rule(3, 60 * 60),
    "submit-user": Rule(10, 60 * 60),
    "vote-user": Rule(120, 60),
    "comment-user": Rule(10, 60),
    "comment-edit-user": Rule(20, 10 * 60),  # edits and deletes of one's own comments
    "admin-user": Rule(300, 10 * 60),  # moderation: generous, but no unbounded loops either
    "reset-password-ip": Rule(10, 60 * 60),
    "claim-user": Rule(10, 60 * 60),
    # API: every request made with a token counts (reads too); the per-user rules above still apply
    # to what a token does, so a token cannot vote or comment faster than the forms.
    "api-token": Rule(600, 60),
    "token-user": Rule(30, 60 * 60),  # making and revoking tokens
    # Digest subscriptions: the form per client address; confirmation mails per mailbox (silent:
    # the form answers the same, so it can neither flood an inbox nor tell who subscribes).
    "digest-subscribe-ip": Rule(10, 60 * 60),
    "digest-subscribe-address": Rule(3, 24 * 60 * 60),
    "digest-preferences": Rule(30, 60 * 60),  # per subscription
    # Address confirmation mails (sign-up and "send it again"): per account, and per mailbox
    # whichever accounts name it, so sign-ups with somebody's address cannot flood their inbox.
    "verify-account": Rule(5, 24 * 60 * 60),
    "verify-address": Rule(3, 24 * 60 * 60),
    "verify-ip": Rule(20, 60 * 60),  # pressing "Confirm my address" (a signed link: no guessing, but a write)
}


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window resets


def hit(conn: Connection, rule_name: str, subject: str, *, now: dt.datetime | None = None) -> Verdict:
    """Count one event for ``subject`` (an IP, a user id…) under ``rule_name``; allowed while ≤ the limit."""
    rule = RULES[rule_name]
    now = now or clock.now()
    cutoff = now - dt.timedelta(seconds=rule.window)
    key = f"{rule_name}:{subject}"[:200]
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    expired = rate_limits.c.window_start <= cutoff
    stmt = insert(rate_limits).values(key=key, window_start=now, count=1, last_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[rate_limits.c.key],
        set_={
            "count": case((expired, 1), else_=rate_limits.c.count + 1),
            "window_start": case((expired, now), else_=rate_limits.c.window_start),
            "last_at": now,
        },
    ).returning(rate_limits.c.count, rate_limits.c.window_start)
    count, start = conn.execute(stmt).one()
    if rule.backoff:
        return Verdict(True, count, 0)  # a back-off rule refuses the *next* attempt (see peek), never this one
    retry = max(1, int((start + dt.timedelta(seconds=rule.window) - now).total_seconds()))
    return Verdict(count <= rule.limit, count, retry)


def peek(conn: Connection, rule_name: str, subject: str, *, now: dt.datetime | None = None) -> Verdict:
    """Whether ``subject`` is currently over the limit, without counting anything."""
    rule = RULES[rule_name]
    now = now or clock.now()
    row = conn.execute(
        select(rate_limits.c.count, rate_limits.c.window_start, rate_limits.c.last_at)
        .where(rate_limits.c.key == f"{rule_name}:{subject}"[:200])
    ).first()
    if row is None or row.window_start <= now - dt.timedelta(seconds=rule.window):
        return Verdict(True, 0, 0)
    if rule.backoff:
        if row.count < rule.limit or row.last_at is None:
            return Verdict(True, row.count, 0)
        delay = min(rule.backoff, 2 ** min(row.count - rule.limit, 16))
        wait = (row.last_at + dt.timedelta(seconds=delay) - now).total_seconds()
        return Verdict(wait <= 0, row.count, max(1, math.ceil(wait)) if wait > 0 else 0)
    retry = max(1, int((row.window_start + dt.timedelta(seconds=rule.window) - now).total_seconds()))
    return Verdict(row.count < rule.limit, row.count, retry)


def clear(conn: Connection, rule_name: str, subject: str) -> None:
    conn.execute(delete(rate_limits).where(rate_limits.c.key == f"{rule_name}:{subject}"[:200]))


def too_many(retry_after: int) -> str:
    """The message for a refused attempt: "Too many attempts. Try again in 3 minutes." (or seconds)."""
    if retry_after < 90:
        return f"Too many attempts. Try again in {retry_after} second{'s' if retry_after != 1 else ''}."
    minutes = round(retry_after / 60)
    return f"Too many attempts. Try again in {minutes} minutes."


def enforce(conn: Connection, rule_name: str, subject: str, message: str | None = None, *, now: dt.datetime | None = None) -> Verdict:
    """:func:`hit`, raising :class:`~paperboy.errors.RateLimited` (with ``retry_after``) when over the limit."""
    verdict = hit(conn, rule_name, subject, now=now)
    if not verdict.allowed:
        raise RateLimited(message or too_many(verdict.retry_after), retry_after=verdict.retry_after)
    return verdict


def refuse_if_over(conn: Connection, rule_name: str, subject: str, *, now: dt.datetime | None = None) -> None:
    """:func:`peek`, raising :class:`~paperboy.errors.RateLimited` when ``subject`` is already over the limit."""
    verdict = peek(conn, rule_name, subject, now=now)
    if not verdict.allowed:
        raise RateLimited(too_many(verdict.retry_after), retry_after=verdict.retry_after)
