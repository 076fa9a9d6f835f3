"""Search results page, and the related papers a paper page shows (their JSON is api/v1.py's)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperboy.http.respond import versions
from paperboy.http.site import site_of
from paperboy.search.view import PARAMS, SearchParams, related_view, search_view
from paperboy.web.context import finish, get_viewer
from paperboy.web.views import render

router = APIRouter()


class _Redirect(Exception):
    """The query names one paper: the page answers with a redirect to it, never cached."""

    def __init__(self, target: str):
        super().__init__(target)
        self.target = target


@router.get("/search", include_in_schema=False)
async def search_page(request: Request) -> Response:
    """The results page, cached like the feeds (per search-index version: a repeated query costs a
    look-up), with members' vote buttons filled in per request. Its cache key is :data:`PARAMS`, the
    parameters the view reads; an arXiv id for a query redirects to that paper's page."""
    from paperboy.web.pages import PageSpec, cached_page

    params = SearchParams.parse(request.query_params)

    def build(conn, moderator: bool) -> PageSpec:
        view = search_view(site_of(request).search, params)
        if view.redirect:
            raise _Redirect(view.redirect)
        p = params
        return PageSpec("search.html", {"q": p.q, "result": view.results, "sort": p.sort, "cat": p.cat, "author": p.author,
                                        "date_from": _day(p.date_from), "date_to": _day(p.date_to)})  # fmt: skip

    # Also per snapshot of the embedded backend: while it catches up in the background, results come
    # from the old snapshot and are kept under its name, not under the versions they do not show yet.
    snapshot = getattr(site_of(request).search, "snapshot_key", None)
    try:
        return await cached_page(request, build, params=PARAMS, vary=f"search:{versions(request).search}:{snapshot() if snapshot else ''}")
    except _Redirect as found:
        return RedirectResponse(found.target, status_code=303)


def _day(day) -> str:
    return day.isoformat() if day else ""


@router.get("/papers/{arxiv_id:path}/related", include_in_schema=False)
async def related_fragment(request: Request, arxiv_id: str) -> Response:
    """Related papers as HTML: a fragment for htmx (the paper page loads it), else a small page."""
    viewer = await get_viewer(request)
    paper, related = await run_in_threadpool(related_view, site_of(request).engine, site_of(request).search, arxiv_id, 8)
    template = "_related.html" if request.headers.get("hx-request") == "true" else "related.html"
    html = render(request, template, viewer, paper=paper, related=related, by_keyword=related.by_keyword)
    return finish(request, HTMLResponse(html))
