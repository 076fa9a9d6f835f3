"""The PostgreSQL search backend: the database holds and serves every index, the process holds none.

:class:`PgSearch` answers the same queries as the embedded backend
(:class:`~paperboy.search.service.SearchService` on SQLite), with the same ranking:

* **Keyword**: BM25 from the impact postings of :mod:`paperboy.search.pg_index` — each query reads
  the rows of its own terms (paper ids + precomputed impacts, one row per term) and sums them, as
  the embedded backend sums rows of its in-memory matrix. So the scores are the embedded BM25's
  (PostgreSQL's ``ts_rank`` scores SciFact 0.563 against BM25's 0.693: ranking stays ours; the
  database holds it). Papers added since the newest generation are indexed in this process, the
  embedded backend's "delta" (a day's papers between the worker's rebuilds, not the corpus).
* **Dense**: pgvector, cosine, over the per-model HNSW index; exact (a scan of the allowed rows)
  when a filter lets few papers through, see :data:`EXACT_LIMIT`.
* **Filters and sorts** in SQL: every filter (visibility, categories, authors, dates) is one set of
  conditions on ``papers``. A selective filter is resolved first into the allowed paper ids (both
  sides then search only those: exact, never an empty page); a broad one is checked on the
  candidates after ranking, fetching more until enough pass. So no filter empties a page when
  matches exist.

Fusion (:mod:`~paperboy.search.fusion`), query syntax (:mod:`~paperboy.search.query`), phrases
(:func:`~paperboy.search.backend.phrase_filter`), the author nudge of related papers
(:func:`~paperboy.search.related.author_nudge`), :class:`~paperboy.search.backend.SearchResults` and
the end of a search (:mod:`~paperboy.search.backend`) are the embedded backend's, not copies. A web node needs nothing in its data directory.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sqlalchemy import ARRAY, BigInteger, Engine, Float, any_, bindparam, cast, func, literal, literal_column, select, text
from sqlalchemy.types import UserDefinedType

from paperboy.config import Settings
from paperboy.search.backend import CANDIDATES, DENSE_CANDIDATES, LazyEmbedder, Observer, SearchResults, observed, phrase_filter
from paperboy.search.backend import fill_page, filters_only, page_slice, parse_request
from paperboy.search.fusion import Fusion, fuse
from paperboy.search.indexer import keyword_documents
from paperboy.search.keyword import KeywordIndex, build_keyword_index
from paperboy.search.pg_index import model_literal, search_generations, search_postings, vector_literal
from paperboy.search.related import Related, author_nudge
from paperboy.search.text import analyze, words
from paperboy.store.schema import paper_authors, paper_categories, paper_embeddings, papers, site_state

__all__ = ["DELTA_WARN", "EXACT_LIMIT", "HIDDEN_CACHE", "PgSearch"]

log = logging.getLogger(__name__)

#: A filter that lets at most this many papers through is resolved into their ids first, and both
#: sides search exactly within them; above it the HNSW index is asked for more neighbours than needed
#: and the filter applied after (pgvector 0.6 filters after the index scan). See docs/benchmarks.md.
EXACT_LIMIT = 20_000
#: Nearest neighbours asked of the HNSW index (``hnsw.ef_search``, also how many it returns) per
#: neighbour wanted under a broad filter, then up to pgvector's ceiling before the exact path answers.
#: Without a filter (only hidden papers to drop) it is asked for :data:`EF_SEARCH` (≥ k + a margin).
DENSE_OVERFETCH = 4
EF_SEARCH = 200
EF_SEARCH_MAX = 1000
#: Papers indexed in this process beyond the database's keyword index before it says so in the log:
#: `paperboy index` (the worker's daily step) has not run for a long while, or never.
DELTA_WARN = 50_000
#: Hidden papers (moderation) are few: up to this many, their ids are kept here and dropped from
#: unfiltered keyword candidates without asking the database; beyond it the database checks.
HIDDEN_CACHE = 10_000
#: Postings of at least :data:`POSTINGS_CACHE_MIN` bytes are kept in this process once read, up to
#: ``Settings.search_postings_cache_mb`` (least recently used out first; dropped whole when a new
#: keyword generation lands). A common term's postings run to megabytes at 1M papers, and reading
#: them out of PostgreSQL (thousands of TOAST chunks) cost more than all the rest of a long query's
#: keyword side; short postings are read fast enough (docs/benchmarks.md).
POSTINGS_CACHE_MIN = 256 << 10


#: Runs a query's dense side beside its keyword side (one thread per search in flight).
_SIDES = ThreadPoolExecutor(max_workers=16, thread_name_prefix="pg-dense")


class _Vector(UserDefinedType):
    """pgvector's ``vector(dim)``, for casts in queries (the column itself has no fixed dimension)."""

    cache_ok = True

    def __init__(self, dim: int):
        self.dim = int(dim)

    def get_col_spec(self, **kw) -> str:
        return f"vector({self.dim})"


