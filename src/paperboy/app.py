"""The application: both doors — the pages (``web/``) and the API (``api/``) — wired into one FastAPI
app over one :class:`~paperboy.http.site.Site`, with static files, security headers, /healthz,
/readyz and /metrics.

This module sits above both doors, which never import each other: what both need lives below
them, in ``http/``. Routes only parse input, call a domain function and render; see ``web/pages.py``.
"""

from __future__ import annotations

import gc
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from paperboy import __version__, metrics, scrape
from paperboy.config import Settings, get_settings
from paperboy.http.cache import PageCache
from paperboy.http.site import Site, WithSite, site_of
from paperboy.memory import limit_malloc_arenas, release_free_memory
from paperboy.store.db import make_engine
from paperboy.web.context import SessionCache
from paperboy.web.templating import STATIC, make_environment
from paperboy.web.votesets import VoteSets

__all__ = ["create_app", "app_factory"]


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    limit_malloc_arenas()  # before the thread pool exists: its threads share two arenas
    app = FastAPI(title="Paperboy", version=__version__, docs_url=None, redoc_url=None, openapi_url="/openapi.json", lifespan=_lifespan)

    from paperboy import api
    from paperboy.api import citations, feeds
    from paperboy.api.cors import PublicCORS
    from paperboy.search.embed import embedder_loader
    from paperboy.search.factory import site_search
    from paperboy.web import account_pages, community_pages, digest_pages, errors, pages, search_pages, token_pages, unmatched
    from paperboy.web.limits import BodyLimit

    owns_engine = engine is None  # closed at shutdown (a server's connections are not left to the OS)
    engine = engine or make_engine(settings.database_url)
    search = site_search(engine, settings, embedder_loader(settings))
    search.observer = metrics.observe_search
    templates = make_environment()
    # Absolute links (citation and Open Graph meta), and what the pages need to link their feeds and
    # citations (feed.html, search.html, paper.html): the one place the pages meet the API.
    templates.globals.update(base_url=settings.base_url, feed_url=feeds.feed_url, coins=citations.coins)
    site = Site(settings=settings, engine=engine, search=search, templates=templates,
                page_cache=PageCache(max_bytes=settings.page_cache_mb * 1024 * 1024),
                sessions=SessionCache(), vote_sets=VoteSets(), owns_engine=owns_engine)  # fmt: skip
    app.state.site = site  # the one write: everything else reads it through site_of

    app.mount("/static", CachedStaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Liveness: the process answers (no database query: a database outage is /readyz's to report)."""
        return JSONResponse({"status": "ok", "version": __version__}, headers=_NO_STORE)

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Readiness: the database answers, its schema is at head, search has loaded; 503 naming what is not."""
        checks = readiness(site.engine, site.search)
        ok = all(c["ok"] for c in checks.values())
        body = {"status": "ready" if ok else "unready", "checks": checks}
        if not ok:
            body["failed"] = [name for name, c in checks.items() if not c["ok"]]
        return JSONResponse(body, status_code=200 if ok else 503, headers=_NO_STORE)

    @app.get("/metrics", include_in_schema=False)
    def metrics_page() -> Response:
        return Response(scrape.render(site.engine), media_type=metrics.CONTENT_TYPE_LATEST, headers=_NO_STORE)

    app.include_router(pages.hot)  # the feeds and new-style paper ids: most requests, matched first
    api.install(app)  # then: its /papers/{id}.md, .bib, /feed.atom come before the pages' catch-all
    app.include_router(account_pages.router)
    app.include_router(token_pages.router)
    app.include_router(community_pages.router)
    app.include_router(search_pages.router)
    app.include_router(digest_pages.router)
    app.include_router(pages.router)  # last: the catch-all /papers/{arxiv_id:path}
    errors.install(app)
    unmatched.install(app)

    return SecurityHeaders(WithSite(HeadAsGet(PublicCORS(metrics.MetricsMiddleware(BodyLimit(app, settings.max_body_bytes)))), site),
                           hsts=settings.https)  # fmt: skip


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Load the search indexes and the model in the background, so the first search is fast."""

    site = site_of(app)

    def warm():
        try:
            site.search.refresh()
        except Exception:  # an unmigrated or empty database: the first search will say so
            pass
        _freeze_heap()
        release_free_memory()  # the loading's temporaries

    _freeze_heap()
    warm_up = threading.Thread(target=warm, name="search-warm-up", daemon=True)
    warm_up.start()
    stop = threading.Event()
    threading.Thread(target=_trim_now_and_then, args=(stop,), name="memory-trim", daemon=True).start()
    yield
    stop.set()
    # Let it finish before the process goes on to exit: native threads (onnxruntime's) torn down
    # mid-load abort the interpreter ("terminate called without an active exception").
    warm_up.join(timeout=60)
    close_search = getattr(site.search, "close", None)  # the PostgreSQL backend's second pool
    if close_search is not None:
        close_search()
    if site.owns_engine:
        site.engine.dispose()


_NO_STORE = {"Cache-Control": "no-store"}

#: Seconds between two returns of freed memory to the system (see :func:`_trim_now_and_then`).
TRIM_EVERY = 30.0


def _trim_now_and_then(stop: threading.Event) -> None:
    """Give freed memory back to the system every :data:`TRIM_EVERY` seconds. Rendering and search
    free most of what they allocate, but glibc keeps freed pages inside its heaps for reuse;
    ``malloc_trim`` returns the whole free pages (measured with the page cache off: 418 instead of
    439 MB after a minute of load; docs/benchmarks.md)."""
    while not stop.wait(TRIM_EVERY):
        release_free_memory()


def readiness(engine: Engine, search) -> dict[str, dict]:
    """The checks behind ``/readyz``: each ``{"ok": bool, …detail}``. One connection, one query
    (the schema's revision); the migrations' head is read from the scripts once per process."""
    from paperboy.store.db import current_revision, head_revision

    checks: dict[str, dict] = {}
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
        checks["database"] = {"ok": True}
    except Exception as e:
        checks["database"] = {"ok": False, "error": type(e).__name__}
        current = None
    if checks["database"]["ok"]:
        head = head_revision()
        checks["migrations"] = {"ok": current == head, "current": current, "head": head}
    else:
        checks["migrations"] = {"ok": False, "error": "database unreachable"}
    try:
        status = search.status()
        checks["search"] = {"ok": bool(search.ready()), "backend": status.get("backend")}
    except Exception as e:
        checks["search"] = {"ok": False, "error": type(e).__name__}
    return checks


def _freeze_heap() -> None:
    """Move everything allocated so far (modules, templates, indexes) out of the garbage collector's sight.

    With numpy, onnxruntime and the search indexes loaded, a full collection walks hundreds of
    thousands of long-lived objects and pauses every request for ~100 ms (measured: p99 150 ms on a
    cached page); frozen objects are never walked, so collections stay short.
    """
    gc.collect()
    gc.freeze()


class CachedStaticFiles(StaticFiles):
    """Static files; URLs carrying a content hash (``?v=``) are cacheable for a year."""

    async def get_response(self, path: str, scope: Scope):
        response = await super().get_response(path, scope)
        if b"v=" in scope.get("query_string", b"") and response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Adds security headers to every response (a plain ASGI wrapper: no per-request task overhead).

    The CSP allows no inline script or style at all, so an injected ``<script>`` or ``style=`` does
    nothing even if escaping ever failed.
    """

    def __init__(self, app: ASGIApp, hsts: bool = False):
        self.app = app
        self.state = app.state  # tests and the CLI reach the site (site_of) through the wrapper
        headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ]
        if hsts:
            headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                own = list(message.get("headers", []))
                # A response with a policy of its own (the digest preview: a mail's inline styles,
                # no scripts at all) keeps it; a second CSP header would only narrow the first.
                extra = [h for h in self.headers if h[0] != b"content-security-policy"] if any(
                    k.lower() == b"content-security-policy" for k, _ in own) else self.headers  # fmt: skip
                message["headers"] = own + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """Answer HEAD like GET without the body (HTTP requires it; FastAPI's GET routes answer HEAD with 405).

    The GET is run as it would be — same status, same headers, Content-Length included — and only
    the body is dropped, so a crawler's or monitor's HEAD sees exactly what a GET would get.
    """

    def __init__(self, app: ASGIApp):
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def app_factory():
    """Entry point for ``uvicorn --factory`` (used by ``paperboy serve``): settings from the environment."""
    return create_app()
