"""Answers served from the page cache: the one road both doors take to a cached response.

A page and a machine-readable answer (JSON, Atom, BibTeX…) are cached the same way: keyed by URL,
valid for the database's versions (``store.versions.Versions``), redone when the one paper they are
about gets a comment, built in the thread pool so a slow build never stalls the hits behind it, and
sent as stored — gzip as it is for clients that take it, 304 when the client has it. Only what is
particular to a door stays with it: the pages' viewer and personal fragments (``web/pages.py``),
the API's JSON encoding (``api/cache.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from paperboy.http.cache import CachedPage, etag_of
from paperboy.http.site import site_of
from paperboy.store import repo
from paperboy.store.versions import Versions, paper_activity, read_state_versions, state_versions

__all__ = ["Answer", "versions", "cached_response", "build_and_store"]

T = TypeVar("T")


@dataclass(slots=True)
class Answer:
    """What a build made: the bytes everyone gets, and what the cache keeps beside them."""

    body: bytes
    media_type: str
    paper: repo.Paper | None = None  # the answer is about this paper: redone when its activity moves
    # A shared page only (web/personal.py): its marked rendering, marks and the papers it counts.
    marked: str | None = None
    specs: list | None = None
    paper_ids: tuple = ()
    by_votes: bool = False
    arxiv_ids: tuple = ()


def versions(request: Request) -> Versions:
    """The database's versions for this request, read once (one statement on a pooled connection)."""
    found = getattr(request.state, "versions", None)
    if found is None:
        found = request.state.versions = read_state_versions(site_of(request).engine)
    return found


def _lookup(request: Request, key: str) -> CachedPage | None:
    """The entry for ``key`` if it is current: rendered at these versions and, for one paper's
    answer, at that paper's activity (its comments show at once, not after :data:`COUNT_LAG`)."""
    site = site_of(request)
    now = versions(request)
    entry = site.page_cache.get(key, now.content, now.votes, now.comments)
    if entry is not None and entry.paper_id is not None and entry.activity_version != now.activity:
        if paper_activity(site.engine, entry.paper_id) != entry.activity:
            site.page_cache.invalidate(key)
            entry = None
    return entry


def _build(request: Request, load: Callable[[Connection], T], make: Callable[[T], Answer]) -> tuple[Versions, Answer]:
    with site_of(request).engine.connect() as conn:
        # The versions are read again inside the building connection: a write landing in between
        # leaves the entry under the versions it was built from.
        current = state_versions(conn)
        loaded = load(conn)
    return current, make(loaded)  # after the connection is back in the pool: rendering needs none


def _store(request: Request, key: str, current: Versions, answer: Answer) -> CachedPage:
    paper = answer.paper
    return site_of(request).page_cache.put(
        key, current.content, 200, answer.body, answer.media_type, current.votes, current.comments,
        activity_version=current.activity, marked=answer.marked, specs=answer.specs, paper_ids=answer.paper_ids,
        paper_id=paper.id if paper else None, activity=paper.activity if paper else None,
        by_votes=answer.by_votes, arxiv_ids=answer.arxiv_ids,
    )  # fmt: skip


async def build_and_store(request: Request, key: str, load: Callable[[Connection], T], make: Callable[[T], Answer]) -> CachedPage:
    """Build the answer in the thread pool and keep it under ``key`` (a page redone out of turn:
    a member's votes reordered it)."""

    def work():
        return _store(request, key, *_build(request, load, make))

    return await run_in_threadpool(work)


async def cached_response(request: Request, key: str, load: Callable[[Connection], T], make: Callable[[T], Answer], *,
                          headers: dict, personal: Callable[[CachedPage], Awaitable[Response | None]] | None = None) -> Response:  # fmt: skip
    """The answer stored under ``key``, or ``make(load(conn))`` built now and stored.

    ``load`` runs on a read connection, ``make`` after it is returned, both in the thread pool.
    ``headers`` go on the shared copy (its Cache-Control, its Vary). ``personal(entry)`` may answer
    for this visitor instead (a member's filled-in page); ``None`` means the shared copy will do.
    ``load`` raises :class:`~paperboy.errors.DomainError` to refuse: refusals are answered by the
    error handlers and never cached.
    """
    entry = _lookup(request, key)
    wants_gzip = "gzip" in request.headers.get("accept-encoding", "")
    if entry is None:
        current, answer = await run_in_threadpool(_build, request, load, make)
        if personal is None and not wants_gzip:
            # A client that takes the bytes as they are does not wait for them to be compressed for
            # the cache (a month's RIS file: ~35 ms of its cold answer): they are stored once sent.
            store = BackgroundTask(_store, request, key, current, answer)
            etag = etag_of(current.content, current.votes, current.comments, answer.body)
            out = {"ETag": etag, **headers}
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers=out, background=store)
            return Response(answer.body, media_type=answer.media_type, headers=out, background=store)
        entry = await run_in_threadpool(_store, request, key, current, answer)
    if personal is not None:
        mine = await personal(entry)
        if mine is not None:
            return mine
    out = {"ETag": entry.etag, **headers}
    if entry.status == 200 and request.headers.get("if-none-match") == entry.etag:
        return Response(status_code=304, headers=out)
    cache = site_of(request).page_cache
    if wants_gzip:
        out["Content-Encoding"] = "gzip"
        body = cache.gzipped(entry)
    else:
        body = cache.body(entry)
    return Response(body, status_code=entry.status, media_type=entry.media_type, headers=out)
