"""Related papers: the papers most like a given one, for its page and ``/api/papers/{id}/related``.

score = cosine similarity of the two papers' embeddings + :data:`AUTHOR_BONUS` per shared author
(at most :data:`MAX_SHARED_AUTHORS` count) — a light nudge towards the same group's work that never
outweighs a clearly closer topic. A paper without a vector (no model, or not embedded yet) falls back
to BM25 on its title, scores scaled so that the best match is 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy import Connection, select

from paperboy.search.catalog import Catalog
from paperboy.search.vectors import VectorIndex
from paperboy.store.schema import paper_authors, papers

__all__ = ["AUTHOR_BONUS", "MAX_SHARED_AUTHORS", "KeywordSearch", "Related", "author_nudge", "related_papers"]

AUTHOR_BONUS = 0.03
MAX_SHARED_AUTHORS = 3
#: ``(text, mask) -> (columns, BM25 scores)`` of the matching papers allowed by ``mask``, best first.
KeywordSearch = Callable[[str, np.ndarray], tuple[np.ndarray, np.ndarray]]


class Related(list):
    """(paper id, score) pairs, best first, that also say how they were found: ``by_keyword`` when the
    paper has no vector and these only share words with its title (BM25) — not close matches in
    topic, and pages must not show them as such."""

    def __init__(self, items=(), *, by_keyword: bool = False):
        super().__init__(items)
        self.by_keyword = by_keyword


def related_papers(
    conn: Connection,
    catalog: Catalog,
    vectors: VectorIndex | None,
    keyword_search: KeywordSearch,
    paper_id: int,
    k: int = 8,
) -> list[tuple[int, float]]:
    """(paper id, score) of the ``k`` visible papers most like ``paper_id``, best first; ``[]`` for an
    unknown paper. The author nudge reorders the ``4k`` most similar, so it cannot bring in a far one."""
    col = int(np.searchsorted(catalog.ids, paper_id))
    if col >= len(catalog.ids) or catalog.ids[col] != paper_id:
        return []
    mask = ~catalog.hidden
    mask[col] = False
    by_keyword = not (vectors is not None and vectors.present[col])
    if not by_keyword:
        cols, sims = vectors.top(vectors.rows([col])[0], mask, k * 4, catalog.ids)
    else:
        title = conn.execute(select(papers.c.title).where(papers.c.id == paper_id)).scalar() or ""
        cols, scores = keyword_search(title, mask)
        cols, sims = cols[: k * 4], (scores[: k * 4] / (scores[0] if len(scores) else 1.0))
    if not len(cols):
        return Related(by_keyword=by_keyword)
    return Related(author_nudge(conn, paper_id, [int(catalog.ids[c]) for c in cols], sims, k), by_keyword=by_keyword)


def author_nudge(conn: Connection, paper_id: int, ids: list[int], sims, k: int) -> list[tuple[int, float]]:
    """The ``k`` best of the candidates ``ids`` (similarities ``sims``) once each gets
    :data:`AUTHOR_BONUS` per author it shares with ``paper_id`` — shared by both search backends."""
    if not ids:
        return []
    mine = set(conn.execute(select(paper_authors.c.name_key).where(paper_authors.c.paper_id == paper_id)).scalars())
    shared: dict[int, int] = {}
    if mine:
        for (pid,) in conn.execute(
            select(paper_authors.c.paper_id).where(paper_authors.c.paper_id.in_(ids), paper_authors.c.name_key.in_(mine))
        ):
            shared[pid] = shared.get(pid, 0) + 1
    scored = [(pid, float(s) + AUTHOR_BONUS * min(shared.get(pid, 0), MAX_SHARED_AUTHORS)) for pid, s in zip(ids, sims)]
    scored.sort(key=lambda item: -item[1])
    return scored[:k]
