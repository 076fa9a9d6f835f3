"""What every search backend offers, whatever holds its indexes.

Two backends satisfy :class:`SearchBackend`:

* the embedded one (:class:`~paperboy.search.service.SearchService` on SQLite): indexes in this
  process's memory, loaded from files in the data directory and kept in step with the database;
* the PostgreSQL one (:class:`~paperboy.search.pg.PgSearch`): BM25 postings and pgvector in the
  database, nothing per corpus in the process — so a web node with an empty data directory serves.

``SearchService(engine, …)`` picks the one that fits the engine. Both parse queries with
:mod:`~paperboy.search.query`, fuse with :mod:`~paperboy.search.fusion`, keep phrases with
:func:`phrase_filter`, add the author nudge of :mod:`~paperboy.search.related`, and return
:class:`~paperboy.search.service.SearchResults`.

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
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, select

from paperboy.search.fusion import Fusion
from paperboy.search.text import words
from paperboy.store.schema import papers

__all__ = ["LazyEmbedder", "Observer", "SearchBackend", "observed", "phrase_filter"]

#: ``observer(operation, seconds)``: see the module docstring.
Observer = Callable[[str, float], None]


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
