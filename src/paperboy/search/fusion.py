"""How keyword and semantic results are combined: the whole rule, in one function."""

from __future__ import annotations

import numpy as np

__all__ = ["fuse", "RRF_K", "DENSE_WEIGHT"]

RRF_K = 20  # best of 20/60/100 on SciFact train (bench/search_quality.py --tune)
DENSE_WEIGHT = 1.0


def fuse(keyword_cols: np.ndarray, dense_cols: np.ndarray, *, k: int | None = None, dense_weight: float | None = None):
    """Reciprocal rank fusion: score(p) = 1/(k + rank_kw(p)) + w · 1/(k + rank_dense(p)).

    Ranks start at 1; a paper missing from one list gets nothing from it. RRF needs no score
    calibration between BM25 (unbounded) and cosine similarity (≤ 1), and is hard to overfit: its
    two knobs were chosen on SciFact's *train* queries (bench/search_quality.py). Inputs are
    columns best-first; returns (columns, fused scores) best-first, ties broken by keyword rank.
    """
    k = RRF_K if k is None else k
    dense_weight = DENSE_WEIGHT if dense_weight is None else dense_weight
    scores: dict[int, float] = {}
    for rank, col in enumerate(keyword_cols.tolist(), start=1):
        scores[col] = 1.0 / (k + rank)
    for rank, col in enumerate(dense_cols.tolist(), start=1):
        scores[col] = scores.get(col, 0.0) + dense_weight / (k + rank)
    if not scores:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    cols = np.fromiter(scores.keys(), np.int64, len(scores))
    vals = np.fromiter(scores.values(), np.float64, len(scores))
    order = np.argsort(-vals, kind="stable")  # dict order = keyword order first: stable keeps it for ties
    return cols[order], vals[order]
