"""The search service: one object per process that answers searches and "related papers".

:class:`SearchService` is the embedded backend, the one for SQLite; on PostgreSQL
(:class:`~paperboy.search.pg.PgSearch`) the indexes are inside the database. Both are search
backends (:class:`~paperboy.search.backend.SearchBackend`), opened by
:func:`~paperboy.search.backend.open_search`. The embedded backend keeps,
in memory and in step with the database, the :class:`Catalog` (filters and sorts), the
BM25 :class:`KeywordIndex` (loaded from its file, plus papers added since, indexed on the fly) and
the :class:`VectorIndex`, together an immutable :class:`Snapshot`. Before each search it reads the
database's content/search versions (one query) and catches up if they moved, so any number of
processes stay consistent; a big catch-up (an import) is built in the background and swapped in,
queries answering from the old snapshot meanwhile (:meth:`SearchService.refresh`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, select

from paperboy.search.backend import CANDIDATES, DENSE_CANDIDATES, LazyEmbedder, Observer, SearchResults, observed, phrase_filter
from paperboy.search.backend import fill_page, filters_only, page_slice, parse_request
from paperboy.search.catalog import Catalog, load_catalog, refresh_votes
from paperboy.search.embedder import Embedder
from paperboy.search.fusion import Fusion, fuse
from paperboy.search.indexer import ann_path, keyword_documents, keyword_index_path, vector_file_path
from paperboy.search.keyword import KeywordIndex, build_keyword_index
from paperboy.search.related import related_papers
from paperboy.search.text import words
from paperboy.search.vectors import VectorIndex, load_onnxruntime_first, read_embeddings
from paperboy.store.schema import paper_authors, paper_embeddings, papers, site_state

__all__ = ["SearchService", "Snapshot"]

log = logging.getLogger(__name__)

@dataclass(frozen=True, eq=False)
class Snapshot:
    """What the embedded backend answers from, at one set of database versions. Never changed once
    made (except vector rows arriving for papers that had none, see :meth:`SearchService.refresh`):
    a catch-up builds a new one and swaps it in; a query takes the current one once and uses only it."""

    versions: tuple[int, int, int]  # site_state content, votes, search when it was read
    catalog: Catalog
    keyword: KeywordIndex
    delta: KeywordIndex | None  # papers newer than the keyword index file, indexed in memory
    kw_cols: np.ndarray
    delta_cols: np.ndarray | None
    vectors: VectorIndex | None
    kw_mtime: int | None
    ann_mtime: int | None
    vectors_mtime: int | None = None  # of the vectors file the rows are mapped from


class SearchService(LazyEmbedder):
    """The embedded backend. Catching up with the database never makes a query wait: small changes
    (votes, a few new papers, new vectors, a new graph) are applied by the query that notices them;
    big ones (an import of many papers, a new keyword index file, many new vectors) are built in a
    background thread while queries go on answering from the snapshot they had. One catch-up at a
    time: a query that finds one under way answers from the current snapshot."""

    #: Papers past the keyword index file, or new vectors, that a query still catches up with itself.
    SMALL_CHANGE = 2_000

    def __init__(self, engine: Engine, data_dir: str | Path, embedder_loader: Callable[[], Embedder] | None = None, *,
                 small_change: int | None = None, before_background: Callable[[], None] | None = None,
                 postings_cache_bytes: int | None = None):  # fmt: skip
        """``small_change`` overrides :attr:`SMALL_CHANGE`; ``before_background`` is called in the
        background thread before it builds (tests hold a rebuild with it); ``postings_cache_bytes``
        is for the PostgreSQL backend (``Settings.search_postings_cache_mb``): this one's keyword
        index is in memory already."""
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.path = keyword_index_path(data_dir)
        self._embedder_loader = embedder_loader
        self._embedder: Embedder | None = None
        self._embedder_failed = False
        self.small_change = self.SMALL_CHANGE if small_change is None else small_change
        self.before_background = before_background
        self._state: Snapshot | None = None
        self._first = threading.Lock()  # the first load: queries wait for it (there is nothing to answer from)
        self._catching_up = threading.Lock()  # held by whoever is catching up, inline or in the background
        self._background: threading.Thread | None = None
        self.observer: Observer | None = None

    # -- the current snapshot ------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot | None:
        return self._state

    @property
    def catalog(self) -> Catalog | None:
        return self._state.catalog if self._state is not None else None

    @property
    def keyword(self) -> KeywordIndex | None:
        return self._state.keyword if self._state is not None else None

    @property
    def delta(self) -> KeywordIndex | None:
        return self._state.delta if self._state is not None else None

    @property
    def vectors(self) -> VectorIndex | None:
        return self._state.vectors if self._state is not None else None

    def snapshot_key(self) -> str:
        """Names the snapshot queries answer from now (its content and search versions): a cache
        of results keyed by it never keeps an old snapshot's answers under newer versions."""
        s = self._state
        return f"{s.versions[0]}.{s.versions[2]}" if s is not None else ""

    # -- operations (see search/backend.py) ----------------------------------------------------

    def ready(self) -> bool:
        return self._state is not None

    def status(self) -> dict:
        s = self._state
        return {
            "backend": "embedded",
            "ready": s is not None,
            "papers": len(s.catalog) if s is not None else 0,
            "keyword_papers": (len(s.keyword) + (len(s.delta) if s.delta is not None else 0)) if s is not None else 0,
            "vectors": int(s.vectors.present.sum()) if s is not None and s.vectors is not None else 0,
            "vectors_mapped": s.vectors.mapped if s is not None and s.vectors is not None else 0,
            "graph": s is not None and s.vectors is not None and s.vectors.ann is not None,
            "semantic": self._embedder is not None,
            "catching_up": self.catching_up(),
        }

    # -- keeping up with the database ----------------------------------------------------------

    def refresh(self) -> None:
        """Catch up with the database if anything moved since the snapshot was made (one query when
        nothing did). Never waits for a catch-up under way, except for the very first load."""
        if self._state is None:
            with self._first:
                if self._state is None:
                    with self.engine.connect() as conn:
                        self._state = self._build(conn, None, self._read_versions(conn))
            return
        with self.engine.connect() as conn:
            current = self._read_versions(conn)
            old = self._state
            if current == old.versions or not self._catching_up.acquire(blocking=False):
                return
            handed_over = False
            try:
                old = self._state  # another thread may have swapped meanwhile
                if current == old.versions:
                    return
                if self._is_big(conn, old, current):
                    self._background = threading.Thread(target=self._catch_up_in_background, name="search-catch-up", daemon=True)
                    self._background.start()  # it releases the lock when done
                    handed_over = True
                    return
                self._state = self._build(conn, old, current)
            finally:
                if not handed_over:
                    self._catching_up.release()

    def catching_up(self) -> bool:
        """Whether a background catch-up is under way."""
        return self._background is not None and self._background.is_alive()

    def wait_for_catch_up(self, timeout: float | None = None) -> bool:
        """Wait for a background catch-up under way to be swapped in; ``False`` on timeout."""
        thread = self._background
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _catch_up_in_background(self) -> None:
        try:
            if self.before_background is not None:
                self.before_background()
            with self.engine.connect() as conn:
                old = self._state
                self._state = self._build(conn, old, self._read_versions(conn))
        except Exception:  # the database went away: the next query that notices the change tries again
            log.exception("search catch-up failed")
        finally:
            self._catching_up.release()

    @staticmethod
    def _read_versions(conn) -> tuple[int, int, int]:
        versions = dict(conn.execute(select(site_state.c.key, site_state.c.value)).all())
        return versions.get("content", 0), versions.get("votes", 0), versions.get("search", 0)

    def _keyword_file_changed(self, old: Snapshot) -> bool:
        mtime = _mtime(self.path)
        return mtime is not None and mtime != old.kw_mtime

    def _vector_file_changed(self, old: Snapshot) -> bool:
        embedder = self._embedder
        if embedder is None:
            return False
        mtime = _mtime(vector_file_path(self.data_dir, embedder.name))
        return mtime is not None and mtime != old.vectors_mtime

    def _is_big(self, conn, old: Snapshot, current: tuple[int, int, int]) -> bool:
        """Whether catching up from ``old`` is work for the background: a new keyword index or
        vectors file to load, or more than :attr:`small_change` papers to index in memory or vectors to read."""
        if current[2] != old.versions[2] and (self._keyword_file_changed(old) or self._vector_file_changed(old)):
            return True
        if current[0] != old.versions[0]:
            pending = conn.execute(select(func.count()).select_from(papers).where(papers.c.id > old.keyword.max_paper_id)).scalar() or 0
            if pending > self.small_change:
                return True
        if current[2] != old.versions[2] and old.vectors is not None and self.embedder is not None:
            new = conn.execute(select(func.count()).select_from(paper_embeddings).where(
                paper_embeddings.c.model == self.embedder.name, paper_embeddings.c.seq > old.vectors.last_seq)).scalar() or 0  # fmt: skip
            if new > self.small_change:
                return True
        return False

    def _build(self, conn, old: Snapshot | None, current: tuple[int, int, int]) -> Snapshot:
        """The snapshot at ``current`` (read in ``conn`` before anything else, so what is read below
        is at least that new), reusing what has not changed since ``old``."""
        keyword, kw_mtime = (old.keyword, old.kw_mtime) if old is not None else (None, None)
        if old is not None and current[2] != old.versions[2] and self._keyword_file_changed(old):
            keyword = None  # `paperboy index` wrote a new keyword index: take it
        if keyword is None:
            keyword, kw_mtime = self._load_keyword(conn)
        if old is None or current[0] != old.versions[0] or keyword is not old.keyword:
            catalog = load_catalog(conn)
            known = keyword.max_paper_id
            newest = int(catalog.ids.max()) if len(catalog) else 0
            delta = build_keyword_index(keyword_documents(conn, known)) if newest > known else None
            kw_cols = catalog.columns(keyword.paper_ids) if len(keyword) else np.empty(0, np.int64)
            delta_cols = catalog.columns(delta.paper_ids) if delta is not None else None
        else:
            catalog, delta, kw_cols, delta_cols = old.catalog, old.delta, old.kw_cols, old.delta_cols
            if current[1] != old.versions[1]:
                catalog = replace(catalog, upvotes=catalog.upvotes.copy())
                refresh_votes(conn, catalog)
        vectors, ann_mtime, vectors_mtime = self._vectors_for(conn, old, catalog)
        return Snapshot(current, catalog, keyword, delta, kw_cols, delta_cols, vectors, kw_mtime, ann_mtime, vectors_mtime)

    def _load_keyword(self, conn) -> tuple[KeywordIndex, int | None]:
        if self.path.exists():
            try:
                mtime = self.path.stat().st_mtime_ns
                return KeywordIndex.load(self.path), mtime
            except Exception as e:  # damaged file: rebuild in memory
                log.warning("keyword index %s unreadable (%s); rebuilding", self.path, e)
        return build_keyword_index(keyword_documents(conn)), None

    def _vectors_for(self, conn, old: Snapshot | None, catalog: Catalog) -> tuple[VectorIndex | None, int | None, int | None]:
        """The vectors aligned with ``catalog``: mapped from a new vectors file if `paperboy index` or
        the worker wrote one; else the old snapshot's when its papers are the same (new rows are
        written into it: rows of papers that had none, or a re-embedded paper's), else a re-mapped
        copy; plus the vectors written since, and a new HNSW graph if there is one."""
        embedder = self.embedder
        if embedder is None:
            return None, None, None
        ann_mtime = old.ann_mtime if old is not None else None
        vectors_mtime = old.vectors_mtime if old is not None else None
        file_mtime = _mtime(vector_file_path(self.data_dir, embedder.name))
        vectors = None
        if file_mtime is not None and file_mtime != vectors_mtime:
            try:
                vectors = VectorIndex.from_file(vector_file_path(self.data_dir, embedder.name), catalog.ids, embedder.dim)
                vectors_mtime = file_mtime
            except Exception as e:  # damaged or foreign: the table still has every vector
                log.warning("vectors file unusable (%s); reading vectors from the database", e)
        if vectors is not None:
            if old is not None and old.vectors is not None and old.vectors.ann is not None:
                vectors = vectors.with_graph(old.vectors.ann, old.vectors.ann_seq)
        elif old is None or old.vectors is None:
            vectors = VectorIndex(embedder.dim, len(catalog))
        elif catalog.ids is old.catalog.ids or np.array_equal(catalog.ids, old.catalog.ids):
            vectors = old.vectors
        else:
            old_ids = old.catalog.ids
            keep = np.full(len(old_ids), -1, np.int64)
            cols = np.searchsorted(catalog.ids, old_ids)
            ok = (cols < len(catalog.ids)) & (catalog.ids[np.minimum(cols, len(catalog.ids) - 1)] == old_ids) if len(catalog.ids) else np.zeros(len(old_ids), bool)
            keep[ok] = cols[ok]
            vectors = old.vectors.remapped(len(catalog), keep)
        graph = self._new_graph(embedder, ann_mtime)
        if graph is not None:
            ann, ann_seq, ann_mtime = graph
            vectors = vectors.with_graph(ann, ann_seq)
        cols, vecs, seqs = [], [], []

        def put() -> None:  # in chunks: the rows' buffers are freed as they go, not all held at once
            if cols:
                vectors.put(np.asarray(cols), np.vstack(vecs), np.asarray(seqs))
                cols.clear(), vecs.clear(), seqs.clear()

        for seq, pid, vector in read_embeddings(conn, embedder.name, vectors.last_seq):
            vectors.last_seq = seq
            col = int(np.searchsorted(catalog.ids, pid))
            if col < len(catalog.ids) and catalog.ids[col] == pid and len(vector) == embedder.dim:
                cols.append(col)
                vecs.append(vector)
                seqs.append(seq)
                if len(cols) >= 5_000:
                    put()
        put()
        return vectors, ann_mtime, vectors_mtime

    def _new_graph(self, embedder: Embedder, known_mtime: int | None):
        """(graph, its seq, file mtime) of the HNSW graph `paperboy index` built, if it is new."""
        path = ann_path(self.data_dir, embedder.name)
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if mtime == known_mtime:
            return None
        load_onnxruntime_first()
        from usearch.index import Index

        try:
            ann = Index.restore(str(path), view=True)
            ann_seq = int(json.loads(path.with_suffix(".json").read_text())["seq"])
        except Exception as e:  # a damaged graph only costs speed: exact search still answers
            log.warning("vector graph %s unusable (%s); searching exactly", path, e)
            return None
        return ann, ann_seq, mtime

    # -- retrieval -----------------------------------------------------------------------------

    def _keyword(self, text: str, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_keyword_in` the current snapshot."""
        return self._keyword_in(self._state, text, mask)

    @staticmethod
    def _keyword_in(s: Snapshot, text: str, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Columns and BM25 scores of matching papers (base index + papers added since), best first."""
        parts_cols, parts_scores = [], []
        for index, colmap in ((s.keyword, s.kw_cols), (s.delta, s.delta_cols)):
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

    @staticmethod
    def _author_mask(conn, catalog: Catalog, authors: list[str]) -> np.ndarray:
        """Papers with an author matching every ``author:`` (all its words, in any name of the paper)."""
        keep = np.ones(len(catalog), bool)
        for author in authors:
            needles = [w for w in words(author) if w]
            if not needles:
                continue
            pattern = "%" + "%".join(needles) + "%"
            pids = conn.execute(select(paper_authors.c.paper_id).where(paper_authors.c.name_key.like(pattern)).distinct()).scalars().all()
            m = np.zeros(len(catalog), bool)
            if pids:
                cols = np.searchsorted(catalog.ids, np.asarray(pids, np.int64))
                cols = cols[cols < len(catalog)]
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
        self.refresh()
        s = self._state  # this query's snapshot, whatever is swapped in meanwhile
        with self.engine.connect() as conn:
            cat, vectors = s.catalog, s.vectors
            mask = cat.mask(categories=q.categories, after=q.after, before=q.before)
            if q.authors:
                mask &= self._author_mask(conn, cat, q.authors)
            text = q.searchable
            if text:
                kw_cols, kw_scores = self._keyword_in(s, text, mask) if keyword else (np.empty(0, np.int64), np.empty(0, np.float32))
                embedder = self.embedder if semantic else None
                result.semantic = embedder is not None and vectors is not None and bool(vectors.present.any())
                if vectors is not None:
                    visible = ~cat.hidden
                    result.embedded, result.searchable = int((vectors.present & visible).sum()), int(visible.sum())
                if result.semantic:
                    qv = embedder.embed_query(text)
                    dense_cols, dense_sims = vectors.top(qv, mask, DENSE_CANDIDATES, cat.ids)
                    cols, _ = fusion(kw_cols, kw_scores, lambda c: vectors.similarities(c, qv), dense_cols, dense_sims)
                else:
                    cols = kw_cols
                if q.phrases:
                    cols = self._with_phrases(conn, cat, cols, q.phrases)
            else:  # filters only: everything they allow, newest first
                cols = np.flatnonzero(mask)
                cols = cols[np.argsort(-cat.day[cols], kind="stable")]
                filters_only(result)
            if result.sort == "date":
                cols = cols[np.argsort(-cat.day[cols], kind="stable")]
            elif result.sort == "upvotes":
                cols = cols[np.argsort(-cat.upvotes[cols], kind="stable")]
            return fill_page(conn, result, cat.ids[cols[page_slice(result)]], len(cols))

    @staticmethod
    def _with_phrases(conn, catalog: Catalog, cols: np.ndarray, phrases: list[str]) -> np.ndarray:
        """Keep the candidates whose title or abstract contains every phrase, word for word."""
        if not len(cols):
            return cols
        keep = phrase_filter(conn, catalog.ids[cols[:CANDIDATES]], phrases)
        return cols[:CANDIDATES][np.asarray(keep, bool)]

    # -- related papers ------------------------------------------------------------------------

    def related(self, paper_id: int, k: int = 8) -> list[tuple[int, float]]:
        """:func:`~paperboy.search.related.related_papers` over this process's indexes, brought up to date first."""
        with observed(self, "related"):
            self.refresh()
            s = self._state
            with self.engine.connect() as conn:
                return related_papers(conn, s.catalog, s.vectors, lambda text, mask: self._keyword_in(s, text, mask), paper_id, k)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
