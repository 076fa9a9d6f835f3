"""Keyword search: BM25 over title + abstract + authors, as a precomputed impact matrix.

SQLite FTS5 ranks the same BM25 well (SciFact nDCG@10 0.68) but takes 170–520 ms a query on the
75k-paper corpus here, because ranking an OR of common words visits every matching row. So the
BM25 contribution of each (term, paper) pair is computed once at indexing time and stored in a
sparse matrix (terms × papers, CSR). A query then sums a handful of rows — a few milliseconds.

The index is built from the database and saved next to it (one file of raw arrays that every web
process memory-maps, see :meth:`KeywordIndex.load`); it records the
highest paper row id it covers, and papers added after it are indexed on the fly (see
:class:`~paperboy.search.service.SearchService`), so search never misses a new paper.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperboy.search.arrayfile import read_arrays, write_arrays
from paperboy.search.text import analyze

__all__ = ["Impacts", "KeywordIndex", "build_keyword_index", "K1", "B", "TITLE_WEIGHT"]

K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2  # title words count twice: a title is a dense summary


@dataclass
class Impacts:
    """The (terms × papers) BM25 impacts in compressed sparse rows: term row ``t`` holds the columns
    ``indices[indptr[t]:indptr[t+1]]`` (ascending) and their impacts ``data[…]``. Plain arrays, so
    they map straight from the index file (scipy.sparse did the same for ~23 MB more per process)."""

    data: np.ndarray  # float32
    indices: np.ndarray  # int32 columns
    indptr: np.ndarray  # int64, terms + 1
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return len(self.data)

    @classmethod
    def from_triples(cls, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> "Impacts":
        """From (row, column, impact) triples, each (row, column) once."""
        order = np.lexsort((cols, rows))
        indptr = np.zeros(shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls(values[order].astype(np.float32), cols[order].astype(np.int32), indptr, shape)

    def take_rows(self, order) -> "Impacts":
        """The rows ``order``, in that order."""
        order = np.asarray(order, np.int64)
        starts, lengths = self.indptr[order], np.diff(self.indptr)[order]
        indptr = np.zeros(len(order) + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        picks = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return Impacts(self.data[picks], self.indices[picks], indptr, (len(order), self.shape[1]))


@dataclass
class KeywordIndex:
    """BM25 impacts (``impacts[term_row, paper_col]``) with the vocabulary and the papers' row ids."""

    vocab: dict[str, int]
    impacts: Impacts  # shape (terms, papers), float32
    paper_ids: np.ndarray  # int64, column -> papers.id
    idf: np.ndarray  # float32 per term row, for scoring documents outside the index

    @property
    def max_paper_id(self) -> int:
        return int(self.paper_ids.max()) if len(self.paper_ids) else 0

    def __len__(self) -> int:
        return len(self.paper_ids)

    def query_terms(self, text: str) -> list[int]:
        """Vocabulary rows of the query's terms (unknown terms dropped, repeats kept)."""
        return [self.vocab[t] for t in analyze(text) if t in self.vocab]

    def scores(self, term_rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, BM25 scores) of every paper matching at least one term."""
        if not term_rows:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        m = self.impacts
        cols_parts, score_parts = [], []
        for row, weight in Counter(term_rows).items():
            lo, hi = m.indptr[row], m.indptr[row + 1]
            cols_parts.append(m.indices[lo:hi])
            score_parts.append(m.data[lo:hi] * np.float32(weight) if weight > 1 else m.data[lo:hi])
        if len(cols_parts) == 1:  # one term: its row is the answer (columns ascending, unique)
            keep = score_parts[0] != 0
            return cols_parts[0][keep].astype(np.int64), score_parts[0][keep]
        summed = np.zeros(m.shape[1], np.float32)
        for cols, scores in zip(cols_parts, score_parts):
            summed[cols] += scores  # columns are unique within a row
        cols = np.flatnonzero(summed)
        return cols, summed[cols]

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """One file of raw arrays behind a small header (see :func:`~paperboy.search.arrayfile.write_arrays`), terms sorted so
        that a term's row is found by bisection in the file itself. Written to a temporary file and
        renamed, so a crash never leaves half an index."""
        terms = sorted(self.vocab, key=self.vocab.get)
        order = sorted(range(len(terms)), key=terms.__getitem__)
        impacts = self.impacts.take_rows(order) if len(order) else self.impacts
        blob = "".join(terms[i] for i in order).encode()
        lengths = np.fromiter((len(terms[i].encode()) for i in order), np.int64, len(order))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        write_arrays(path, {
            "data": impacts.data.astype(np.float32), "indices": impacts.indices.astype(np.int32),
            "indptr": impacts.indptr.astype(np.int64), "shape": np.array(impacts.shape, np.int64),
            "paper_ids": self.paper_ids.astype(np.int64), "idf": self.idf[order].astype(np.float32) if len(order) else self.idf,
            "term_offsets": offsets, "term_blob": np.frombuffer(blob, np.uint8),
        })  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> "KeywordIndex":
        """The index, memory-mapped: pages are read as queries touch them and shared by every process
        on the machine that maps the same file (``serve --workers N``); nothing is copied in."""
        a = read_arrays(path)
        impacts = Impacts(a["data"], a["indices"], a["indptr"], tuple(int(x) for x in a["shape"]))
        return cls(MappedTerms(a["term_offsets"], a["term_blob"]), impacts, a["paper_ids"], a["idf"])


class MappedTerms:
    """A sorted vocabulary inside the mapped index file: ``terms[t]`` is term t's row, by bisection
    (a dict of the 190,000 terms of the corpus took ~25 MB in every process)."""

    def __init__(self, offsets: np.ndarray, blob: np.ndarray):
        self._offsets = offsets
        self._blob = blob

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _term(self, i: int) -> bytes:
        return self._blob[self._offsets[i] : self._offsets[i + 1]].tobytes()

    def get(self, term: str, default=None):
        key, lo, hi = term.encode(), 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._term(mid) < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self) and self._term(lo) == key else default

    def __contains__(self, term: str) -> bool:
        return self.get(term) is not None

    def __getitem__(self, term: str) -> int:
        row = self.get(term)
        if row is None:
            raise KeyError(term)
        return row

    def __iter__(self):
        return (self._term(i).decode() for i in range(len(self)))


def document_terms(title: str, abstract: str, authors: list[str]) -> list[str]:
    return analyze(title) * TITLE_WEIGHT + analyze(abstract) + analyze(" ".join(authors))


def build_keyword_index(docs) -> KeywordIndex:
    """Build from ``(paper_id, title, abstract, authors)`` tuples.

    BM25 per (term t, paper d): idf(t) · tf·(K1+1) / (tf + K1·(1 − B + B·|d|/avgdl)),
    idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5)) — Lucene's variant, never negative.
    """
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    tfs: list[int] = []
    lengths: list[int] = []
    ids: list[int] = []
    for col, (pid, title, abstract, authors) in enumerate(docs):
        terms = document_terms(title, abstract, authors)
        ids.append(pid)
        lengths.append(len(terms))
        for term, tf in Counter(terms).items():
            row = vocab.setdefault(term, len(vocab))
            rows.append(row)
            cols.append(col)
            tfs.append(tf)
    n = len(ids)
    if n == 0:
        return KeywordIndex({}, Impacts(np.empty(0, np.float32), np.empty(0, np.int32), np.zeros(1, np.int64), (0, 0)), np.empty(0, np.int64), np.empty(0, np.float32))
    rows_a = np.asarray(rows, np.int32)
    cols_a = np.asarray(cols, np.int32)
    tf = np.asarray(tfs, np.float32)
    dl = np.asarray(lengths, np.float32)
    df = np.bincount(rows_a, minlength=len(vocab)).astype(np.float32)
    idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = K1 * (1 - B + B * dl / max(float(dl.mean()), 1.0))
    impact = idf[rows_a] * tf * (K1 + 1) / (tf + norm[cols_a])
    matrix = Impacts.from_triples(rows_a, cols_a, impact.astype(np.float32), (len(vocab), n))
    return KeywordIndex(vocab, matrix, np.asarray(ids, np.int64), idf)
