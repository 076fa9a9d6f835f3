"""Hugging Face–compatible paper API: point ``huggingface_hub`` (or any script written for
hf.co's API) at a Paperboy by changing one URL.

Same paths, parameters, pagination, JSON shapes and errors as huggingface.co (the contract:
``../shared/hf-api/SPEC.md``, from ``huggingface_hub`` 2.4.0's source):

* ``GET /api/daily_papers`` — ``date``, ``week``, ``month``, ``submitter``, ``sort``, ``limit``, ``p``;
* ``GET /api/papers/search?q=`` — our hybrid search;
* ``GET /api/papers/{id}`` — one flat object; ``GET /papers/{id}.md`` — the paper as Markdown.

Errors are ``{"error": …}`` with the status the client maps to its exceptions (404 → plain
``HfHubHTTPError``, 400 → ``BadRequestError``; never an ``X-Error-Code``). The ``Authorization``
header is ignored here: the client sends the user's *Hugging Face* token when it has one, and these
are public reads. Daily lists and papers come from the page cache.
"""

from __future__ import annotations


from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from paperboy.api.cache import JSON, cached_body, cached_json
from paperboy.api.schemas import HfDailyEntry, HfPaper, errors, page_query
from paperboy.api.search_params import search_filters
from paperboy.api.serializers import hf_daily_entry, hf_paper
from paperboy.errors import NotFound
from paperboy.feed.views import DAILY_SORTS, daily_list, paper_details, paper_view
from paperboy.http.site import site_of
from paperboy.papers.markdown import markdown_link, markdown_text
from paperboy.papers.normalize import normalize_text
from paperboy.search.view import SearchParams, search_view

router = APIRouter(tags=["Hugging Face–compatible"])

MAX_LIMIT = 100
ARXIV_ID = Path(description="An arXiv id, new (2606.30212, versions ignored) or old style (hep-th/9711200)", examples=["2606.30212"])


@router.get("/api/daily_papers", response_model=list[HfDailyEntry], responses=errors(400),
            summary="Daily papers (huggingface_hub list_daily_papers)")  # fmt: skip
async def daily_papers(
    request: Request,
    date: str | None = Query(None, json_schema_extra={"pattern": r"^\d{4}-\d{2}-\d{2}$"}, description="A day, YYYY-MM-DD; default: the latest day with papers",
                             examples=["2026-06-30"]),
    week: str | None = Query(None, json_schema_extra={"pattern": r"^\d{4}-W\d{2}$"}, description="An ISO week, YYYY-Www", examples=["2026-W27"]),
    month: str | None = Query(None, json_schema_extra={"pattern": r"^\d{4}-\d{2}$"}, description="A month, YYYY-MM", examples=["2026-06"]),
    submitter: str | None = Query(None, max_length=64, description="Only papers this member put on the feed (all of them, without a period)"),
    sort: str = Query("publishedAt", description="publishedAt: latest first; trending: by the trending score",
                      json_schema_extra={"enum": list(DAILY_SORTS)}),  # checked by the view: one message at every door
    limit: int = Query(50, ge=0, le=MAX_LIMIT, description="Papers per page"),
    p: str | None = page_query("Page number; a page past the end is []", first=0),
) -> Response:
    """The papers of a day, ISO week or month, like huggingface.co/api/daily_papers.

    The period's shape is documented here and checked by the view (:func:`~paperboy.feed.views.daily_list`),
    so a malformed week and an impossible one are refused alike, naming the shape."""
    base = site_of(request).settings.base_url

    def build(conn):
        found = daily_list(conn, date=date, week=week, month=month, submitter=submitter, sort=sort, limit=limit, page=p)
        return [hf_daily_entry(paper, found.verified.get(paper.id, {}), base_url=base) for paper in found.papers]

    return await cached_json(request, build)


@router.get("/api/papers/search", response_model=list[HfDailyEntry], responses=errors(400),
            summary="Search papers (huggingface_hub list_papers)")  # fmt: skip