def _ids_param(ids) -> object:
    """``= ANY(array)``: an index probe per id — for the at most ~1,100 candidates of one page."""
    return any_(bindparam(None, [int(i) for i in ids], type_=ARRAY(BigInteger)))


def _in_ids(column, ids):
    """``column IN (SELECT unnest(array))``: a semi-join the planner can hash — for thousands of ids,
    where ``= ANY`` on a scan tests each row against the whole array (measured: 10,000 ids, 1.6 s)."""
    return column.in_(select(func.unnest(bindparam(None, [int(i) for i in ids], type_=ARRAY(BigInteger)))).scalar_subquery())


class PgSearch(LazyEmbedder):
    """The PostgreSQL backend (see the module docstring); opened by :func:`~paperboy.search.backend.open_search`."""

    def __init__(self, engine: Engine, data_dir: str | Path, embedder_loader=None, *, postings_cache_bytes: int | None = None):
        self.engine = engine
        self.data_dir = Path(data_dir)  # unused: nothing is read from it (kept for the shared signature)
        self._embedder_loader = embedder_loader
        self._lock = threading.RLock()
        self._versions: tuple[int, int] | None = None
        self.generation: int | None = None  # newest complete keyword generation
        self.generation_max_id = 0  # papers up to this id are in it
        self.generation_papers = 0
        self.delta: KeywordIndex | None = None  # papers newer than the generation, indexed here
        self.delta_upto = 0
        self.has_vectors = False
        self.hidden: np.ndarray | None = None  # ids of hidden papers, when there are few
        self.observer: Observer | None = None
        self._dense_pool: Engine | None = None
        self.postings = PostingsCache(Settings().search_postings_cache_mb << 20 if postings_cache_bytes is None else postings_cache_bytes)

    # -- operations ----------------------------------------------------------------------------

    def ready(self) -> bool:
        return self._versions is not None

    def status(self) -> dict:
        return {
            "backend": "postgresql",
            "ready": self.ready(),
            "keyword_generation": self.generation,
            "keyword_papers": self.generation_papers + (len(self.delta) if self.delta is not None else 0),
            "delta_papers": len(self.delta) if self.delta is not None else 0,
            "vectors": self.has_vectors,
            "semantic": self._embedder is not None,
            "postings_cached_terms": len(self.postings),
            "postings_cached_bytes": self.postings.bytes,
        }

    # -- keeping up with the database ----------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Catch up if the content or search version moved (one small query when nothing did)."""
        with self.engine.connect() as conn:
            versions = dict(conn.execute(select(site_state.c.key, site_state.c.value).where(site_state.c.key.in_(("content", "search")))).all())
            current = (versions.get("content", 0), versions.get("search", 0))
            with self._lock:
                if current == self._versions and not force:
                    return
                gen = conn.execute(
                    select(search_generations.c.generation, search_generations.c.max_paper_id, search_generations.c.papers)
                    .where(search_generations.c.complete).order_by(search_generations.c.generation.desc()).limit(1)
                ).first()  # fmt: skip
                generation, base, count = (gen[0], gen[1], gen[2]) if gen else (None, 0, 0)
                if generation != self.generation or self.delta_upto < base:
                    self.generation, self.generation_max_id, self.generation_papers = generation, base, count
                    self.delta, self.delta_upto = None, base
                newest = conn.execute(select(func.max(papers.c.id))).scalar() or 0
                if newest > self.delta_upto:
                    # Rebuilt whole (not appended to): its statistics are its own, as the embedded delta's.
                    delta = build_keyword_index(keyword_documents(conn, base))
                    self.delta, self.delta_upto = (delta if len(delta) else None), newest
                    if len(delta) > DELTA_WARN:
                        log.warning("%d papers are not in the database's keyword index and were indexed in this process; "
                                    "run `paperboy index` (the worker does it daily)", len(delta))  # fmt: skip
                hidden = conn.execute(select(papers.c.id).where(papers.c.hidden_at.is_not(None)).limit(HIDDEN_CACHE + 1)).scalars().all()
                self.hidden = np.asarray(hidden, np.int64) if len(hidden) <= HIDDEN_CACHE else None
                embedder = self.embedder
                self.has_vectors = embedder is not None and conn.execute(
                    select(literal(1)).select_from(paper_embeddings)
                    .where(paper_embeddings.c.model == embedder.name, text("paper_embeddings.embedding IS NOT NULL")).limit(1)
                ).first() is not None  # fmt: skip
                self._versions = current

    # -- filters -------------------------------------------------------------------------------

    @staticmethod
    def _conditions(q) -> list:
        """The query's filters as conditions on ``papers`` (visibility always)."""
        conds = [papers.c.hidden_at.is_(None)]
        if q.categories:
            in_category = select(paper_categories.c.paper_id).where(paper_categories.c.scheme == "arxiv", paper_categories.c.code.in_(q.categories))
            conds.append(papers.c.id.in_(in_category))
        if q.after:
            conds.append(papers.c.announced >= q.after)
        if q.before:
            conds.append(papers.c.announced < q.before)
        for author in q.authors:  # every word of each author:, in any name of the paper (as the embedded backend)
            needles = [w for w in words(author) if w]
            if needles:
                conds.append(papers.c.id.in_(select(paper_authors.c.paper_id).where(paper_authors.c.name_key.like("%" + "%".join(needles) + "%"))))
        return conds

    @staticmethod
    def _allowed(conn, q, conds) -> np.ndarray | None:
        """The ids a selective filter allows (sorted), or ``None`` for a broad one (or none)."""
        if not q.has_filters:
            return None
        ids = conn.execute(select(papers.c.id).where(*conds).limit(EXACT_LIMIT + 1)).scalars().all()
        return np.sort(np.asarray(ids, np.int64)) if len(ids) <= EXACT_LIMIT else None

    @staticmethod
    def _passing(conn, ids: np.ndarray, conds) -> np.ndarray:
        """Which of ``ids`` pass ``conds``, as a boolean mask aligned with ``ids``."""
        if not len(ids):
            return np.zeros(0, bool)
        ok = conn.execute(select(papers.c.id).where(_in_ids(papers.c.id, ids) if len(ids) > 2_000 else papers.c.id == _ids_param(ids), *conds)).scalars().all()
        return np.isin(ids, np.asarray(ok, np.int64))

    # -- keyword -------------------------------------------------------------------------------

    def _keyword_scores(self, conn, text_: str) -> np.ndarray:
        """BM25 scores of every paper for the query, indexed by paper id (0: no term matches;
        unfiltered). Dense, not (ids, scores): a common term's postings run to millions, and adding
        them into an array by id, then picking the best from it, costs a fraction of gathering the
        matches into a sparse list (measured, docs/benchmarks.md)."""
        terms = Counter(analyze(text_))
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        if terms and self.generation is not None:
            generation = self.generation
            postings = self.postings.get(generation, terms)
            # Read in binary: the postings of common terms run to megabytes, and as text (hex) they
            # took four times as long to send and decode (measured: 572 KB, 5.9 ms vs 1.5 ms). The
            # outer join yields the newest generation even when every term's postings are cached.
            with conn.connection.driver_connection.cursor(binary=True) as cur:
                cur.execute(
                    f"SELECT g.generation, p.term, p.paper_ids, p.impacts"
                    f" FROM (SELECT max(generation) AS generation FROM {search_generations.name} WHERE complete) g"
                    f" LEFT JOIN {search_postings.name} p ON p.generation = g.generation AND p.term = ANY(%s)",
                    ([t for t in terms if t not in postings],),
                )  # fmt: skip
                rows = cur.fetchall()
            if rows[0][0] != generation:  # a new generation landed since the last refresh
                self.refresh(force=True)
                return self._keyword_scores(conn, text_)
            for _, term, ids, impacts in rows:
                if term is not None:
                    postings[term] = self.postings.put(generation, term, np.frombuffer(ids, "<u4"), np.frombuffer(impacts, "<f4"))
            parts = [(ids, impacts * np.float32(terms[term])) for term, (ids, impacts) in postings.items()]
        if terms and self.delta is not None:
            cols, scores = self.delta.scores(self.delta.query_terms(text_))
            parts.append((self.delta.paper_ids[cols], scores))
        size = max((int(ids[-1]) + 1 for ids, _ in parts if len(ids)), default=0)  # each part's ids ascend
        summed = np.zeros(size, np.float32)  # transient: 4 MB at 1M papers
        for ids, scores in parts:
            np.add.at(summed, ids, scores)
        return summed

    def _keyword(self, conn, text_: str, allowed: np.ndarray | None, conds, filtered: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The best :data:`CANDIDATES` keyword matches that pass the filter, best first (``filtered``:
        ``conds`` holds more than visibility)."""
        summed = self._keyword_scores(conn, text_)
        if allowed is not None:
            ids = allowed[allowed < len(summed)]
            ids = ids[summed[ids] > 0]
            ids, scores = _ranked(ids, summed[ids])
            return ids[:CANDIDATES], scores[:CANDIDATES]
        hidden = self.hidden
        if not filtered and hidden is not None:
            summed[hidden[hidden < len(summed)]] = 0
            return _best(summed, CANDIDATES)
        # Broad filter (or visibility only): rank, then check the best in growing slices until enough pass.
        head_ids, head_scores = _best(summed, 2 * CANDIDATES)
        ok = self._passing(conn, head_ids, conds)
        out_ids, out_scores = [head_ids[ok]], [head_scores[ok]]
        have = int(ok.sum())
        if have < CANDIDATES and len(head_ids) == 2 * CANDIDATES:
            summed[head_ids] = 0  # checked
            rest = np.flatnonzero(summed)
            rest, rest_scores = _ranked(rest, summed[rest])
            start, step = 0, 8 * CANDIDATES
            while have < CANDIDATES and start < len(rest):
                chunk, chunk_scores = rest[start : start + step], rest_scores[start : start + step]
                ok = self._passing(conn, chunk, conds)
                out_ids.append(chunk[ok])
                out_scores.append(chunk_scores[ok])
                have += int(ok.sum())
                start, step = start + step, step * 4
        ids, scores = np.concatenate(out_ids), np.concatenate(out_scores)
        return ids[:CANDIDATES], scores[:CANDIDATES]

    # -- dense ---------------------------------------------------------------------------------

    def _distance(self, conn, query_vector: np.ndarray):
        """(the ``<=>`` expression against the model's index, the model condition) for this query."""
        dim = self.embedder.dim
        embedding = cast(literal_column("paper_embeddings.embedding"), _Vector(dim))
        q = cast(bindparam(None, vector_literal(query_vector)), _Vector(dim))
        model = paper_embeddings.c.model == literal_column(model_literal(conn, self.embedder.name))
        return embedding.op("<=>", return_type=Float())(q), model

    def _dense(self, conn, qv: np.ndarray, allowed: np.ndarray | None, conds, k: int, exclude: int | None = None):
        """(paper ids, cosine similarities) of the ``k`` nearest allowed papers, best first."""
        dist, model = self._distance(conn, qv)
        if exclude is not None:
            conds = [*conds, papers.c.id != exclude]
        rows = []
        if allowed is None:
            fetch = DENSE_OVERFETCH * k if len(conds) > 1 else max(EF_SEARCH, k + 20)
            while True:
                ef = min(max(fetch, 40), EF_SEARCH_MAX)
                conn.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef)}"))
                near = select(paper_embeddings.c.paper_id, dist.label("d")).where(model).order_by(dist).limit(fetch).subquery()
                rows = conn.execute(
                    select(near.c.paper_id, near.c.d).join(papers, papers.c.id == near.c.paper_id).where(*conds).order_by(near.c.d).limit(k)
                ).all()  # fmt: skip
                if len(rows) >= k or fetch >= EF_SEARCH_MAX:
                    break
                fetch = EF_SEARCH_MAX
        if allowed is not None or len(rows) < k:
            # A selective filter, or one that passes too few of the nearest: scan the rows it allows,
            # exactly. The filter is given as its SQL conditions (their indexes find the rows), and
            # `+ 0` sorts exactly instead of through the HNSW index (which would filter after).
            rows = conn.execute(
                select(paper_embeddings.c.paper_id, dist.label("d")).join(papers, papers.c.id == paper_embeddings.c.paper_id)
                .where(model, *conds).order_by(dist + 0).limit(k)
            ).all()  # fmt: skip
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        sims = np.nan_to_num(1.0 - np.fromiter((r[1] for r in rows), np.float64, len(rows)), nan=0.0).astype(np.float32)
        return ids, sims

    def _similarities(self, conn, qv: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query to each of ``ids`` (0 for a paper without a vector).

        Straight through the driver, results in binary: for a query's ~1,000 keyword candidates the
        SQL expression layer's array binding and row handling cost twice the query itself (measured:
        10 ms vs 3.3 ms at 75k)."""
        if not len(ids):
            return np.zeros(0, np.float32)
        dim = int(self.embedder.dim)
        with conn.connection.driver_connection.cursor(binary=True) as cur:
            cur.execute(
                f"SELECT paper_id, embedding::vector({dim}) <=> %s::vector({dim}) FROM {paper_embeddings.name}"
                f" WHERE model = {model_literal(conn, self.embedder.name)} AND paper_id = ANY(%s)",
                (vector_literal(qv), [int(i) for i in ids]),
            )  # fmt: skip
            found = dict(cur.fetchall())
        return np.nan_to_num(np.array([1.0 - found[i] if found.get(i) is not None else 0.0 for i in ids.tolist()], np.float64), nan=0.0)

    # -- search --------------------------------------------------------------------------------

    def search(self, raw: str, *, categories=None, author=None, after=None, before=None, sort: str = "relevance", page: int = 1,
               per_page: int = 20, semantic: bool = True, keyword: bool = True, fusion: Fusion = fuse) -> SearchResults:  # fmt: skip
        """Same arguments and results as :meth:`SearchService.search <paperboy.search.service.SearchService.search>`."""
        with observed(self, "search"):
            q, result = parse_request(raw, categories=categories, author=author, after=after, before=before, sort=sort, page=page, per_page=per_page)
            if result.redirect or q.empty:
                return result
            self.refresh()
            with self.engine.connect() as conn:
                conds = self._conditions(q)
                text_ = q.searchable
                if text_:
                    allowed = self._allowed(conn, q, conds)
                    embedder = self.embedder if semantic else None
                    result.semantic = embedder is not None and self.has_vectors
                    # The two sides at once: the query's embedding and its HNSW search (on a second
                    # connection) while this one reads and sums the keyword postings, then looks up
                    # the keyword candidates' similarities (which fusion needs) as the graph walk goes on.
                    embedded: Future = Future()
                    dense = _SIDES.submit(self._embed_and_dense, embedder, text_, allowed, conds, embedded) if result.semantic else None
                    try:
                        kw_ids, kw_scores = self._keyword(conn, text_, allowed, conds, q.has_filters) if keyword else (np.empty(0, np.int64), np.empty(0, np.float32))
                        kw_sims = self._similarities(conn, embedded.result(), kw_ids) if dense is not None else None
                    finally:
                        qv, dense_ids, dense_sims = dense.result() if dense is not None else (None, None, None)
                    if result.semantic:
                        known = _known_similarities([(kw_ids, kw_sims), (dense_ids, dense_sims)], lambda c: self._similarities(conn, qv, c))
                        ids, _ = fusion(kw_ids, kw_scores, known, dense_ids, dense_sims)
                    else:
                        ids = kw_ids
                    ids = np.asarray(ids, np.int64)
                    if q.phrases and len(ids):
                        ids = ids[:CANDIDATES][np.asarray(phrase_filter(conn, ids[:CANDIDATES], q.phrases), bool)]
                    if result.sort in ("date", "upvotes") and len(ids):
                        ids = self._sorted(conn, ids, result.sort)
                    return fill_page(conn, result, ids[page_slice(result)], len(ids))
                # filters only: everything they allow, newest first (as the embedded backend)
                filters_only(result)
                total = conn.execute(select(func.count()).select_from(papers).where(*conds)).scalar()
                order = [papers.c.announced.desc().nulls_last(), papers.c.id]
                if result.sort == "upvotes":
                    order.insert(0, papers.c.upvotes.desc())
                page = page_slice(result)
                page_ids = conn.execute(
                    select(papers.c.id).where(*conds).order_by(*order).offset(page.start).limit(result.per_page)
                ).scalars().all()  # fmt: skip
                return fill_page(conn, result, page_ids, total)

    def _embed_and_dense(self, embedder, text_: str, allowed, conds, embedded: Future):
        """(query vector, ids, similarities) of the dense side, on its own connection; the query
        vector is also handed to ``embedded`` as soon as it is known."""
        try:
            qv = embedder.embed_query(text_)
        except BaseException as exc:
            embedded.set_exception(exc)
            raise
        embedded.set_result(qv)
        with self._dense_engine().connect() as conn:
            return (qv, *self._dense(conn, qv, allowed, conds, DENSE_CANDIDATES))

    def close(self) -> None:
        """Close the dense sides' connections (the main engine is its owner's to close)."""
        with self._lock:
            if self._dense_pool is not None:
                self._dense_pool.dispose()
                self._dense_pool = None

    def _dense_engine(self) -> Engine:
        """A second pool for the dense sides: a search holds one connection of the main pool while
        its dense side waits for one of these, so a busy main pool can never starve the sides it waits for."""
        with self._lock:
            if self._dense_pool is None:
                from paperboy.store.db import make_engine

                self._dense_pool = make_engine(self.engine.url.render_as_string(hide_password=False))
            return self._dense_pool

    @staticmethod
    def _sorted(conn, ids: np.ndarray, sort: str) -> np.ndarray:
        """``ids`` newest first or most voted first (stable: relevance order among equals, as embedded)."""
        info = {pid: (day.toordinal() if day else -1, votes) for pid, day, votes in conn.execute(
            select(papers.c.id, papers.c.announced, papers.c.upvotes).where(papers.c.id == _ids_param(ids)))}  # fmt: skip
        key = np.array([info.get(int(i), (-1, 0))[0 if sort == "date" else 1] for i in ids], np.int64)
        return ids[np.argsort(-key, kind="stable")]

    # -- related papers ------------------------------------------------------------------------

    def related(self, paper_id: int, k: int = 8) -> list[tuple[int, float]]:
        """The papers most like ``paper_id`` (pgvector, or BM25 on its title without a vector), with
        the shared-author nudge of :func:`~paperboy.search.related.author_nudge`; ``[]`` if unknown."""
        with observed(self, "related"):
            self.refresh()
            with self.engine.connect() as conn:
                title = conn.execute(select(papers.c.title).where(papers.c.id == paper_id)).scalar()
                if title is None:
                    return []
                conds = [papers.c.hidden_at.is_(None)]
                own = None
                embedder = self.embedder
                if embedder is not None and self.has_vectors:
                    own = conn.execute(
                        select(text("paper_embeddings.embedding::text")).select_from(paper_embeddings)
                        .where(paper_embeddings.c.paper_id == paper_id, paper_embeddings.c.model == embedder.name)
                    ).scalar()  # fmt: skip
                if own is not None:
                    vector = np.asarray([float(x) for x in own.strip("[]").split(",")], np.float32)
                    ids, sims = self._dense(conn, vector, None, conds, 4 * k, exclude=paper_id)
                else:
                    ids, scores = self._keyword(conn, title, None, [*conds, papers.c.id != paper_id])
                    ids, scores = ids[: 4 * k], scores[: 4 * k]
                    sims = scores / (scores[0] if len(scores) else 1.0)
                return Related(author_nudge(conn, paper_id, [int(i) for i in ids], sims, k), by_keyword=own is None)


class PostingsCache:
    """The postings of long terms (:data:`POSTINGS_CACHE_MIN`) of one keyword generation, at most
    ``budget`` bytes of them, least recently used out first; safe to share between threads."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._generation: int | None = None
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, generation: int, terms) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The cached (paper ids, impacts) of those of ``terms`` that are cached for ``generation``."""
        with self._lock:
            if generation != self._generation:
                self._items.clear()
                self._generation, self.bytes = generation, 0
            found = {}
            for term in terms:
                if term in self._items:
                    self._items.move_to_end(term)
                    found[term] = self._items[term]
            return found

    def put(self, generation: int, term: str, ids: np.ndarray, impacts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep ``term``'s postings if they are long enough and fit; returns them."""
        size = ids.nbytes + impacts.nbytes
        if POSTINGS_CACHE_MIN <= size <= self.budget:
            with self._lock:
                if generation == self._generation and term not in self._items:
                    self._items[term] = (ids, impacts)
                    self.bytes += size
                    while self.bytes > self.budget:
                        old_ids, old_impacts = self._items.popitem(last=False)[1]
                        self.bytes -= old_ids.nbytes + old_impacts.nbytes
        return ids, impacts


