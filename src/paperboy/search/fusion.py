"""How keyword and semantic results are combined: the whole rule, in one function (:func:`fuse`).

A convex combination of normalised scores, not reciprocal rank fusion. Both were measured
(bench/search_quality.py on SciFact train, bench/known_item.py on a dev sample of the real
corpus): RRF gives a paper that only one side found at most 1/(k+1), so a paper whose exact words
the user typed — first by far for BM25, absent from the 100 nearest vectors — lost to papers both
sides ranked lower (known-item queries found first: keyword alone 96%, RRF 88%; from abstract words
78% vs 42%). Scores keep that margin: each candidate (keyword's and the dense side's) gets both its
BM25 score and its cosine similarity, each scaled to [0, 1] within the query, then

    fused = KEYWORD_WEIGHT · bm25 / max bm25  +  (1 − KEYWORD_WEIGHT) · (cos − floor) / (max cos − floor)

where ``floor`` is the 100th-best cosine (the dense candidate list's last), below which a paper
gets nothing from the dense side. The weight was chosen on SciFact train and a known-item dev set
(never on the test sets): see docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["KEYWORD_WEIGHT", "RRF_K", "Fusion", "fuse", "rrf"]

KEYWORD_WEIGHT = 0.7  # tuned on SciFact train and a known-item dev sample (docs/benchmarks.md)
RRF_K = 20  # for rrf(), the baseline the benchmarks compare with

#: A fusion rule, called as ``rule(keyword_cols, keyword_scores, candidate_sims, dense_cols, dense_sims)``
#: and returning (columns, scores), best first: :func:`fuse`, :func:`rrf`, or either with its knob set
#: through ``functools.partial``. ``SearchService.search(fusion=...)`` takes one.
Fusion = Callable[[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def fuse(
    keyword_cols: np.ndarray,
    keyword_scores: np.ndarray,
    candidate_sims,
    dense_cols: np.ndarray,
    dense_sims: np.ndarray,
    *,
    keyword_weight: float = KEYWORD_WEIGHT,
) -> tuple[np.ndarray, np.ndarray]:
    """Fused ranking of the union of both candidate lists, best first: (columns, scores).

    ``keyword_*``: BM25 matches, best first; ``dense_*``: the nearest vectors, best first;
    ``candidate_sims(cols)``: the cosine similarity of any columns (0 for a paper without a vector).
    Either side may be empty (then the other side's order is kept). Ties go to the keyword order.
    """
    if not len(dense_cols):
        return keyword_cols, np.asarray(keyword_scores, np.float64)
    if not len(keyword_cols):
        return dense_cols, np.asarray(dense_sims, np.float64)
    extra = np.setdiff1d(dense_cols, keyword_cols, assume_unique=True)
    cols = np.concatenate([keyword_cols, extra])  # keyword order first: a stable sort keeps it for ties
    bm25 = np.concatenate([np.asarray(keyword_scores, np.float64), np.zeros(len(extra))])
    sims = np.asarray(candidate_sims(cols), np.float64)
    top_bm25 = bm25.max()
    floor, top_sim = float(np.min(dense_sims)), float(np.max(dense_sims))
    bm25_part = bm25 / top_bm25 if top_bm25 > 0 else bm25
    dense_part = np.clip((sims - floor) / (top_sim - floor), 0.0, 1.0) if top_sim > floor else (sims >= top_sim).astype(np.float64)
    fused = keyword_weight * bm25_part + (1.0 - keyword_weight) * dense_part
    order = np.argsort(-fused, kind="stable")
    return cols[order], fused[order]


def rrf(keyword_cols: np.ndarray, keyword_scores, candidate_sims, dense_cols: np.ndarray, dense_sims, *, k: int = RRF_K):
    """Reciprocal rank fusion, score(p) = 1/(k + rank_kw(p)) + 1/(k + rank_dense(p)) — the rule
    :func:`fuse` replaced, kept as the baseline for bench/search_quality.py and bench/known_item.py.
    Same arguments as :func:`fuse`, so either can be plugged in; only the ranks are used."""
    scores: dict[int, float] = {}
    for rank, col in enumerate(keyword_cols.tolist(), start=1):
        scores[col] = 1.0 / (k + rank)
    for rank, col in enumerate(dense_cols.tolist(), start=1):
        scores[col] = scores.get(col, 0.0) + 1.0 / (k + rank)
    if not scores:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    cols = np.fromiter(scores.keys(), np.int64, len(scores))
    vals = np.fromiter(scores.values(), np.float64, len(scores))
    order = np.argsort(-vals, kind="stable")
    return cols[order], vals[order]