async def search_papers(
    request: Request,
    q: str = Query("", max_length=1000, description='Our search syntax: words, "phrases", author:, cat:, after:, before:; '
                   "an arXiv id finds that paper", examples=["diffusion transformers"]),  # fmt: skip
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="How many results"),
    filters: dict = Depends(search_filters),
) -> Response:
    """Hybrid (keyword + meaning) search over the whole archive, best first; the filters are the search page's."""
    service = site_of(request).search
    engine = site_of(request).engine
    base = site_of(request).settings.base_url
    params = SearchParams.parse({"q": q, **filters}, per_page=limit)

    def run() -> bytes:
        import orjson

        if not q.strip():
            return b"[]"
        view = search_view(service, params, with_paper=True)
        papers = ([view.paper] if view.paper else []) if view.redirect else view.results.papers  # an id names one paper
        with engine.connect() as conn:
            found = paper_details(conn, papers)
        return orjson.dumps([hf_daily_entry(paper, found.verified.get(paper.id, {}), base_url=base) for paper in found.papers])

    return Response(await run_in_threadpool(run), media_type=JSON, headers={"Cache-Control": "no-cache"})


def _paper(conn, arxiv_id: str):
    """:func:`~paperboy.feed.views.paper_view` without comments, refused in Hugging Face's words
    ("Paper not found", whatever the reason): scripts written for hf.co match on them."""
    try:
        return paper_view(conn, arxiv_id, comments=False)
    except NotFound:
        raise NotFound("Paper not found") from None


@router.get("/api/papers/{arxiv_id:path}", response_model=HfPaper, responses=errors(404),
            summary="One paper (huggingface_hub paper_info)")  # fmt: skip
async def paper_info(request: Request, arxiv_id: str = ARXIV_ID) -> Response:
    """A paper as one flat object; ``2606.30212v2`` is the same paper as ``2606.30212``."""
    base = site_of(request).settings.base_url

    def build(conn):
        view = _paper(conn, arxiv_id)
        return hf_paper(view.paper, view.verified, base_url=base), view.paper  # redone when the paper's comments or authors change

    return await cached_json(request, build)


@router.get("/papers/{arxiv_id:path}.md", response_class=Response, responses={200: {"content": {"text/markdown": {}}}, **errors(404)},
            summary="One paper as Markdown (huggingface_hub read_paper)")  # fmt: skip
async def paper_markdown(request: Request, arxiv_id: str = ARXIV_ID) -> Response:
    """The paper's page as Markdown: title, authors, links, abstract (TeX kept as written)."""
    base = site_of(request).settings.base_url
    return await cached_body(request, lambda conn: paper_markdown_text(_paper(conn, arxiv_id).paper, base).encode(), "text/markdown; charset=utf-8")


def paper_markdown_text(paper, base_url: str) -> str:
    """What ``read_paper`` returns: a Markdown document about one paper. Every value from the paper
    is text, never markup (``papers/markdown.py``); TeX is kept as written."""
    facts = [f"**arXiv:** {markdown_link(f'https://arxiv.org/abs/{paper.arxiv_id}', paper.arxiv_id)} · "
             f"{markdown_link(f'https://arxiv.org/pdf/{paper.arxiv_id}', 'PDF')}"]  # fmt: skip
    if paper.published:
        facts.append(f"**Published:** {paper.published.isoformat()}")
    if paper.categories:
        facts.append(f"**Categories:** {markdown_text(', '.join(paper.categories))}")
    if paper.doi:
        facts.append(f"**DOI:** {markdown_link(f'https://doi.org/{paper.doi}', paper.doi)}")
    if paper.journal_ref:
        facts.append(f"**Journal reference:** {markdown_text(paper.journal_ref)}")
    if paper.comment:
        facts.append(f"**Comment:** {markdown_text(paper.comment)}")
    if paper.github_repo:
        facts.append(f"**Code:** {markdown_link(paper.github_repo)}")
    if paper.project_page:
        facts.append(f"**Project page:** {markdown_link(paper.project_page)}")
    facts.append(f"**On Paperboy:** {markdown_link(f'{base_url}/papers/{paper.arxiv_id}')} · {paper.upvotes} upvotes · {paper.comment_count} comments")
    title = markdown_text(paper.title)
    authors = ", ".join(markdown_text(a) for a in paper.authors if normalize_text(a)) or "unknown"
    abstract = "\n\n".join(markdown_text(part) for part in paper.abstract.split("\n\n") if normalize_text(part))
    return f"# {title}\n\n**Authors:** {authors}\n\n" + "  \n".join(facts) + f"\n\n## Abstract\n\n{abstract}\n"
