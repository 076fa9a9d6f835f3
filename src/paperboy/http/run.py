"""Domain code run off the event loop, for routes of either door.

Routes parse input, call one domain function through :func:`read` or :func:`write`, and render.
Both run in the thread pool: SQL and argon2 must never block the event loop that serves cached
pages and answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from paperboy.errors import DomainError
from paperboy.http.site import site_of
from paperboy.store.db import write_transaction

__all__ = ["read", "write", "deliver_soon"]

T = TypeVar("T")


async def read(request: Request, fn: Callable[[Connection], T]) -> T:
    """``fn(conn)`` on a read connection, in the thread pool."""
    engine = site_of(request).engine

    def work():
        with engine.connect() as conn:
            return fn(conn)

    return await run_in_threadpool(work)


async def write(request: Request, fn: Callable[[Connection], T]) -> T:
    """``fn(conn)`` in a write transaction, in the thread pool. A refusal (DomainError) still
    commits what the domain function recorded on the way: failed log-ins, rate-limit hits."""
    engine = site_of(request).engine

    def work():
        with write_transaction(engine, keep_on=(DomainError,)) as conn:
            return fn(conn)

    return await run_in_threadpool(work)


def deliver_soon(request: Request, response: Response, key: str | None) -> Response:
    """Send the one mail a request queued (outbox key ``key``) right after the response, never while
    the visitor waits; the worker sends it anyway should this process stop first."""
    if key:
        from paperboy.digest.delivery import deliver

        site = site_of(request)
        response.background = BackgroundTask(deliver, site.engine, site.settings, key_prefix=key)
    return response
