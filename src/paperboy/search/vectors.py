"""Paper embeddings: stored in the database (durable, in step with papers), searched in memory.

The ``paper_embeddings`` table is the truth: a vector is written in the same transaction as its
text hash, rows cascade away with their paper, and a crash mid-indexing loses at most the batch in
flight. Each search process keeps a float32 matrix aligned with the :class:`Catalog` columns and
reads only rows whose ``seq`` is newer than what it has.

Search is exact (one matrix-vector product: a few ms for 75,000 × 384 on two cores). When a filter
leaves few papers, only their rows are multiplied, so a selective filter never yields an empty page.
For large archives `paperboy index` also builds an HNSW graph (usearch, int8) over the vectors it
has; queries without a selective filter then ask the graph for 4× the results they need, drop what
the filter excludes, and add an exact pass over vectors written since the graph was built. If the
graph cannot fill the page, the exact path answers instead — filters never empty a page.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, delete, insert, select

from paperboy.store.db import serialize_writes
from paperboy.store.schema import paper_embeddings

__all__ = ["VectorIndex", "store_embeddings", "read_embeddings", "build_ann", "ANN_MIN_VECTORS"]

EMBEDDING_WRITES = 0x454D4244  # advisory lock key ("EMBD"), see store_embeddings
ANN_MIN_VECTORS = 200_000  # below this, exact search is fast enough and needs no extra file


def store_embeddings(conn: Connection, model: str, items: list[tuple[int, str, np.ndarray]]) -> None:
    """Write (paper id, text hash, vector) rows for ``model``, replacing older ones (new ``seq``).

    Serialised across processes (two `paperboy index` runs at once would both insert a paper's row),
    which also makes rows visible in ``seq`` order: a search process that has read up to seq n never
    later finds a smaller seq committed behind it."""
    if not items:
        return
    serialize_writes(conn, EMBEDDING_WRITES)
    conn.execute(
        delete(paper_embeddings).where(
            paper_embeddings.c.model == model, paper_embeddings.c.paper_id.in_([pid for pid, _, _ in items])
        )
    )
    rows = [{"paper_id": pid, "model": model, "text_hash": h, "vector": np.asarray(v, "<f4").tobytes()} for pid, h, v in items]
    if conn.dialect.name == "postgresql":  # also as pgvector's type, for search inside PostgreSQL
        from paperboy.search.pg_index import insert_embeddings

        insert_embeddings(conn, rows)
    else:
        conn.execute(insert(paper_embeddings), rows)


def read_embeddings(conn: Connection, model: str, since_seq: int = 0):
    """Yield (seq, paper id, vector) for ``model`` written after ``since_seq``."""
    rows = conn.execute(
        select(paper_embeddings.c.seq, paper_embeddings.c.paper_id, paper_embeddings.c.vector)
        .where(paper_embeddings.c.model == model, paper_embeddings.c.seq > since_seq)
        .order_by(paper_embeddings.c.seq)
    )
    for seq, pid, blob in rows:
        yield seq, pid, np.frombuffer(blob, "<f4")


class VectorIndex:
    """Unit vectors in rows aligned with catalog columns; rows without a vector are zero."""

    def __init__(self, dim: int, size: int = 0):
        self.dim = dim
        self.matrix = np.zeros((size, dim), np.float32)
        self.present = np.zeros(size, bool)
        self.last_seq = 0
        self.ann = None  # usearch Index keyed by paper id, or None
        self.ann_seq = 0  # vectors with seq above this are not in the graph
        self.fresh = np.zeros(size, bool)  # columns whose vector arrived after the graph was built
        self.seqs = np.zeros(size, np.int64)  # each column's vector's seq (0: none)

    def resize(self, size: int, keep_cols: np.ndarray | None = None) -> None:
        """Grow (or re-map after the catalog changed) to ``size`` columns."""
        moved = self.remapped(size, keep_cols)
        self.matrix, self.present, self.fresh, self.seqs = moved.matrix, moved.present, moved.fresh, moved.seqs

    def remapped(self, size: int, keep_cols: np.ndarray | None = None) -> "VectorIndex":
        """A new index of ``size`` columns holding this one's vectors at ``keep_cols`` (old column →
        new column, -1: dropped), with the same graph and read position; this one is unchanged."""
        new = VectorIndex(self.dim, size)
        new.last_seq, new.ann, new.ann_seq = self.last_seq, self.ann, self.ann_seq
        if keep_cols is not None and len(self.matrix):
            ok = keep_cols >= 0
            new.matrix[keep_cols[ok]] = self.matrix[: len(keep_cols)][ok]
            new.present[keep_cols[ok]] = self.present[: len(keep_cols)][ok]
            new.fresh[keep_cols[ok]] = self.fresh[: len(keep_cols)][ok]
            new.seqs[keep_cols[ok]] = self.seqs[: len(keep_cols)][ok]
        return new

    def copy(self) -> "VectorIndex":
        """An independent copy (the graph, read-only, shared)."""
        new = VectorIndex(self.dim, 0)
        new.matrix, new.present, new.fresh, new.seqs = self.matrix.copy(), self.present.copy(), self.fresh.copy(), self.seqs.copy()
        new.last_seq, new.ann, new.ann_seq = self.last_seq, self.ann, self.ann_seq
        return new

    def with_graph(self, ann, ann_seq: int) -> "VectorIndex":
        """This index's vectors (shared, not copied) with another HNSW graph: the columns whose vector
        is newer than the graph are searched exactly beside it."""
        new = VectorIndex(self.dim, 0)
        new.matrix, new.present, new.seqs, new.last_seq = self.matrix, self.present, self.seqs, self.last_seq
        new.ann, new.ann_seq = ann, ann_seq
        new.fresh = self.present & (self.seqs > ann_seq)
        return new

    def put(self, cols: np.ndarray, vectors: np.ndarray, seqs: np.ndarray | None = None) -> None:
        self.matrix[cols] = vectors
        self.present[cols] = True
        if seqs is not None:
            self.seqs[cols] = seqs
            if self.ann is not None:
                self.fresh[cols[seqs > self.ann_seq]] = True

    def top_ann(self, query: np.ndarray, mask: np.ndarray, k: int, ids: np.ndarray):
        """The graph path (see the module docstring); ``None`` when it can't answer on its own."""
        matches = self.ann.search(query, min(len(self.ann), 4 * k))
        cols = np.searchsorted(ids, np.asarray(matches.keys, np.int64))
        cols = np.minimum(cols, len(ids) - 1)
        ok = (ids[cols] == matches.keys) & mask[cols] & ~self.fresh[cols]
        cols, sims = cols[ok], 1.0 - np.asarray(matches.distances, np.float32)[ok]
        fresh = np.flatnonzero(self.fresh & mask & self.present)
        if len(fresh):
            cols = np.concatenate([cols, fresh])
            sims = np.concatenate([sims, self.matrix[fresh] @ query])
        if len(cols) < min(k, int((mask & self.present).sum())):
            return None
        order = np.argsort(-sims, kind="stable")[:k]
        return cols[order], sims[order]

    def top(self, query: np.ndarray, mask: np.ndarray, k: int, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(columns, cosine similarities) of the ``k`` nearest papers among ``mask``, best first."""
        allowed = mask & self.present
        n = int(allowed.sum())
        if n == 0 or k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if self.ann is not None and ids is not None and n >= len(allowed) // 4:
            found = self.top_ann(query, mask, k, ids)
            if found is not None:
                return found
        if n < len(allowed) // 4:  # selective filter: multiply only the rows it allows
            cols = np.flatnonzero(allowed)
            sims = self.matrix[cols] @ query
        else:
            sims_all = self.matrix @ query
            cols = np.flatnonzero(allowed)
            sims = sims_all[cols]
        k = min(k, len(cols))
        best = np.argpartition(-sims, k - 1)[:k]
        best = best[np.argsort(-sims[best], kind="stable")]
        return cols[best], sims[best]


def build_ann(pids: np.ndarray, vectors: np.ndarray, path, *, threads: int = 0) -> None:
    """Build the HNSW graph (int8, cosine) over ``vectors`` keyed by paper id; saved atomically."""
    import os
    import tempfile
    from pathlib import Path

    _load_onnxruntime_first()

    from usearch.index import Index

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    index = Index(ndim=vectors.shape[1], metric="cos", dtype="i8", connectivity=16, expansion_add=64, expansion_search=64)
    index.add(np.asarray(pids, np.int64), vectors, threads=threads or (os.cpu_count() or 1))
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    index.save(tmp)
    os.replace(tmp, path)


def _load_onnxruntime_first() -> None:
    """Import onnxruntime before usearch touches its threads.

    Measured here: importing onnxruntime *after* usearch has added vectors with several threads
    crashes the interpreter (segmentation fault in onnxruntime's module initialisation); in the
    other order both work. Search processes use both, so usearch is only ever loaded after this.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:  # no semantic model installed: nothing to protect
        pass
