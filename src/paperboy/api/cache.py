"""Machine-readable answers (JSON, Atom, BibTeX, RIS, Markdown) served from the page cache.

The same cache and the same road as the pages (``http.respond.cached_response``), keyed by path
and the parameters the answer reads (unknown ones are ignored) and valid for the versions it was
built at (vote and comment counts may lag up to :data:`~paperboy.http.cache.COUNT_LAG` seconds, as
on the pages' logged-out copies). These answers never depend on who asks — the API reads no
cookies — so every visitor shares one copy, marked ``public``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection

from paperboy.http.cache import canonical_query
from paperboy.http.respond import Answer, cached_response

__all__ = ["cached_body", "cached_json", "JSON"]

JSON = "application/json; charset=utf-8"


async def cached_body(request: Request, build: Callable[[Connection], bytes | tuple[bytes, object]], media_type: str, *,
                      params: Iterable[str] = (), headers: dict | None = None) -> Response:  # fmt: skip
    """``build(conn)``'s bytes for this URL, from the cache when they are current.

    ``params``: the query parameters ``build`` reads that the route does not declare to FastAPI; the
    cache key is the path and those parameters only (:func:`~paperboy.http.cache.canonical_query`).

    ``build`` may return ``(body, paper)``: the answer is about one paper (its comments, its counts)
    and is then also redone when that paper's ``activity`` moves — a comment shows at once, as on
    the paper's page. ``build`` raises :class:`~paperboy.errors.DomainError` to refuse (not found,
    bad input): refusals are answered by the error handlers and never cached.
    """

    def answer(built) -> Answer:
        body, paper = built if isinstance(built, tuple) else (built, None)
        return Answer(body, media_type, paper=paper)

    key = request.url.path + "?" + canonical_query(request, params)
    common = {"Cache-Control": "public, no-cache", "Vary": "Accept-Encoding", **(headers or {})}
    return await cached_response(request, key, build, answer, headers=common)


async def cached_json(request: Request, build: Callable[[Connection], object]) -> Response:
    """:func:`cached_body` for JSON: ``build(conn)`` returns the value (or ``(value, paper)``), encoded once when cached."""

    def encoded(conn: Connection):
        built = build(conn)
        return (orjson.dumps(built[0]), built[1]) if isinstance(built, tuple) else orjson.dumps(built)

    return await cached_body(request, encoded, JSON)
