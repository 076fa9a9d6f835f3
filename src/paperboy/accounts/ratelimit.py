"""Rate limits shared by every web process: fixed-window counters in the database.

One readable table of rules; :func:`hit` counts an event and says whether it is allowed. Counters
live in ``rate_limits`` and are updated with one atomic upsert, so concurrent requests in several
processes (or machines on PostgreSQL) can't slip past a limit.
"""

from __future__ import annotations

import datetime as dt
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
    limit: int
    window: int  # seconds


RULES: dict[str, Rule] = {
    # Failed log-ins, per client address and per account (counting failures only, so nobody can lock
    # an account by trying a few wrong passwords after its owner has logged in).
    "login-ip": Rule(20, 15 * 60),
    "login-account": Rule(8, 15 * 60),
    "signup-ip": Rule(5, 60 * 60),
    "reset-ip": Rule(5, 60 * 60),
    "reset-account": Rule(3, 60 * 60),
    "submit-user": Rule(10, 60 * 60),
    "vote-user": Rule(120, 60),
    "comment-user": Rule(10, 60),
    "claim-user": Rule(10, 60 * 60),
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
    stmt = insert(rate_limits).values(key=key, window_start=now, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[rate_limits.c.key],
        set_={
            "count": case((expired, 1), else_=rate_limits.c.count + 1),
            "window_start": case((expired, now), else_=rate_limits.c.window_start),
        },
    ).returning(rate_limits.c.count, rate_limits.c.window_start)
    count, start = conn.execute(stmt).one()
    retry = max(1, int((start + dt.timedelta(seconds=rule.window) - now).total_seconds()))
    return Verdict(count <= rule.limit, count, retry)


def peek(conn: Connection, rule_name: str, subject: str, *, now: dt.datetime | None = None) -> Verdict:
    """Whether ``subject`` is currently over the limit, without counting anything."""
    rule = RULES[rule_name]
    now = now or clock.now()
    row = conn.execute(
        select(rate_limits.c.count, rate_limits.c.window_start).where(rate_limits.c.key == f"{rule_name}:{subject}"[:200])
    ).first()
    if row is None:
        return Verdict(True, 0, 0)
    start = row[1]
    if start <= now - dt.timedelta(seconds=rule.window):
        return Verdict(True, 0, 0)
    retry = max(1, int((start + dt.timedelta(seconds=rule.window) - now).total_seconds()))
    return Verdict(row[0] < rule.limit, row[0], retry)


def clear(conn: Connection, rule_name: str, subject: str) -> None:
    conn.execute(delete(rate_limits).where(rate_limits.c.key == f"{rule_name}:{subject}"[:200]))


def too_many(retry_after: int) -> str:
    """The message for a refused attempt: "Too many attempts. Try again in 3 minutes."."""
    minutes = max(1, round(retry_after / 60))
    return f"Too many attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


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
