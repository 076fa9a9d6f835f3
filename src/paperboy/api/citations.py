"""Citations reference managers read: BibTeX and RIS for a paper, a day (week, month) and a search.

* ``/papers/2606.30212.bib`` / ``.ris`` — one paper;
* ``/papers/date/2026-06-30.bib`` / ``.ris`` — a whole day (``?cat=`` filters); ``/papers/week/…``
  and ``/papers/month/…`` give the period's top :data:`MAX_PAPERS`;
* ``/search.bib?q=…`` / ``/search.ris?q=…`` — the search page's results (its parameters).

BibTeX is ``papers/bibtex.py``'s arXiv-style ``@misc`` (keys made unique within a file); RIS is
written here (RIS has no escaping: every value is one line). The paper page also carries Highwire
``citation_*`` meta tags and a COinS span (:func:`coins`), which is what Zotero's connector reads.
(Collections would get the same files once they exist.)
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from paperboy import params
from paperboy.api.cache import cached_body
from paperboy.feed.views import paper_view, period_papers
from paperboy.http.site import site_of
from paperboy.papers.bibtex import bibtex_entries
from paperboy.papers.ids import parse_arxiv_id
from paperboy.papers.normalize import normalize_text
from paperboy.search.view import SearchParams, search_view

__all__ = ["router", "ris_entry", "ris_file", "coins", "BIBTEX_TYPE", "RIS_TYPE"]

router = APIRouter()

BIBTEX_TYPE = "application/x-bibtex; charset=utf-8"
RIS_TYPE = "application/x-research-info-systems; charset=utf-8"
MAX_PAPERS = 2000
FORMATS = {"bib": BIBTEX_TYPE, "ris": RIS_TYPE}


def ris_entry(paper) -> str:
    """One RIS record: an arXiv preprint (``TY  - UNPB``), ending with ``ER  -``.

    RIS has no escaping: a tag is two characters and ``"  - "`` at the start of a line, so each value
    is made one line (:func:`~paperboy.papers.normalize.normalize_text`: every line break, control and
    bidi character gone) and cannot start a tag (``ER  -``, ``TY  -``) of its own."""
    fields = [("TY", "UNPB"), ("TI", paper.title)]
    fields += [("AU", name) for name in paper.authors if name.strip()]
    if paper.year:
        fields.append(("PY", str(paper.year)))
    if paper.published:
        fields.append(("DA", paper.published.strftime("%Y/%m/%d")))
    fields += [("AB", paper.abstract), ("PB", "arXiv"), ("DB", "arXiv.org"), ("AN", f"arXiv:{paper.arxiv_id}"),
               ("M3", f"arXiv:{paper.arxiv_id}"), ("UR", f"https://arxiv.org/abs/{paper.arxiv_id}"),
               ("L1", f"https://arxiv.org/pdf/{paper.arxiv_id}")]  # fmt: skip
    if paper.doi:
        fields.append(("DO", paper.doi))
    if paper.journal_ref:
        fields.append(("N1", f"Journal reference: {paper.journal_ref}"))
    if paper.comment:
        fields.append(("N1", paper.comment))
    fields += [("KW", code) for code in paper.categories]
    lines = [f"{tag}  - {line}" for tag, value in fields if (line := normalize_text(value))]
    return "\n".join(lines + ["ER  - "]) + "\n"


def ris_file(papers: list) -> str:
    return "\n".join(ris_entry(p) for p in papers)


def citation_file(papers: list, fmt: str) -> bytes:
    return (bibtex_entries(papers) if fmt == "bib" else ris_file(papers)).encode()


def coins(paper) -> str:
    """The ``title`` of a COinS span (OpenURL ContextObject): what Zotero reads from a page without meta tags."""
    pairs = [("ctx_ver", "Z39.88-2004"), ("rft_val_fmt", "info:ofi/fmt:kev:mtx:journal"), ("rft.genre", "preprint"),
             ("rft.atitle", normalize_text(paper.title)), ("rft.jtitle", "arXiv")]  # fmt: skip
    pairs += [("rft.au", name) for name in paper.authors if name.strip()]
    if paper.published:
        pairs.append(("rft.date", paper.published.isoformat()))
    pairs += [("rft_id", f"info:arxiv/{paper.arxiv_id}"), ("rft_id", f"https://arxiv.org/abs/{paper.arxiv_id}")]
    if paper.doi:
        pairs.append(("rft_id", f"info:doi/{paper.doi}"))
    return urlencode(pairs)


def _disposition(name: str, fmt: str) -> dict:
    return {"Content-Disposition": f'inline; filename="{name}.{fmt}"'}


def _period_route(kind: str, fmt: str):
    async def period_citations(request: Request, slug: str) -> Response:
        period = params.period_in_path(kind, slug)
        category = params.category(request.query_params.get("cat"))  # checked here too: it names the file

        def build(conn) -> bytes:
            return citation_file(period_papers(conn, period, category=category, limit=MAX_PAPERS), fmt)

        name = f"paperboy-{period.slug}" + (f"-{category}" if category else "")
        return await cached_body(request, build, FORMATS[fmt], params=("cat",), headers=_disposition(name, fmt))

    return period_citations


def _search_route(fmt: str):
    async def search_citations(request: Request) -> Response:
        found = await run_in_threadpool(search_view, site_of(request).search, SearchParams.parse(request.query_params, per_page=100))
        return Response(citation_file(found.results.papers, fmt), media_type=FORMATS[fmt],
                        headers={"Cache-Control": "no-cache", **_disposition("paperboy-search", fmt)})  # fmt: skip

    return search_citations


def _file_name(arxiv_id: str) -> str:
    """The file's name: the paper's id as asked for (one the view refuses is never served), made one path segment."""
    try:
        return parse_arxiv_id(arxiv_id).id.replace("/", "_")
    except ValueError:
        return "paper"


def _paper_route(fmt: str):
    async def paper_citation(request: Request, arxiv_id: str) -> Response:
        def build(conn) -> bytes:
            return citation_file([paper_view(conn, arxiv_id, comments=False).paper], fmt)

        return await cached_body(request, build, FORMATS[fmt], headers=_disposition(_file_name(arxiv_id), fmt))

    return paper_citation


# Literal suffixes (a "{fmt}" parameter would make /papers/2606.30212 itself look like a citation file).
# Periods and search first: /papers/{id:path}.bib would take /papers/date/2026-06-30.bib.
for _fmt in FORMATS:
    for _kind, _segment in (("day", "date"), ("week", "week"), ("month", "month")):
        router.add_api_route(f"/papers/{_segment}/{{slug}}.{_fmt}", _period_route(_kind, _fmt), methods=["GET"], include_in_schema=False)
    router.add_api_route(f"/search.{_fmt}", _search_route(_fmt), methods=["GET"], include_in_schema=False)
for _fmt in FORMATS:
    router.add_api_route(f"/papers/{{arxiv_id:path}}.{_fmt}", _paper_route(_fmt), methods=["GET"], include_in_schema=False)
