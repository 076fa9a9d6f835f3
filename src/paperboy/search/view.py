"""Search results and related papers as plain data: what every door renders.

The search page, its Atom feed and citation files, ``/api/v1/search``, the Hugging Face–compatible
search and ``paperboy search`` parse their parameters with :meth:`SearchParams.parse` (the rules of
:mod:`paperboy.params`) and ask :func:`search_view`, so a bad sort, page, category or date is refused
with one message whichever door it came in by, and an arXiv id is found one way. It lives in
``search/`` (not ``feed/views.py``) because it asks a search backend, which feeds never do; it
sits below ``web/`` and ``api/`` so that both import it downward.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from paperboy.errors import NotFound
from paperboy.params import MAX_AUTHOR, MAX_SEARCH_PAGE, category, choice, iso_date, page_number
from paperboy.search.backend import MAX_PAGE_SIZE as MAX_PER_PAGE
from paperboy.search.backend import SORTS, SearchResults
from paperboy.search.related import Related
from paperboy.store import repo

__all__ = ["MAX_PER_PAGE", "PARAMS", "PER_PAGE", "SearchParams", "SearchView", "search_view", "related_view"]

PER_PAGE = 20
#: The parameters :meth:`SearchParams.parse` reads (a page's cache key is made of these alone).
#: ``per_page`` is not among them: each door picks its own page size.
PARAMS = ("q", "sort", "page", "cat", "author", "from", "to")


@dataclass(frozen=True, slots=True)
class SearchParams:
    """A search's parameters, checked: what the search box, its filters and the page links give."""

    q: str = ""
    sort: str = "relevance"
    page: int = 1
    per_page: int = PER_PAGE
    cat: str | None = None
    author: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def parse(cls, given: Mapping[str, str | None], *, per_page: int = PER_PAGE, default_sort: str = "relevance") -> SearchParams:
        """Check the :data:`PARAMS` of ``given`` (query parameters, CLI options); Invalid names the first bad one.
        ``default_sort``: a feed of a search is newest first, the results page best first."""
        return cls(
            q=given.get("q") or "",
            sort=choice(given.get("sort"), "sort", SORTS, default_sort),
            page=page_number(given.get("page"), maximum=MAX_SEARCH_PAGE),
            per_page=max(1, min(per_page, MAX_PER_PAGE)),
            cat=category(given.get("cat")),
            author=(given.get("author") or "")[:MAX_AUTHOR] or None,
            date_from=iso_date(given.get("from"), "from"),
            date_to=iso_date(given.get("to"), "to"),
        )  # fmt: skip


@dataclass(slots=True)
class SearchView:
    """One page of results for ``params``; ``redirect`` (a path) when the query names one paper, and
    ``paper``, that paper when it is visible and the door asked for it (``with_paper``)."""

    params: SearchParams
    results: SearchResults
    redirect: str | None = None
    paper: repo.Paper | None = None


def search_view(service, params: SearchParams, *, semantic: bool = True, with_paper: bool = False) -> SearchView:
    """Search with ``params`` (``semantic``: off for ``paperboy search --keyword-only``). ``to`` is a
    whole day: the backend's ``before`` is the day after it. ``with_paper``: for a door that answers
    an arXiv id with the paper itself (the HF-compatible search), not a redirect, look the paper up."""
    results = service.search(
        params.q, categories=[params.cat] if params.cat else None, author=params.author, after=params.date_from,
        before=params.date_to + dt.timedelta(days=1) if params.date_to else None, sort=params.sort, page=params.page,
        per_page=params.per_page, semantic=semantic,
    )  # fmt: skip
    paper = None
    if results.redirect and with_paper:
        with service.engine.connect() as conn:
            try:
                paper = repo.find_paper(conn, results.query.arxiv_id)
            except NotFound:
                paper = None
    return SearchView(params, results, results.redirect, paper)


def related_view(engine: Engine, service, arxiv_id: str, k: int) -> tuple[repo.Paper, Related]:
    """(paper, [(related paper, score)]) for a visible paper; NotFound otherwise. The list is a
    :class:`~paperboy.search.related.Related`: ``by_keyword`` says the papers only share title words.
    The paper page's fragment and ``/api/v1/papers/{id}/related`` both show this."""
    with engine.connect() as conn:
        paper = repo.find_paper(conn, arxiv_id)
    related = service.related(paper.id, k)
    with engine.connect() as conn:
        by_id = {p.id: p for p in repo.get_papers(conn, [pid for pid, _ in related])}
    found = [(by_id[pid], score) for pid, score in related if pid in by_id]
    return paper, Related(found, by_keyword=getattr(related, "by_keyword", False))
