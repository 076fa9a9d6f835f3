"""Paper embeddings: stored in the database (durable, in step with papers), searched in memory.

The ``paper_embeddings`` table is the truth: a vector is written in the same transaction as its
text hash, rows cascade away with their paper, and a crash mid-indexing loses at most the batch in
flight. Each search process searches a float32 matrix aligned with the :class:`Catalog` columns:
the vectors file that the indexer writes next to the keyword index (:func:`write_vector_file`),
memory-mapped so that every process on the machine shares its pages, plus the rows whose ``seq`` is
newer than the file's, read from the table into this process.

Search is exact (one matrix-vector product: a few ms for 75,000 × 384 on two cores). When a filter
leaves few papers, only their rows are multiplied, so a selective filter never yields an empty page.
For large archives `paperboy index` also builds an HNSW graph (usearch, int8) over the vectors it
has; queries without a selective filter then ask the graph for 4× the results they need, drop what
the filter excludes, and add an exact pass over vectors written since the graph was built. If the
graph cannot fill the page, the exact path answers instead — filters never empty a page.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select

from paperboy.search.arrayfile import read_arrays, write_arrays
from paperboy.store.db import serialize_writes
from paperboy.store.schema import paper_embeddings, papers

__all__ = ["VectorIndex", "store_embeddings", "read_embeddings", "build_ann", "write_vector_file", "vector_file_state", "ANN_MIN_VECTORS"]

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
    """Unit vectors in rows aligned with catalog columns; rows without a vector are zero.

    The rows of the first ``len(base)`` columns come from the vectors file (:func:`write_vector_file`),
    memory-mapped copy-on-write: every process on the machine reads the same pages, and a row written
    here (a vector newer than the file) copies only its own page. Papers added after the file was
    written take the columns after those, in an in-memory ``tail``. Without a file, every row is in
    the tail, read from the database."""

    def __init__(self, dim: int, size: int = 0, base: np.ndarray | None = None):
        self.dim = dim
        self.base = base if base is not None else np.zeros((0, dim), np.float32)
        self.tail = np.zeros((max(size - len(self.base), 0), dim), np.float32)
        self.present = np.zeros(size, bool)
        self.last_seq = 0
        self.ann = None  # usearch Index keyed by paper id, or None
        self.ann_seq = 0  # vectors with seq above this are not in the graph
        self.fresh = np.zeros(size, bool)  # columns whose vector arrived after the graph was built
        self.seqs = np.zeros(size, np.int64)  # each column's vector's seq (0: none)

    def __len__(self) -> int:
        return len(self.present)

    @property
    def mapped(self) -> int:
        """Columns whose rows are read from the vectors file (shared with other processes)."""
        return len(self.base)

    def rows(self, cols) -> np.ndarray:
        """The vectors of ``cols``, shape ``(len(cols), dim)``."""
        cols = np.asarray(cols, np.int64)
        nb = len(self.base)
        if not len(self.tail) or (len(cols) and int(cols.max()) < nb):
            return self.base[cols]
        if not nb:
            return self.tail[cols]
        out = np.empty((len(cols), self.dim), np.float32)
        in_base = cols < nb
        out[in_base] = self.base[cols[in_base]]
        out[~in_base] = self.tail[cols[~in_base] - nb]
        return out

    def similarities(self, cols, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of ``query`` to the vectors of ``cols`` (0 where a column has none)."""
        return self.rows(cols) @ query

    def _all_similarities(self, query: np.ndarray) -> np.ndarray:
        if not len(self.tail):
            return self.base @ query
        if not len(self.base):
            return self.tail @ query
        return np.concatenate([self.base @ query, self.tail @ query])

    @classmethod
    def from_file(cls, path, catalog_ids: np.ndarray, dim: int) -> "VectorIndex":
        """The index over ``catalog_ids`` with the rows of the vectors file at ``path``: mapped when
        the file's papers are the catalog's first columns (papers only ever get added, with higher
        ids, between two writes of the file); else (papers deleted since) copied into memory."""
        arrays = read_arrays(path, private=True)
        ids, seqs, matrix = arrays["paper_ids"], arrays["seqs"], arrays["matrix"]
        if matrix.shape[1:] != (dim,):
            raise ValueError(f"{path} holds {matrix.shape[1:]} vectors, not ({dim},)")
        n, nb = len(catalog_ids), len(ids)
        if nb <= n and np.array_equal(catalog_ids[:nb], ids):
            index = cls(dim, n, base=matrix)
            index.present[:nb] = seqs > 0
            index.seqs[:nb] = seqs
        else:
            index = cls(dim, n)
            cols = np.searchsorted(catalog_ids, ids)
            ok = (cols < n) & (catalog_ids[np.minimum(cols, max(n - 1, 0))] == ids) & (seqs > 0) if n else np.zeros(nb, bool)
            index.tail[cols[ok]] = matrix[ok]
            index.present[cols[ok]] = True
            index.seqs[cols[ok]] = seqs[ok]
        index.last_seq = int(arrays["seq"][0])
        return index

    def remapped(self, size: int, keep_cols: np.ndarray | None = None) -> "VectorIndex":
        """A new index of ``size`` columns holding this one's vectors at ``keep_cols`` (old column →
        new column, -1: dropped), with the same graph and read position; this one is unchanged.
        Papers only added (the usual case) keep the mapped rows; a removed one copies them."""
        n = len(self)
        keep_cols = np.arange(n) if keep_cols is None else np.asarray(keep_cols, np.int64)
        appended = size >= n and len(keep_cols) == n and np.array_equal(keep_cols, np.arange(n))
        if appended:
            new = VectorIndex(self.dim, size, base=self.base)
            new.tail[: len(self.tail)] = self.tail
            for name in ("present", "fresh", "seqs"):
                getattr(new, name)[:n] = getattr(self, name)
        else:
            new = VectorIndex(self.dim, size)
            ok = keep_cols >= 0
            new.tail[keep_cols[ok]] = self.rows(np.flatnonzero(ok))
            for name in ("present", "fresh", "seqs"):
                getattr(new, name)[keep_cols[ok]] = getattr(self, name)[: len(keep_cols)][ok]
        new.last_seq, new.ann, new.ann_seq = self.last_seq, self.ann, self.ann_seq
        return new

    def with_graph(self, ann, ann_seq: int) -> "VectorIndex":
        """This index's vectors (shared, not copied) with another HNSW graph: the columns whose vector
        is newer than the graph are searched exactly beside it."""
        new = VectorIndex(self.dim, 0)
        new.base, new.tail, new.present, new.seqs, new.last_seq = self.base, self.tail, self.present, self.seqs, self.last_seq
        new.ann, new.ann_seq = ann, ann_seq
        new.fresh = self.present & (self.seqs > ann_seq)
        return new

    def put(self, cols: np.ndarray, vectors: np.ndarray, seqs: np.ndarray | None = None) -> None:
        cols = np.asarray(cols, np.int64)
        nb = len(self.base)
        in_base = cols < nb
        if in_base.any():
            self.base[cols[in_base]] = vectors[in_base]  # copy-on-write: only these pages become private
        self.tail[cols[~in_base] - nb] = vectors[~in_base]
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
            sims = np.concatenate([sims, self.similarities(fresh, query)])
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
        cols = np.flatnonzero(allowed)
        if n < len(allowed) // 4:  # selective filter: multiply only the rows it allows
            sims = self.similarities(cols, query)
        else:
            sims = self._all_similarities(query)[cols]
        k = min(k, len(cols))
        best = np.argpartition(-sims, k - 1)[:k]
        best = best[np.argsort(-sims[best], kind="stable")]
        return cols[best], sims[best]


