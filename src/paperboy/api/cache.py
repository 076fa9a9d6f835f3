"""Machine-readable answers (JSON, Atom, BibTeX, RIS, Markdown) served from the page cache.

The same :class:`~paperboy.web.cache.PageCache` as the pages (``app.state.page_cache``), keyed by
path and the parameters the answer reads (unknown ones are ignored) and valid for the versions it was built at (vote and comment counts may lag up to
:data:`~paperboy.web.cache.COUNT_LAG` seconds, as on the pages' logged-out copies). These answers never depend on who
asks — the API reads no cookies — so every visitor shares one copy. A hit costs one primary-key
read and is answered on the event loop; a miss builds in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from paperboy.store import repo
from paperboy.web.cache import canonical_query, etag_of
from paperboy.web.context import versions

__all__ = ["cached_body", "cached_json", "JSON"]

JSON = "application/json; charset=utf-8"


async def cached_body(request: Request, build: Callable[[Connection], bytes | tuple[bytes, object]], media_type: str, *,
                      params: Iterable[str] = (), headers: dict | None = None) -> Response:  # fmt: skip
    """``build(conn)``'s bytes for this URL, from the cache when they are current.

    ``params``: the query parameters ``build`` reads that the route does not declare to FastAPI; the
    cache key is the path and those parameters only (:func:`~paperboy.web.cache.canonical_query`).

    ``build`` may return ``(body, paper)``: the answer is about one paper (its comments, its counts)
    and is then also redone when that paper's ``activity`` moves — a comment shows at once, as on
    the paper's page. ``build`` raises :class:`~paperboy.errors.DomainError` to refuse (not found,
    bad input): refusals are answered by the error handlers and never cached.
    """
    engine = request.app.state.engine
    cache = request.app.state.page_cache
    key = request.url.path + "?" + canonical_query(request, params)
    now = versions(request)
    entry = cache.get(key, now.content, now.votes, now.comments)
    if entry is not None and entry.paper_id is not None and entry.activity_version != now.activity:
        if repo.paper_activity(engine, entry.paper_id) != entry.activity:
            cache.invalidate(key)
            entry = None
    wants_gzip = "gzip" in request.headers.get("accept-encoding", "")
    common = {"Cache-Control": "public, no-cache", "Vary": "Accept-Encoding", **(headers or {})}
    if entry is None:

        def build_now():
            with engine.connect() as conn:
                # The versions are read again inside the building connection: a write landing in
                # between leaves the entry under the versions it was built from.
                current = repo.state_versions(conn)
                built = build(conn)
            body, paper = built if isinstance(built, tuple) else (built, None)
            return current, body, paper

        current, body, paper = await run_in_threadpool(build_now)

        def store():
            return cache.put(key, current.content, 200, body, media_type, current.votes, current.comments,
                             activity_version=current.activity, paper_id=paper.id if paper else None,
                             activity=paper.activity if paper else None)  # fmt: skip

        if not wants_gzip:
            # A client that takes the bytes as they are does not wait for them to be compressed for
            # the cache (a month's RIS file: ~35 ms of its cold answer): they are stored once sent.
            etag = etag_of(current.content, current.votes, current.comments, body)
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"ETag": etag, **common}, background=BackgroundTask(store))
            return Response(body, media_type=media_type, headers={"ETag": etag, **common}, background=BackgroundTask(store))
        entry = await run_in_threadpool(store)
    out = {"ETag": entry.etag, **common}
    if request.headers.get("if-none-match") == entry.etag:
        return Response(status_code=304, headers=out)
    if wants_gzip:
        out["Content-Encoding"] = "gzip"
        body = cache.gzipped(entry)
    else:
        body = cache.body(entry)
    return Response(body, status_code=entry.status, media_type=entry.media_type, headers=out)


async def cached_json(request: Request, build: Callable[[Connection], object]) -> Response:
    """:func:`cached_body` for JSON: ``build(conn)`` returns the value (or ``(value, paper)``), encoded once when cached."""

    def encoded(conn: Connection):
        built = build(conn)
        return (orjson.dumps(built[0]), built[1]) if isinstance(built, tuple) else orjson.dumps(built)

    return await cached_body(request, encoded, JSON)
