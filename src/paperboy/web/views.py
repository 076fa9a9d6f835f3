"""What every route uses to answer: render a template, run domain code off the event loop.

Routes parse input, call one domain function through :func:`read` or :func:`write`, and render
with :func:`render` / :func:`page`. Both helpers run in the thread pool: SQL and argon2 must never
block the event loop that serves cached pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from paperboy.errors import DomainError
from paperboy.store.db import write_transaction
from paperboy.web.context import Viewer, finish, get_viewer

__all__ = ["render", "page", "read", "write", "deliver_soon"]

T = TypeVar("T")


def render(request: Request, template: str, viewer: Viewer | None = None, **context) -> str:
    """Render a template with what every page needs (the viewer for the header, the path)."""
    viewer = viewer or getattr(request.state, "viewer", None)
    return request.app.state.templates.get_template(template).render(
        request_path=request.url.path, request_url=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        viewer=viewer, **context,
    )  # fmt: skip


async def page(request: Request, template: str, status: int = 200, *, cache_control: str = "no-store", **context) -> Response:
    """A page rendered for this visitor (never shared: it may carry their name, forms, flash)."""
    viewer = await get_viewer(request)
    html = render(request, template, viewer, **context)
    return finish(request, HTMLResponse(html, status_code=status, headers={"Cache-Control": cache_control}))


async def read(request: Request, fn: Callable[[Connection], T]) -> T:
    """``fn(conn)`` on a read connection, in the thread pool."""
    engine = request.app.state.engine

    def work():
        with engine.connect() as conn:
            return fn(conn)

    return await run_in_threadpool(work)


async def write(request: Request, fn: Callable[[Connection], T]) -> T:
    """``fn(conn)`` in a write transaction, in the thread pool. A refusal (DomainError) still
    commits what the domain function recorded on the way: failed log-ins, rate-limit hits."""
    engine = request.app.state.engine

    def work():
        with write_transaction(engine, keep_on=(DomainError,)) as conn:
            return fn(conn)

    return await run_in_threadpool(work)


def deliver_soon(request: Request, response: Response, key: str | None) -> Response:
    """Send the one mail a request queued (outbox key ``key``) right after the response, never while
    the visitor waits; the worker sends it anyway should this process stop first."""
    if key:
        from paperboy.digest.delivery import deliver

        response.background = BackgroundTask(deliver, request.app.state.engine, request.app.state.settings, key_prefix=key)
    return response