def _known_similarities(known: list[tuple[np.ndarray, np.ndarray]], look_up):
    """Fusion's ``candidate_sims``: the similarities already known for (ids, sims) pairs, and
    ``look_up(ids)`` for any others."""
    table: dict[int, float] = {}
    for ids, sims in known:
        table.update(zip(ids.tolist(), np.asarray(sims, np.float64).tolist()))

    def candidate_sims(cols) -> np.ndarray:
        cols = np.asarray(cols, np.int64).tolist()
        missing = [c for c in cols if c not in table]
        if missing:
            table.update(zip(missing, look_up(np.asarray(missing, np.int64)).tolist()))
        return np.array([table[c] for c in cols], np.float64)

    return candidate_sims


def _ranked(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores) best first, ties by id (so both backends and every run order them alike)."""
    order = np.lexsort((ids, -scores))
    return ids[order], scores[order]


def _best(summed: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best (ids, scores) of a score array indexed by id (only scores > 0), best first;
    among papers tied at the cut, the lowest ids."""
    if np.count_nonzero(summed) <= n:
        ids = np.flatnonzero(summed)
    else:
        # The n-th best by partitioning the negated scores at n: with most of the array 0 (tied),
        # that stayed near 2 ms on every benchmark query at 1M papers, while argpartition, or
        # partition at len - n, hit select's slow path on some (25-60 ms; docs/benchmarks.md)
        cut = -np.partition(-summed, n - 1)[n - 1]
        above = np.flatnonzero(summed > cut)
        ids = np.concatenate([above, np.flatnonzero(summed == cut)[: n - len(above)]])
    return _ranked(ids, summed[ids])
