"""Paper embeddings: stored in the database (durable, in step with papers), searched in memory.

The ``paper_embeddings`` table is the truth: a vector is written in the same transaction as its
text hash, rows cascade away with their paper, and a crash mid-indexing loses at most the batch in
flight. Each search process keeps a float32 matrix aligned with the :class:`Catalog` columns and
reads only rows whose ``seq`` is newer than what it has.

Search is exact (one matrix-vector product: ~3 ms for 75,000 × 384 on two cores). When a filter
leaves few papers, only their rows are multiplied, so a selective filter never yields an empty page.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, delete, insert, select

from paperboy.store.schema import paper_embeddings

__all__ = ["VectorIndex", "store_embeddings", "read_embeddings"]


def store_embeddings(conn: Connection, model: str, items: list[tuple[int, str, np.ndarray]]) -> None:
    """Write (paper id, text hash, vector) rows for ``model``, replacing older ones (new ``seq``)."""
    if not items:
        return
    conn.execute(
        delete(paper_embeddings).where(
            paper_embeddings.c.model == model, paper_embeddings.c.paper_id.in_([pid for pid, _, _ in items])
        )
    )
    conn.execute(
        insert(paper_embeddings),
        [{"paper_id": pid, "model": model, "text_hash": h, "vector": np.asarray(v, "<f4").tobytes()} for pid, h, v in items],
    )


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

    def resize(self, size: int, keep_cols: np.ndarray | None = None) -> None:
        """Grow (or re-map after the catalog changed) to ``size`` columns."""
        matrix = np.zeros((size, self.dim), np.float32)
        present = np.zeros(size, bool)
        if keep_cols is not None and len(self.matrix):
            ok = keep_cols >= 0
            matrix[keep_cols[ok]] = self.matrix[: len(keep_cols)][ok]
            present[keep_cols[ok]] = self.present[: len(keep_cols)][ok]
        self.matrix, self.present = matrix, present

    def put(self, cols: np.ndarray, vectors: np.ndarray) -> None:
        self.matrix[cols] = vectors
        self.present[cols] = True

    def top(self, query: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(columns, cosine similarities) of the ``k`` nearest papers among ``mask``, best first."""
        allowed = mask & self.present
        n = int(allowed.sum())
        if n == 0 or k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
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
