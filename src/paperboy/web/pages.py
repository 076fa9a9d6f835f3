"""HTML pages: the daily/weekly/monthly feeds, trending, and the paper page.

URL shapes follow hf.co/papers. For anonymous visitors every page here is the same, so it is
served from the :class:`~paperboy.web.cache.PageCache`, keyed by URL and the database's content
version. Logged-in visitors see their own vote buttons and forms, rendered per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from paperboy.community.votes import voted_ids
from paperboy.errors import Invalid, NotFound
from paperboy.feed.periods import BadPeriod, Period, parse_period
from paperboy.feed.views import feed_view, paper_view, trending_view
from paperboy.papers.bibtex import bibtex_entry
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.papers.normalize import ARXIV_CATEGORY
from paperboy.store import repo
from paperboy.web.context import Viewer, finish, get_viewer
from paperboy.web.views import render

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


def _page_number(request: Request, name: str = "page") -> int:
    raw = request.query_params.get(name, "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise Invalid(f"{name} must be a number from 1 to {MAX_PAGE:,}")
    return int(raw)


def _category(request: Request) -> str | None:
    cat = request.query_params.get("cat") or None
    if cat is not None and (len(cat) > 32 or not ARXIV_CATEGORY.fullmatch(cat)):
        raise Invalid("cat must be an arXiv category such as cs.CL")
    return cat


def _voted(conn: Connection, viewer: Viewer, papers) -> set[int]:
    return voted_ids(conn, viewer.user.id, [p.id for p in papers]) if viewer.user else set()


async def feed(request: Request, period: Period | None) -> Response:
    page = _page_number(request)
    category = _category(request)
    size = request.app.state.settings.page_size

    def build(conn: Connection, viewer: Viewer):
        view = feed_view(conn, period, category=category, page=page, size=size)
        if view.period is None:
            return 200, render(request, "empty.html", viewer)
        html = render(request, "feed.html", viewer, **_fields(view), voted=_voted(conn, viewer, view.papers), chips=CHIPS,
                      is_home=request.url.path == "/")  # fmt: skip
        return 200, html

    return await cached_page(request, build)


def _fields(view) -> dict:
    """A view dataclass as template variables (one level: its fields, not their insides)."""
    return {f.name: getattr(view, f.name) for f in fields(view)}


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
        raise NotFound(str(e)) from None


@router.get("/papers/trending", include_in_schema=False)
async def trending_page(request: Request) -> Response:
    page = _page_number(request)
    size = request.app.state.settings.page_size

    def build(conn: Connection, viewer: Viewer):
        view = trending_view(conn, page=page, size=size)
        return 200, render(request, "trending.html", viewer, **_fields(view), voted=_voted(conn, viewer, view.papers))

    return await cached_page(request, build)


@router.get("/papers/{arxiv_id:path}", include_in_schema=False)
async def paper_page(request: Request, arxiv_id: str) -> Response:
    try:
        parsed = parse_arxiv_id(arxiv_id)
    except InvalidArxivId as e:
        raise NotFound(str(e)) from None
    if parsed.version is not None or parsed.id != arxiv_id:
        return RedirectResponse(f"/papers/{parsed.id}", status_code=301)
    cpage = _page_number(request, "cpage")
    per_page = request.app.state.settings.comment_page_size

    def build(conn: Connection, viewer: Viewer):
        view = paper_view(conn, parsed.id, moderator=viewer.is_admin, comment_page=cpage, comments_per_page=per_page)
        html = render(request, "paper.html", viewer, **_fields(view), cpage=cpage, bibtex=bibtex_entry(view.paper),
                      voted=_voted(conn, viewer, [view.paper]))  # fmt: skip
        return 200, html

    return await cached_page(request, build)