def write_vector_file(conn: Connection, path, model: str) -> int:
    """Write every stored vector of ``model`` to ``path``, one row per paper (all papers, by id; zero
    rows for papers without a vector), with each row's seq and the newest seq: what search processes
    map (:meth:`VectorIndex.from_file`) instead of each holding its own copy. Returns the vectors written."""
    ids = np.asarray(conn.execute(select(papers.c.id).order_by(papers.c.id)).scalars().all(), np.int64)
    dim = conn.execute(select(func.length(paper_embeddings.c.vector)).where(paper_embeddings.c.model == model).limit(1)).scalar()
    if not dim:
        return 0
    matrix = np.zeros((len(ids), dim // 4), np.float32)
    seqs = np.zeros(len(ids), np.int64)
    newest = written = 0
    complete_upto = None  # a vector of a paper added after the ids were read: the file stops before it
    for seq, pid, vector in read_embeddings(conn, model):
        col = int(np.searchsorted(ids, pid))
        newest = max(newest, seq)
        if col < len(ids) and ids[col] == pid and len(vector) == matrix.shape[1]:
            matrix[col], seqs[col] = vector, seq
            written += 1
        elif complete_upto is None:
            complete_upto = seq - 1
    if complete_upto is not None:
        newest = min(newest, complete_upto)
    write_arrays(Path(path), {"paper_ids": ids, "seqs": seqs, "matrix": matrix, "seq": np.asarray([newest], np.int64)})
    return written


class VectorFileState(NamedTuple):
    seq: int  # the newest vector's seq in the file
    papers: int  # rows (every paper when it was written)
    last_id: int  # the highest paper id in it


def vector_file_state(path) -> VectorFileState | None:
    """What the vectors file at ``path`` holds (its header and ids only); ``None`` without a readable one."""
    try:
        arrays = read_arrays(Path(path))
        ids = arrays["paper_ids"]
        return VectorFileState(int(arrays["seq"][0]), len(ids), int(ids[-1]) if len(ids) else 0)
    except (OSError, ValueError, KeyError):
        return None


def build_ann(pids: np.ndarray, vectors: np.ndarray, path, *, threads: int = 0) -> None:
    """Build the HNSW graph (int8, cosine) over ``vectors`` keyed by paper id; saved atomically."""
    import os
    import tempfile
    from pathlib import Path

    load_onnxruntime_first()

    from usearch.index import Index

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    index = Index(ndim=vectors.shape[1], metric="cos", dtype="i8", connectivity=16, expansion_add=64, expansion_search=64)
    index.add(np.asarray(pids, np.int64), vectors, threads=threads or (os.cpu_count() or 1))
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    index.save(tmp)
    os.replace(tmp, path)


def load_onnxruntime_first() -> None:
    """Import onnxruntime before usearch touches its threads.

    Measured here: importing onnxruntime *after* usearch has added vectors with several threads
    crashes the interpreter (segmentation fault in onnxruntime's module initialisation); in the
    other order both work. Search processes use both, so usearch is only ever loaded after this.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:  # no semantic model installed: nothing to protect
        pass
