"""Search results page, and the related papers a paper page shows (their JSON is api/v1.py's)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperboy.errors import Invalid
from paperboy.papers.normalize import ARXIV_CATEGORY
from paperboy.search.related import Related
from paperboy.search.service import SORTS
from paperboy.store import repo
from paperboy.web.context import finish, get_viewer
from paperboy.http.respond import versions
from paperboy.http.site import site_of
from paperboy.web.views import render

router = APIRouter()

PER_PAGE = 20
#: What :func:`search_now` reads: the search page's cache key is made of these alone.
PARAMS = ("q", "sort", "page", "cat", "author", "from", "to")


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date like 2026-06-30") from None


@dataclass(slots=True)
class SearchRequest:
    """The search page's parameters, checked, and the page of results they give."""

    q: str
    sort: str
    cat: str | None
    author: str | None
    date_from: str
    date_to: str
    result: object  # SearchResults


async def run_search(request: Request, per_page: int = PER_PAGE, default_sort: str = "relevance") -> SearchRequest:
    """Parse the search page's parameters (q, sort, page, cat, author, from, to) and search; the
    search page, its Atom feed and its citation files all ask this."""
    return await run_in_threadpool(search_now, request, per_page, default_sort)


def search_now(request: Request, per_page: int = PER_PAGE, default_sort: str = "relevance") -> SearchRequest:
    """:func:`run_search` in the calling thread."""
    params = request.query_params
    q = params.get("q", "")
    sort = params.get("sort") or default_sort
    if sort not in SORTS:
        raise Invalid(f"sort must be one of {', '.join(SORTS)}")
    page = params.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= 50:
        raise Invalid("page must be a number from 1 to 50")
    cat = params.get("cat") or None
    if cat and (len(cat) > 32 or not ARXIV_CATEGORY.fullmatch(cat)):
        raise Invalid("cat must be an arXiv category such as cs.CL")
    author = (params.get("author") or "")[:100] or None
    after, before = _date(params.get("from"), "from"), _date(params.get("to"), "to")
    service = site_of(request).search
    result = service.search(
        q, categories=[cat] if cat else None, author=author, after=after,
        before=before + dt.timedelta(days=1) if before else None, sort=sort, page=int(page), per_page=per_page,
    )  # fmt: skip
    return SearchRequest(q, sort, cat, author, params.get("from", ""), params.get("to", ""), result)


@router.get("/search", include_in_schema=False)
async def search_page(request: Request) -> Response:
    """The results page, cached like the feeds (per search-index version: a repeated query costs a
    look-up), with members' vote buttons filled in per request."""
    from paperboy.search.query import parse_query
    from paperboy.web.pages import PageSpec, cached_page

    target = parse_query(request.query_params.get("q", "")).arxiv_id
    if target:
        return RedirectResponse(f"/papers/{target}", status_code=303)

    def build(conn, moderator: bool) -> PageSpec:
        found = search_now(request)
        return PageSpec("search.html", {"q": found.q, "result": found.result, "sort": found.sort, "cat": found.cat,
                                        "author": found.author, "date_from": found.date_from, "date_to": found.date_to})  # fmt: skip

    # Also per snapshot of the embedded backend: while it catches up in the background, results come
    # from the old snapshot and are kept under its name, not under the versions they do not show yet.
    snapshot = getattr(site_of(request).search, "snapshot_key", None)
    return await cached_page(request, build, params=PARAMS, vary=f"search:{versions(request).search}:{snapshot() if snapshot else ''}")


def _related(request: Request, arxiv_id: str, k: int):
    """(paper, [(related paper, score)]) for a visible paper; NotFound otherwise. The list is a
    :class:`~paperboy.search.related.Related`: ``by_keyword`` says the papers only share title words."""
    engine = site_of(request).engine
    service = site_of(request).search
    with engine.connect() as conn:
        paper = repo.find_paper(conn, arxiv_id)
    related = service.related(paper.id, k)
    with engine.connect() as conn:
        by_id = {p.id: p for p in repo.get_papers(conn, [pid for pid, _ in related])}
    found = [(by_id[pid], score) for pid, score in related if pid in by_id]
    return paper, Related(found, by_keyword=getattr(related, "by_keyword", False))


@router.get("/papers/{arxiv_id:path}/related", include_in_schema=False)
async def related_fragment(request: Request, arxiv_id: str) -> Response:
    """Related papers as HTML: a fragment for htmx (the paper page loads it), else a small page."""
    viewer = await get_viewer(request)
    paper, related = await run_in_threadpool(_related, request, arxiv_id, 8)
    template = "_related.html" if request.headers.get("hx-request") == "true" else "related.html"
    html = render(request, template, viewer, paper=paper, related=related, by_keyword=related.by_keyword)
    return finish(request, HTMLResponse(html))
