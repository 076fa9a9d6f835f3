"""The search service: one object per process that answers searches and "related papers".

``SearchService(engine, …)`` is the embedded backend on SQLite and the PostgreSQL backend
(:class:`~paperboy.search.pg.PgSearch`, indexes inside the database) on PostgreSQL: both are
search backends (:class:`~paperboy.search.backend.SearchBackend`). The embedded backend keeps,
in memory and in step with the database, the :class:`Catalog` (filters and sorts), the
BM25 :class:`KeywordIndex` (loaded from its file, plus papers added since, indexed on the fly) and
the :class:`VectorIndex`. Before each search it reads the database's content/search versions (one
query) and catches up if they moved, so any number of processes stay consistent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select

from paperboy.search.backend import LazyEmbedder, Observer, observed, phrase_filter
from paperboy.search.catalog import Catalog, load_catalog, refresh_votes
from paperboy.search.embedder import Embedder
from paperboy.search.fusion import Fusion, fuse
from paperboy.search.indexer import ann_path, keyword_documents, keyword_index_path
from paperboy.search.keyword import KeywordIndex, build_keyword_index
from paperboy.search.query import ParsedQuery, parse_query
from paperboy.search.related import related_papers
from paperboy.search.text import words
from paperboy.search.vectors import VectorIndex, _load_onnxruntime_first, read_embeddings
from paperboy.store import repo
from paperboy.store.schema import paper_authors, site_state

__all__ = ["SearchService", "SearchResults", "SORTS"]

log = logging.getLogger(__name__)

SORTS = ("relevance", "date", "upvotes")
CANDIDATES = 1000  # keyword matches considered; pages go up to this many results
# Nearest neighbours taken from the dense side. Every paper has *some* nearest neighbours, so this
# also bounds what a query with no real match returns (100 semantic guesses, not the archive).
DENSE_CANDIDATES = 100
MAX_PAGE_SIZE = 100


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


class SearchService(LazyEmbedder):
    def __new__(cls, engine: Engine, data_dir: str | Path, embedder_loader: Callable[[], Embedder] | None = None):
        """The backend that fits ``engine``: on PostgreSQL, :class:`~paperboy.search.pg.PgSearch`."""
        if cls is SearchService and engine.dialect.name == "postgresql":
            from paperboy.search.pg import PgSearch

            return PgSearch(engine, data_dir, embedder_loader)
        return super().__new__(cls)

    def __init__(self, engine: Engine, data_dir: str | Path, embedder_loader: Callable[[], Embedder] | None = None):
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.path = keyword_index_path(data_dir)
        self._embedder_loader = embedder_loader
        self._embedder: Embedder | None = None
        self._embedder_failed = False
        self._lock = threading.RLock()
        self._versions: tuple[int, int, int] | None = None
        self._kw_mtime: int | None = None
        self._ann_mtime: int | None = None
        self.catalog: Catalog | None = None
        self.keyword: KeywordIndex | None = None
        self.delta: KeywordIndex | None = None
        self.vectors: VectorIndex | None = None
        self.observer: Observer | None = None

    # -- operations (see search/backend.py) ----------------------------------------------------

    def ready(self) -> bool:
        return self._versions is not None

    def status(self) -> dict:
        return {
            "backend": "embedded",
            "ready": self.ready(),
            "papers": len(self.catalog) if self.catalog is not None else 0,
            "keyword_papers": (len(self.keyword) if self.keyword is not None else 0) + (len(self.delta) if self.delta is not None else 0),
            "vectors": int(self.vectors.present.sum()) if self.vectors is not None else 0,
            "graph": self.vectors is not None and self.vectors.ann is not None,
            "semantic": self._embedder is not None,
        }

    # -- keeping up with the database ----------------------------------------------------------

    def refresh(self) -> None:
        """Catch up with the database if anything moved since the last call (cheap when nothing did)."""
        with self.engine.connect() as conn:
            versions = dict(conn.execute(select(site_state.c.key, site_state.c.value)).all())
            current = (versions.get("content", 0), versions.get("votes", 0), versions.get("search", 0))
            with self._lock:
                if current == self._versions:
                    return
                if self._versions is not None and current[2] != self._versions[2] and self._keyword_file_changed():
                    self.keyword = None  # `paperboy index` wrote a new keyword index: take it
                if self._versions is None or current[0] != self._versions[0] or self.keyword is None:
                    self._reload(conn)
                elif current[1] != self._versions[1]:
                    refresh_votes(conn, self.catalog)
                self._load_vectors(conn)
                self._versions = current

    def _keyword_file_changed(self) -> bool:
        try:
            return self.path.stat().st_mtime_ns != self._kw_mtime
        except FileNotFoundError:
            return False

    def _reload(self, conn) -> None:
        old_ids = self.catalog.ids if self.catalog is not None else None
        self.catalog = load_catalog(conn)
        if self.keyword is None:
            self._kw_mtime = None
            if self.path.exists():
                try:
                    self._kw_mtime = self.path.stat().st_mtime_ns
                    self.keyword = KeywordIndex.load(self.path)
                except Exception as e:  # damaged file: rebuild in memory
                    log.warning("keyword index %s unreadable (%s); rebuilding", self.path, e)
            if self.keyword is None:
                self.keyword = build_keyword_index(keyword_documents(conn))
        known = self.keyword.max_paper_id
        newest = int(self.catalog.ids.max()) if len(self.catalog) else 0
        self.delta = build_keyword_index(keyword_documents(conn, known)) if newest > known else None
        self._kw_cols = self.catalog.columns(self.keyword.paper_ids) if len(self.keyword) else np.empty(0, np.int64)
        self._delta_cols = self.catalog.columns(self.delta.paper_ids) if self.delta is not None else None
        embedder = self.embedder
        if embedder is not None:
            if self.vectors is None:
                self.vectors = VectorIndex(embedder.dim, len(self.catalog))
            else:
                keep = np.full(len(old_ids), -1, np.int64)
                cols = np.searchsorted(self.catalog.ids, old_ids)
                ok = (cols < len(self.catalog.ids)) & (self.catalog.ids[np.minimum(cols, len(self.catalog.ids) - 1)] == old_ids)
                keep[ok] = cols[ok]
                self.vectors.resize(len(self.catalog), keep)

    def _load_vectors(self, conn) -> None:
        embedder = self.embedder
        if embedder is None or self.vectors is None:
            return
        self._load_ann(embedder)
        cols, vecs, seqs = [], [], []
        for seq, pid, vector in read_embeddings(conn, embedder.name, self.vectors.last_seq):
            self.vectors.last_seq = seq
            col = int(np.searchsorted(self.catalog.ids, pid))
            if col < len(self.catalog.ids) and self.catalog.ids[col] == pid and len(vector) == embedder.dim:
                cols.append(col)
                vecs.append(vector)
                seqs.append(seq)
        if cols:
            self.vectors.put(np.asarray(cols), np.vstack(vecs), np.asarray(seqs))

    def _load_ann(self, embedder: Embedder) -> None:
        """Take the HNSW graph `paperboy index` built, if there is one (or a newer one)."""
        path = ann_path(self.data_dir, embedder.name)
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._ann_mtime:
            return
        _load_onnxruntime_first()
        from usearch.index import Index

        try:
            ann = Index.restore(str(path), view=True)
            ann_seq = int(json.loads(path.with_suffix(".json").read_text())["seq"])
        except Exception as e:  # a damaged graph only costs speed: exact search still answers
            log.warning("vector graph %s unusable (%s); searching exactly", path, e)
            return
        self.vectors.ann, self.vectors.ann_seq, self._ann_mtime = ann, ann_seq, mtime
        # Which vectors the graph lacks is known from their seq: read them all again once.
        self.vectors.fresh[:] = False
        self.vectors.last_seq = 0

    # -- retrieval -----------------------------------------------------------------------------

    def _keyword(self, text: str, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Columns and BM25 scores of matching papers (base index + papers added since), best first."""
        parts_cols, parts_scores = [], []
        for index, colmap in ((self.keyword, self._kw_cols), (self.delta, self._delta_cols)):
            if index is None or not len(index):
                continue
            local, scores = index.scores(index.query_terms(text))
            parts_cols.append(colmap[local])
            parts_scores.append(scores)
        if not parts_cols:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        cols = np.concatenate(parts_cols)
        scores = np.concatenate(parts_scores)
        keep = mask[cols]
        cols, scores = cols[keep], scores[keep]
        if len(cols) > CANDIDATES:
            top = np.argpartition(-scores, CANDIDATES - 1)[:CANDIDATES]
            cols, scores = cols[top], scores[top]
        order = np.argsort(-scores, kind="stable")
        return cols[order], scores[order]

    def _author_mask(self, conn, authors: list[str]) -> np.ndarray:
        """Papers with an author matching every ``author:`` (all its words, in any name of the paper)."""
        keep = np.ones(len(self.catalog), bool)
        for author in authors:
            needles = [w for w in words(author) if w]
            if not needles:
                continue
            pattern = "%" + "%".join(needles) + "%"
            pids = conn.execute(select(paper_authors.c.paper_id).where(paper_authors.c.name_key.like(pattern)).distinct()).scalars().all()
            m = np.zeros(len(self.catalog), bool)
            if pids:
                cols = np.searchsorted(self.catalog.ids, np.asarray(pids, np.int64))
                cols = cols[cols < len(self.catalog)]
                m[cols] = True
            keep &= m
        return keep

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
        fusion: Fusion = fuse,
    ) -> SearchResults:
        """One page of results. ``semantic``/``keyword`` switch a side off (for benchmarks and fallbacks);
        ``fusion`` combines the two sides' candidates (benchmarks compare :func:`~paperboy.search.fusion.rrf`
        or ``partial(fuse, keyword_weight=w)`` with the default)."""
        with observed(self, "search"):
            return self._search(raw, categories=categories, author=author, after=after, before=before, sort=sort, page=page,
                                per_page=per_page, semantic=semantic, keyword=keyword, fusion=fusion)  # fmt: skip

    def _search(self, raw, *, categories, author, after, before, sort, page, per_page, semantic, keyword, fusion) -> SearchResults:
        q, result = parse_request(raw, categories=categories, author=author, after=after, before=before, sort=sort, page=page, per_page=per_page)
        if result.redirect or q.empty:
            return result
        per_page = result.per_page
        self.refresh()
        with self._lock, self.engine.connect() as conn:
            cat = self.catalog
            mask = cat.mask(categories=q.categories, after=q.after, before=q.before)
            if q.authors:
                mask &= self._author_mask(conn, q.authors)
            text = q.searchable
            if text:
                kw_cols, kw_scores = self._keyword(text, mask) if keyword else (np.empty(0, np.int64), np.empty(0, np.float32))
                embedder = self.embedder if semantic else None
                result.semantic = embedder is not None and self.vectors is not None and bool(self.vectors.present.any())
                if self.vectors is not None:
                    visible = ~cat.hidden
                    result.embedded, result.searchable = int((self.vectors.present & visible).sum()), int(visible.sum())
                if result.semantic:
                    qv = embedder.embed_query(text)
                    dense_cols, dense_sims = self.vectors.top(qv, mask, DENSE_CANDIDATES, cat.ids)
                    matrix = self.vectors.matrix
                    cols, _ = fusion(kw_cols, kw_scores, lambda c: matrix[c] @ qv, dense_cols, dense_sims)
                else:
                    cols = kw_cols
                if q.phrases:
                    cols = self._with_phrases(conn, cols, q.phrases)
            else:  # filters only: everything they allow, newest first
                cols = np.flatnonzero(mask)
                cols = cols[np.argsort(-cat.day[cols], kind="stable")]
                if result.sort == "relevance":
                    result.sort = "date"
            if result.sort == "date":
                cols = cols[np.argsort(-cat.day[cols], kind="stable")]
            elif result.sort == "upvotes":
                cols = cols[np.argsort(-cat.upvotes[cols], kind="stable")]
            result.total = len(cols)
            start = (result.page - 1) * per_page
            page_cols = cols[start : start + per_page]
            ids = [int(cat.ids[c]) for c in page_cols]
            result.papers = [p for p in repo.get_papers(conn, ids) if p.hidden_at is None]
        return result

    def _with_phrases(self, conn, cols: np.ndarray, phrases: list[str]) -> np.ndarray:
        """Keep the candidates whose title or abstract contains every phrase, word for word."""
        if not len(cols):
            return cols
        keep = phrase_filter(conn, self.catalog.ids[cols[:CANDIDATES]], phrases)
        return cols[:CANDIDATES][np.asarray(keep, bool)]

    # -- related papers ------------------------------------------------------------------------

    def related(self, paper_id: int, k: int = 8) -> list[tuple[int, float]]:
        """:func:`~paperboy.search.related.related_papers` over this process's indexes, brought up to date first."""
        with observed(self, "related"):
            self.refresh()
            with self._lock, self.engine.connect() as conn:
                return related_papers(conn, self.catalog, self.vectors, self._keyword, paper_id, k)


def parse_request(raw: str, *, categories, author, after, before, sort, page, per_page) -> tuple[ParsedQuery, SearchResults]:
    """The query and the (still empty) results every backend starts from: the query parsed, the form's
    filters added, page bounds applied; ``result.redirect`` set for an arXiv id, a note for an empty query."""
    q = parse_query(raw)
    per_page = max(1, min(per_page, MAX_PAGE_SIZE))
    result = SearchResults(query=q, page=max(1, page), per_page=per_page, sort=sort if sort in SORTS else "relevance")
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
