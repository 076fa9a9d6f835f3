"""What every search backend offers, whatever holds its indexes.

Two backends satisfy :class:`SearchBackend`:

* the embedded one (:class:`~paperboy.search.service.SearchService` on SQLite): indexes in this
  process's memory, loaded from files in the data directory and kept in step with the database;
* the PostgreSQL one (:class:`~paperboy.search.pg.PgSearch`): BM25 postings and pgvector in the
  database, nothing per corpus in the process — so a web node with an empty data directory serves.

:func:`~paperboy.search.factory.open_search` picks the one that fits the engine. Both start from :func:`parse_request`
(queries parsed with :mod:`~paperboy.search.query`), fuse with :mod:`~paperboy.search.fusion`, keep
phrases with :func:`phrase_filter`, add the author nudge of :mod:`~paperboy.search.related`, and end
the same way (:func:`filters_only`, :func:`page_slice`, :func:`fill_page`): what they share lives
here, below both, so neither backend imports the other.

For operations (``/readyz``, ``/metrics``), without a metrics library here: ``ready()`` is cheap
(no query), ``status()`` says what is loaded, and ``observer``, when set, is called after every
search and related-papers lookup as ``observer(operation, seconds)`` (operation ``"search"`` or
``"related"``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, select

from paperboy.params import choice
from paperboy.search.fusion import Fusion
from paperboy.search.query import ParsedQuery, parse_query
from paperboy.search.text import words
from paperboy.store import repo
from paperboy.store.schema import papers

__all__ = ["CANDIDATES", "DENSE_CANDIDATES", "MAX_PAGE_SIZE", "SORTS", "LazyEmbedder", "Observer", "SearchBackend", "SearchResults",
           "fill_page", "filters_only", "observed", "page_slice", "parse_request", "phrase_filter"]  # fmt: skip

SORTS = ("relevance", "date", "upvotes")
CANDIDATES = 1000  # keyword matches considered; pages go up to this many results
# Nearest neighbours taken from the dense side. Every paper has *some* nearest neighbours, so this
# also bounds what a query with no real match returns (100 semantic guesses, not the archive).
DENSE_CANDIDATES = 100
MAX_PAGE_SIZE = 100

#: ``observer(operation, seconds)``: see the module docstring.
Observer = Callable[[str, float], None]


@dataclass
class SearchResults:
    query: ParsedQuery
    papers: list = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 20
    sort: str = "relevance"
    redirect: str | None = None
    notes: list[str] = field(default_factory=list)
    semantic: bool = True
    embedded: int = 0  # visible papers with a vector: semantic search covers these …
    searchable: int = 0  # … of this many visible papers

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@runtime_checkable
class SearchBackend(Protocol):
    observer: Observer | None

    def search(
        self,
        raw: str,
        *,
        categories: list[str] | None = None,
        author: str | None = None,
        after: dt.date | None = None,
        before: dt.date | None = None,
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 20,
        semantic: bool = True,
        keyword: bool = True,
        fusion: Fusion = ...,
    ) -> Any:  # SearchResults
        """One page of results for the search box's query language."""
        ...

    def related(self, paper_id: int, k: int = 8) -> list[tuple[int, float]]:
        """(paper id, score) of the ``k`` visible papers most like ``paper_id``, best first."""
        ...

    def refresh(self) -> None:
        """Catch up with the database now (searches do it themselves; start-up warms with it)."""
        ...

    def ready(self) -> bool:
        """Whether a search would be answered from loaded state now (cheap: no query)."""
        ...

    def status(self) -> dict:
        """What the backend has loaded, for operators (a few cheap fields, JSON-ready)."""
        ...


@contextmanager
def observed(backend, operation: str):
    """Time the block and report it to ``backend.observer`` (if any) — successes and failures alike."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observer = getattr(backend, "observer", None)
        if observer is not None:
            try:
                observer(operation, time.perf_counter() - started)
            except Exception:  # a metrics hook never breaks a search
                pass


def phrase_filter(conn: Connection, paper_ids: Iterable[int], phrases: list[str]) -> list[bool]:
    """For each of ``paper_ids``: does its title or abstract contain every phrase, word for word?"""
    ids = [int(p) for p in paper_ids]
    if not ids:
        return []
    wanted = [" ".join(words(p)) for p in phrases if words(p)]
    texts = {pid: " " + " ".join(words(t + " " + a)) + " " for pid, t, a in conn.execute(
        select(papers.c.id, papers.c.title, papers.c.abstract).where(papers.c.id.in_(ids)))}  # fmt: skip
    return [all(f" {w} " in texts.get(pid, "") for w in wanted) for pid in ids]


class LazyEmbedder:
    """The ``embedder`` property both backends share: the model is loaded on first use; a model that
    fails to load is not retried (search goes on keyword-only and says so)."""

    _embedder_loader = None
    _embedder = None
    _embedder_failed = False

    @property
    def embedder(self):
        if self._embedder is None and not self._embedder_failed:
            try:
                if self._embedder_loader is not None:
                    self._embedder = self._embedder_loader()
                else:
                    from paperboy.search.embed import load_embedder

                    self._embedder = load_embedder()
            except Exception as e:  # no model installed: keyword search still works
                logging.getLogger("paperboy.search.service").warning("semantic search unavailable: %s", e)
                self._embedder_failed = True
        return self._embedder


def parse_request(raw: str, *, categories, author, after, before, sort, page, per_page) -> tuple[ParsedQuery, SearchResults]:
    """The query and the (still empty) results every backend starts from: the query parsed, the form's
    filters added, page bounds applied; ``result.redirect`` set for an arXiv id, a note for an empty
    query. A sort that is not one of :data:`SORTS` is refused (Invalid, the doors' message), never
    answered in another order."""
    sort = choice(sort, "sort", SORTS, "relevance")
    q = parse_query(raw)
    per_page = max(1, min(per_page, MAX_PAGE_SIZE))
    result = SearchResults(query=q, page=max(1, page), per_page=per_page, sort=sort)
    result.notes.extend(q.notes)
    if q.arxiv_id:
        result.redirect = f"/papers/{q.arxiv_id}"
        return q, result
    q.categories += [c for c in (categories or []) if c]
    if author:
        q.authors.append(author)
    q.after = q.after or after
    q.before = q.before or before
    if q.empty and not result.notes:
        result.notes.append("Type some words to search, or use author:, cat:, after: and before:.")
    return q, result


def filters_only(result: SearchResults) -> None:
    """A query of filters alone (no words) lists everything they allow: there is no relevance to
    rank by, so "relevance" means newest first, in both backends."""
    if result.sort == "relevance":
        result.sort = "date"


def page_slice(result: SearchResults) -> slice:
    """The positions of ``result``'s page among all its ranked matches."""
    start = (result.page - 1) * result.per_page
    return slice(start, start + result.per_page)


def fill_page(conn: Connection, result: SearchResults, page_ids: Iterable[int], total: int) -> SearchResults:
    """``result`` with its total and its page's papers, in ``page_ids``' order; a paper hidden since
    the indexes last caught up is dropped here, the last check before anyone sees it."""
    result.total = total
    result.papers = [p for p in repo.get_papers(conn, [int(i) for i in page_ids]) if p.hidden_at is None]
    return result
