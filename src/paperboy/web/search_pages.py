"""Search results page, and related papers as JSON."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperboy.api.serializers import related_json
from paperboy.errors import Invalid
from paperboy.papers.normalize import ARXIV_CATEGORY
from paperboy.search.service import SORTS
from paperboy.store import repo
from paperboy.web.context import finish, get_viewer
from paperboy.web.views import render

router = APIRouter()

PER_PAGE = 20


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date like 2026-06-30") from None


@router.get("/search", include_in_schema=False)
async def search_page(request: Request) -> Response:
    viewer = await get_viewer(request)
    params = request.query_params
    q = params.get("q", "")
    sort = params.get("sort", "relevance")
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
    service = request.app.state.search
    result = await run_in_threadpool(
        service.search, q, categories=[cat] if cat else None, author=author, after=after,
        before=before + dt.timedelta(days=1) if before else None, sort=sort, page=int(page), per_page=PER_PAGE,
    )  # fmt: skip
    if result.redirect:
        return RedirectResponse(result.redirect, status_code=303)
    voted = set()
    if viewer.user and result.papers:
        from paperboy.community.votes import voted_ids

        def load_votes():
            with request.app.state.engine.connect() as conn:
                return voted_ids(conn, viewer.user.id, [p.id for p in result.papers])

        voted = await run_in_threadpool(load_votes)
    html = render(request, "search.html", viewer, q=q, result=result, sort=sort, cat=cat, author=author,
                  date_from=params.get("from", ""), date_to=params.get("to", ""), voted=voted)  # fmt: skip
    return finish(request, HTMLResponse(html, headers={"Cache-Control": "private, no-cache"}))


def _related(request: Request, arxiv_id: str, k: int):
    """(paper, [(related paper, score)]) for a visible paper; NotFound otherwise."""
    engine = request.app.state.engine
    service = request.app.state.search
    with engine.connect() as conn:
        paper = repo.find_paper(conn, arxiv_id)
    related = service.related(paper.id, k)
    with engine.connect() as conn:
        by_id = {p.id: p for p in repo.get_papers(conn, [pid for pid, _ in related])}
    return paper, [(by_id[pid], score) for pid, score in related if pid in by_id]


@router.get("/papers/{arxiv_id:path}/related", include_in_schema=False)
async def related_fragment(request: Request, arxiv_id: str) -> Response:
    """Related papers as HTML: a fragment for htmx (the paper page loads it), else a small page."""
    viewer = await get_viewer(request)
    paper, related = await run_in_threadpool(_related, request, arxiv_id, 8)
    template = "_related.html" if request.headers.get("hx-request") == "true" else "related.html"
    html = render(request, template, viewer, paper=paper, related=related)
    return finish(request, HTMLResponse(html))


@router.get("/api/papers/{arxiv_id:path}/related")
async def related_api(request: Request, arxiv_id: str) -> JSONResponse:
    """Related papers: top-k by embedding similarity, nudged by shared authors."""
    raw_k = request.query_params.get("k", "8")
    if not raw_k.isdigit() or not 1 <= int(raw_k) <= 50:
        raise Invalid("k must be a number from 1 to 50")
    paper, related = await run_in_threadpool(_related, request, arxiv_id, int(raw_k))
    return JSONResponse(related_json(paper, related, base_url=request.app.state.settings.base_url))
