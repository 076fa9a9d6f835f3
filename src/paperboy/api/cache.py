"""Machine-readable answers (JSON, Atom, BibTeX, RIS, Markdown) served from the page cache.

The same :class:`~paperboy.web.cache.PageCache` as the pages (``app.state.page_cache``), keyed by
URL and valid for the content version it was built at (vote counts may lag up to
:data:`~paperboy.web.cache.VOTE_LAG` seconds, as on the pages). These answers never depend on who
asks — the API reads no cookies — so every visitor shares one copy. A hit costs one primary-key
read and is answered on the event loop; a miss builds in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from paperboy.store import repo

__all__ = ["cached_body", "cached_json", "JSON"]

JSON = "application/json; charset=utf-8"


async def cached_body(request: Request, build: Callable[[Connection], bytes], media_type: str, *, headers: dict | None = None) -> Response:
    """``build(conn)``'s bytes for this URL, from the cache when they are current.

    ``build`` raises :class:`~paperboy.errors.DomainError` to refuse (not found, bad input):
    refusals are answered by the error handlers and never cached.
    """
    engine = request.app.state.engine
    cache = request.app.state.page_cache
    key = request.url.path + "?" + request.url.query
    version, votes = repo.read_state_versions(engine)
    entry = cache.get(key, version, votes)
    if entry is None:

        def build_and_store():
            with engine.connect() as conn:
                # The versions are read again inside the building connection: a write landing in
                # between leaves the entry under the versions it was built from.
                current, current_votes = repo.state_versions(conn)
                body = build(conn)
            return cache.put(key, current, 200, body, media_type, votes=current_votes)

        entry = await run_in_threadpool(build_and_store)
    out = {"ETag": entry.etag, "Cache-Control": "public, no-cache", "Vary": "Accept-Encoding", **(headers or {})}
    if request.headers.get("if-none-match") == entry.etag:
        return Response(status_code=304, headers=out)
    body = entry.body
    if "gzip" in request.headers.get("accept-encoding", "") and len(body) > 1024:
        out["Content-Encoding"] = "gzip"
        body = cache.gzipped(entry)
    return Response(body, status_code=entry.status, media_type=entry.media_type, headers=out)


async def cached_json(request: Request, build: Callable[[Connection], object]) -> Response:
    """:func:`cached_body` for JSON: ``build(conn)`` returns the value, encoded once when cached."""
    return await cached_body(request, lambda conn: orjson.dumps(build(conn)), JSON)
