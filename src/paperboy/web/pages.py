"""HTML pages: the daily/weekly/monthly feeds, trending, and the paper page.

URL shapes follow hf.co/papers. For anonymous visitors every page here is the same, so it is
served from the :class:`~paperboy.web.cache.PageCache`, keyed by URL and the database's content
version. Logged-in visitors see their own vote buttons and forms, rendered per request.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from paperboy.accounts.users import get_user
from paperboy.community.claims import verified_authors
from paperboy.community.comments import PAGE_SIZE as COMMENT_PAGE
from paperboy.community.comments import count_visible, list_comments
from paperboy.community.votes import voted_ids
from paperboy.feed.periods import BadPeriod, Period, parse_period, period_of
from paperboy.feed.trending import trending
from paperboy.papers.bibtex import bibtex_entry
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.papers.normalize import ARXIV_CATEGORY
from paperboy.store import repo
from paperboy.web.context import Viewer, finish, get_viewer

router = APIRouter()

MAX_PAGE = 10_000
CHIPS = 12  # category chips shown above a feed; the rest are in a "more" list


async def cached_page(request: Request, build: Callable[[Connection, Viewer], tuple[int, str]]) -> Response:
    """Serve ``request``: from the page cache for anonymous visitors, freshly rendered for users.

    A cache hit costs one primary-key read (the content and vote versions) and is answered on the
    event loop; rendering runs in the thread pool so a slow page never stalls the hits behind it.
    """
    viewer = await get_viewer(request)
    engine = request.app.state.engine
    if viewer.user is not None:

        def render_for_user():
            with engine.connect() as conn:
                return build(conn, viewer)

        status, html = await run_in_threadpool(render_for_user)
        return finish(request, HTMLResponse(html, status_code=status, headers={"Cache-Control": "private, no-cache"}))

    cache = request.app.state.page_cache
    key = request.url.path + "?" + request.url.query
    version, votes = repo.read_state_versions(engine)
    page = cache.get(key, version, votes)
    if page is None:

        def render_and_store():
            with engine.connect() as conn:
                # Read the versions again inside the rendering connection: if a write landed in
                # between, the page is stored under the versions it was rendered from.
                current, current_votes = repo.state_versions(conn)
                status, html = build(conn, viewer)
            return cache.put(key, current, status, html.encode(), "text/html; charset=utf-8", votes=current_votes)

        page = await run_in_threadpool(render_and_store)
    headers = {"ETag": page.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding, Cookie"}
    if page.status == 200 and request.headers.get("if-none-match") == page.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "") and len(page.body) > 1024:
        headers["Content-Encoding"] = "gzip"
        body = cache.gzipped(page)
    else:
        body = page.body
    return Response(body, status_code=page.status, media_type=page.media_type, headers=headers)


def render(request: Request, template: str, viewer: Viewer | None = None, **context) -> str:
    """Render a template with what every page needs (the viewer for the header, the path)."""
    viewer = viewer or getattr(request.state, "viewer", None)
    return request.app.state.templates.get_template(template).render(
        request_path=request.url.path, request_url=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        viewer=viewer, **context,
    )  # fmt: skip


def _page_number(request: Request, name: str = "page") -> int:
    raw = request.query_params.get(name, "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise HTTPException(400, f"{name} must be a number from 1 to {MAX_PAGE:,}")
    return int(raw)


def _category(request: Request) -> str | None:
    cat = request.query_params.get("cat") or None
    if cat is not None and (len(cat) > 32 or not ARXIV_CATEGORY.fullmatch(cat)):
        raise HTTPException(400, "cat must be an arXiv category such as cs.CL")
    return cat


def _voted(conn: Connection, viewer: Viewer, papers) -> set[int]:
    return voted_ids(conn, viewer.user.id, [p.id for p in papers]) if viewer.user else set()


async def feed(request: Request, period: Period | None) -> Response:
    page = _page_number(request)
    category = _category(request)
    size = request.app.state.settings.page_size

    def build(conn: Connection, viewer: Viewer):
        current = period
        if current is None:  # the home page: the latest day with papers
            latest = repo.latest_day(conn)
            if latest is None:
                return 200, render(request, "empty.html", viewer)
            current = period_of("day", latest)
        result = repo.feed_page(conn, current.start, current.end, category=category, limit=size, offset=(page - 1) * size)
        pages = max(1, math.ceil(result.total / size))
        if page > pages:
            raise HTTPException(404, f"This {current.kind} has {pages} page{'s' if pages > 1 else ''} of papers.")
        before = repo.day_before(conn, current.start, category)
        after = repo.day_after(conn, current.end, category)
        html = render(
            request,
            "feed.html",
            viewer,
            period=current,
            papers=result.papers,
            voted=_voted(conn, viewer, result.papers),
            total=result.total,
            page=page,
            pages=pages,
            offset=(page - 1) * size,
            category=category,
            categories=repo.category_counts(conn, current.start, current.end),
            chips=CHIPS,
            previous=period_of(current.kind, before) if before else None,
            next=period_of(current.kind, after) if after else None,
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


@router.get("/papers/trending", include_in_schema=False)
async def trending_page(request: Request) -> Response:
    page = _page_number(request)
    size = request.app.state.settings.page_size

    def build(conn: Connection, viewer: Viewer):
        ranked = trending(conn, limit=size + 1, offset=(page - 1) * size)
        ids = [pid for pid, _ in ranked[:size]]
        papers = repo.get_papers(conn, ids)
        html = render(request, "trending.html", viewer, papers=papers, voted=_voted(conn, viewer, papers),
                      page=page, has_next=len(ranked) > size, offset=(page - 1) * size)  # fmt: skip
        return 200, html

    return await cached_page(request, build)


@router.get("/papers/{arxiv_id:path}", include_in_schema=False)
async def paper_page(request: Request, arxiv_id: str) -> Response:
    try:
        parsed = parse_arxiv_id(arxiv_id)
    except InvalidArxivId as e:
        raise HTTPException(404, str(e)) from None
    if parsed.version is not None or parsed.id != arxiv_id:
        return RedirectResponse(f"/papers/{parsed.id}", status_code=301)
    cpage = _page_number(request, "cpage")

    def build(conn: Connection, viewer: Viewer):
        paper = repo.get_paper(conn, parsed.id)
        if paper is None:
            raise HTTPException(404, f"Paperboy has no paper {parsed.id} yet.")
        if paper.hidden_at and not viewer.is_admin:
            raise HTTPException(404, f"arXiv:{parsed.id} has been hidden by the moderators.")
        moderator = viewer.is_admin
        total_comments = count_visible(conn, paper.id, include_hidden=moderator)
        comment_pages = max(1, math.ceil(total_comments / COMMENT_PAGE))
        comments = list_comments(conn, paper.id, include_hidden=moderator, limit=COMMENT_PAGE, offset=(cpage - 1) * COMMENT_PAGE)
        submitter = get_user(conn, paper.submitted_by) if paper.submitted_by else None
        html = render(
            request,
            "paper.html",
            viewer,
            paper=paper,
            bibtex=bibtex_entry(paper),
            voted=_voted(conn, viewer, [paper]),
            comments=comments,
            total_comments=total_comments,
            cpage=cpage,
            comment_pages=comment_pages,
            verified=verified_authors(conn, paper.id),
            submitter=submitter,
        )
        return 200, html

    return await cached_page(request, build)
