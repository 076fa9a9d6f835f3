"""HTML pages: the daily/weekly/monthly feeds and the paper page.

URL shapes follow hf.co/papers. Every page here is the same for every visitor, so it is served
from the :class:`~paperboy.web.cache.PageCache`, keyed by URL and the database's content version.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from sqlalchemy import Connection

from paperboy.feed.periods import BadPeriod, Period, parse_period, period_of
from paperboy.papers.bibtex import bibtex_entry
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.papers.normalize import ARXIV_CATEGORY
from paperboy.store import repo

router = APIRouter()

MAX_PAGE = 10_000
CHIPS = 12  # category chips shown above a feed; the rest are in a "more" list


async def cached_page(request: Request, build: Callable[[Connection], tuple[int, str]]) -> Response:
    """Serve ``request`` from the page cache, or call ``build(conn)`` → (status, html) and cache it.

    A hit costs one primary-key read (the content version) and is answered on the event loop; a
    miss renders in the thread pool so a slow page never stalls the hits queued behind it.
    """
    cache = request.app.state.page_cache
    engine = request.app.state.engine
    key = request.url.path + "?" + request.url.query
    with engine.connect() as conn:
        version = repo.content_version(conn)
    page = cache.get(key, version)
    if page is None:

        def render_and_store():
            with engine.connect() as conn:
                # Read the version again inside the rendering connection: if a write landed in
                # between, the page is stored under the version it was rendered from.
                current = repo.content_version(conn)
                status, html = build(conn)
            return cache.put(key, current, status, html.encode(), "text/html; charset=utf-8")

        page = await run_in_threadpool(render_and_store)
    headers = {"ETag": page.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if page.status == 200 and request.headers.get("if-none-match") == page.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "") and len(page.body) > 1024:
        headers["Content-Encoding"] = "gzip"
        body = cache.gzipped(page)
    else:
        body = page.body
    return Response(body, status_code=page.status, media_type=page.media_type, headers=headers)


def render(request: Request, template: str, **context) -> str:
    return request.app.state.templates.get_template(template).render(request_path=request.url.path, **context)


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise HTTPException(400, f"page must be a number from 1 to {MAX_PAGE:,}")
    return int(raw)


def _category(request: Request) -> str | None:
    cat = request.query_params.get("cat") or None
    if cat is not None and (len(cat) > 32 or not ARXIV_CATEGORY.fullmatch(cat)):
        raise HTTPException(400, "cat must be an arXiv category such as cs.CL")
    return cat


async def feed(request: Request, period: Period | None) -> Response:
    page = _page_number(request)
    category = _category(request)
    size = request.app.state.settings.page_size

    def build(conn: Connection):
        nonlocal period
        if period is None:  # the home page: the latest day with papers
            latest = repo.latest_day(conn)
            if latest is None:
                return 200, render(request, "empty.html")
            period = period_of("day", latest)
        result = repo.feed_page(conn, period.start, period.end, category=category, limit=size, offset=(page - 1) * size)
        pages = max(1, math.ceil(result.total / size))
        if page > pages:
            raise HTTPException(404, f"This {period.kind} has {pages} page{'s' if pages > 1 else ''} of papers.")
        before = repo.day_before(conn, period.start, category)
        after = repo.day_after(conn, period.end, category)
        html = render(
            request,
            "feed.html",
            period=period,
            papers=result.papers,
            total=result.total,
            page=page,
            pages=pages,
            offset=(page - 1) * size,
            category=category,
            categories=repo.category_counts(conn, period.start, period.end),
            chips=CHIPS,
            previous=period_of(period.kind, before) if before else None,
            next=period_of(period.kind, after) if after else None,
            is_home=request.url.path == "/",
        )
        return 200, html

    return await cached_page(request, build)


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    return await feed(request, None)


@router.get("/papers/date/{day}", include_in_schema=False)
async def feed_day(request: Request, day: str) -> Response:
    return await feed(request, _period("day", day))


@router.get("/papers/week/{week}", include_in_schema=False)
async def feed_week(request: Request, week: str) -> Response:
    return await feed(request, _period("week", week))


@router.get("/papers/month/{month}", include_in_schema=False)
async def feed_month(request: Request, month: str) -> Response:
    return await feed(request, _period("month", month))


def _period(kind, text: str) -> Period:
    try:
        return parse_period(kind, text)
    except BadPeriod as e:
        raise HTTPException(404, str(e)) from None


@router.get("/papers/{arxiv_id:path}", include_in_schema=False)
async def paper_page(request: Request, arxiv_id: str) -> Response:
    try:
        parsed = parse_arxiv_id(arxiv_id)
    except InvalidArxivId as e:
        raise HTTPException(404, str(e)) from None
    if parsed.version is not None or parsed.id != arxiv_id:
        return RedirectResponse(f"/papers/{parsed.id}", status_code=301)

    def build(conn: Connection):
        paper = repo.get_paper(conn, parsed.id)
        if paper is None:
            raise HTTPException(404, f"Paperboy has no paper {parsed.id} yet.")
        return 200, render(request, "paper.html", paper=paper, bibtex=bibtex_entry(paper))

    return await cached_page(request, build)
