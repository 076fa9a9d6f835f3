"""Errors a domain function raises when it refuses: one base class, one kind per meaning.

Domain code (accounts, community, feeds, digests) says *what* went wrong — not found, not allowed,
already there, bad input, too often, a service it needs is away — and never picks an HTTP status.
The HTTP layer maps the kind to a status once (``paperboy.http.errors``), for HTML pages and JSON
alike, and the CLI maps it to a message. Messages are safe to show to whoever asked.

A domain function makes every check before it changes anything: the web layer commits what a
refused call wrote (``write_transaction(keep_on=DomainError)``) so that the counts recorded on the
way to a refusal — a failed log-in, a rate-limit hit — survive it. Nothing else may be written
before a refusal.
"""

from __future__ import annotations

import enum

__all__ = ["Kind", "DomainError", "NotFound", "Forbidden", "Invalid", "RateLimited", "LoginRequired"]


class Kind(enum.Enum):
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"  # known who is asking; not theirs to do
    LOGIN_REQUIRED = "login_required"  # not known who is asking
    CONFLICT = "conflict"  # the thing is already there / in another state
    INVALID = "invalid"  # the input is wrong
    UNPROCESSABLE = "unprocessable"  # the input is well-formed, but a service we asked refused it
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"  # a service we depend on cannot be reached


class DomainError(Exception):
    """A refusal with a message a person can act on. ``kind`` defaults to the class's own.

    ``retry_after`` (seconds) comes with rate limits; ``context`` carries what a page may show
    beside the message (the paper that is already on the feed, say).
    """

    kind: Kind = Kind.INVALID

    def __init__(self, message: str, *, kind: Kind | None = None, retry_after: int | None = None, **context):
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.retry_after = retry_after
        self.context = context

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    kind = Kind.NOT_FOUND


class Forbidden(DomainError):
    kind = Kind.FORBIDDEN


class LoginRequired(DomainError):
    """Only for someone logged in; ``next_path`` is where to come back to after logging in."""

    kind = Kind.LOGIN_REQUIRED

    def __init__(self, next_path: str = "/", message: str = "Log in to do that."):
        super().__init__(message)
        self.next_path = next_path


class Invalid(DomainError):
    kind = Kind.INVALID


class RateLimited(DomainError):
    kind = Kind.RATE_LIMITED
