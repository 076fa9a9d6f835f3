"""Keeping the search indexes in step with the papers: ``paperboy index``.

* Embeddings: every visible paper whose embedded text (the embedder's ``document_text``: title +
  abstract) has no vector yet — or changed since — is embedded in batches; each batch is written in
  its own transaction with its text hashes, so a kill loses at most the batch in flight and a rerun
  carries on where it stopped.
* Keyword index: rebuilt from the database and swapped in atomically (write, then rename).
* HNSW graph (large archives only): rebuilt once enough vectors are newer than it.
* Vectors file: every vector in one file that the web processes memory-map (shared between them),
  rewritten when embedding finishes a run of new vectors (:func:`refresh_vector_file`).

:func:`update_indexes` runs these steps in their order; ``paperboy index`` and the worker's daily
index step both call it, so the two can never drift apart.

The index files' paths are defined here; the search service (:mod:`paperboy.search.service`) reads
them and depends on this module, never the other way round.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from paperboy.search.embedder import Embedder
from paperboy.search.keyword import KeywordIndex, build_keyword_index
from paperboy.search.vectors import store_embeddings
from paperboy.store import versions
from paperboy.store.db import write_transaction
from paperboy.store.schema import paper_authors, paper_embeddings, papers

__all__ = [
    "IndexReport",
    "IndexRun",
    "ann_path",
    "embed_new",
    "embed_pending",
    "keyword_documents",
    "keyword_index_path",
    "pending_embeddings",
    "rebuild_ann",
    "rebuild_keyword_index",
    "refresh_vector_file",
    "text_hash",
    "update_indexes",
    "vector_file_path",
]


@dataclass
class IndexReport:
    embedded: int = 0
    up_to_date: int = 0
    pending: int = 0


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def pending_embeddings(engine: Engine, model: str, document_text: Callable[[str, str], str]) -> tuple[list[tuple[int, str, str]], int]:
    """([(paper id, text, text hash)] needing a vector, number already up to date)."""
    with engine.connect() as conn:
        stored = dict(conn.execute(select(paper_embeddings.c.paper_id, paper_embeddings.c.text_hash).where(paper_embeddings.c.model == model)).all())
        todo, done = [], 0
        for pid, title, abstract in conn.execute(
            select(papers.c.id, papers.c.title, papers.c.abstract).where(papers.c.hidden_at.is_(None)).order_by(papers.c.id)
        ):
            text = document_text(title, abstract)
            h = text_hash(text)
            if stored.get(pid) == h:
                done += 1
            else:
                todo.append((pid, text, h))
    return todo, done


def embed_pending(
    engine: Engine,
    embedder: Embedder,
    *,
    batch_size: int = 256,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IndexReport:
    """Embed what needs it; ``progress(done, total)`` after each committed batch."""
    todo, done = pending_embeddings(engine, embedder.name, embedder.document_text)
    if limit is not None:
        todo = todo[:limit]
    report = IndexReport(up_to_date=done, pending=len(todo))
    if progress:
        progress(0, len(todo))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        vectors = embedder.embed_documents([text for _, text, _ in chunk])
        with write_transaction(engine) as conn:
            store_embeddings(conn, embedder.name, [(pid, h, v) for (pid, _, h), v in zip(chunk, vectors)])
            versions.bump_search_version(conn)
        report.embedded += len(chunk)
        if progress:
            progress(report.embedded, len(todo))
    return report


def keyword_index_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "search" / "keyword.idx"


def ann_path(data_dir: str | Path, model: str) -> Path:
    """One graph per model: switching models never reads the other model's vectors."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model)
    return Path(data_dir) / "search" / f"vectors-{safe}.usearch"


def vector_file_path(data_dir: str | Path, model: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model)
    return Path(data_dir) / "search" / f"vectors-{safe}.f32"


#: While embedding a backlog, the vectors file is rewritten after this many new vectors (or a tenth
#: of the backlog, if more), so that search processes hold at most about this many rows of their own
#: (the rest they share, mapped).
VECTOR_FILE_EVERY = 10_000


def refresh_vector_file(engine: Engine, data_dir: str | Path, model: str) -> int:
    """Rewrite the vectors file of ``model`` if the table has vectors newer than it (SQLite only:
    on PostgreSQL the database serves the vectors); search processes take it on their next refresh.
    Returns the vectors written (0: nothing to do)."""
    from paperboy.search.vectors import vector_file_state, write_vector_file

    if engine.dialect.name == "postgresql":
        return 0
    path = vector_file_path(data_dir, model)
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(paper_embeddings.c.seq)).where(paper_embeddings.c.model == model)).scalar()
        if newest is None:
            return 0
        held = vector_file_state(path)
        if held is not None and newest == held.seq:  # no newer vector; but a paper deleted since also calls for a new file
            if not held.papers or conn.execute(select(func.count()).select_from(papers).where(papers.c.id <= held.last_id)).scalar() == held.papers:
                return 0
        written = write_vector_file(conn, path, model)
    with write_transaction(engine) as conn:
        versions.bump_search_version(conn)
    return written


def embed_new(
    engine: Engine,
    embedder: Embedder,
    data_dir: str | Path | None = None,
    *,
    batch_size: int = 256,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[IndexReport, int]:
    """Embed papers without a current vector and, with ``data_dir`` (SQLite), keep the vectors file
    the web processes share in step: rewritten every :data:`VECTOR_FILE_EVERY` new vectors (or a
    tenth of the backlog, if more: each write reads every vector, 1.5 GB at 1M papers) and when the
    run ends. Returns the report and how many vectors the file holds if it was written (else 0)."""
    written = [0, 0]  # embedded when the file was last written, vectors in it

    def checkpoint(done: int, total: int) -> None:
        if data_dir is not None and done - written[0] >= max(VECTOR_FILE_EVERY, total // 10):
            written[1] = refresh_vector_file(engine, data_dir, embedder.name) or written[1]
            written[0] = done
        if progress is not None:
            progress(done, total)

    report = embed_pending(engine, embedder, batch_size=batch_size, limit=limit, progress=checkpoint)
    if data_dir is not None:
        written[1] = refresh_vector_file(engine, data_dir, embedder.name) or written[1]
    return report, written[1]


@dataclass
class IndexRun:
    """What :func:`update_indexes` did, step by step (what ``paperboy index`` prints and the
    worker records)."""

    keyword_papers: int = 0
    keyword_terms: int = 0
    keyword_seconds: float = 0.0
    model: str | None = None
    embedding: IndexReport = field(default_factory=IndexReport)
    embed_seconds: float = 0.0
    vectors_file: int = 0
    graph: int = 0


def update_indexes(
    engine: Engine,
    data_dir: str | Path,
    embedder: Callable[[], Embedder],
    *,
    keyword_only: bool = False,
    batch_size: int = 256,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    keyword_done: Callable[[IndexRun], None] | None = None,
) -> IndexRun:
    """Bring the search indexes up to date, one step after the other: rebuild the keyword index,
    embed papers without a vector (keeping the vectors file in step), rebuild the HNSW graph if it
    is due. ``embedder`` is called only after the keyword index is built (loading a model takes
    seconds and may fail; keyword search is then current all the same), ``keyword_done`` as soon
    as it is. The same steps for ``paperboy index`` and the worker, whichever starts them."""
    started = time.perf_counter()
    keyword = rebuild_keyword_index(engine, data_dir)
    run = IndexRun(keyword_papers=len(keyword), keyword_terms=len(keyword.vocab), keyword_seconds=time.perf_counter() - started)
    if keyword_done is not None:
        keyword_done(run)
    if keyword_only:
        return run
    model = embedder()
    run.model = model.name
    started = time.perf_counter()
    run.embedding, run.vectors_file = embed_new(engine, model, data_dir, batch_size=batch_size, limit=limit, progress=progress)
    run.embed_seconds = time.perf_counter() - started
    run.graph = rebuild_ann(engine, data_dir, model.name)  # only at scale, and only when stale
    return run


def keyword_documents(conn: Connection, after_id: int = 0) -> Iterator[tuple[int, str, str, list[str]]]:
    """(paper id, title, abstract, authors) of every paper with id > after_id, by id: what the
    keyword index is built from (hidden papers too: search filters them, so hiding needs no rebuild)."""
    authors: dict[int, list[str]] = {}
    for pid, name in conn.execute(
        select(paper_authors.c.paper_id, paper_authors.c.name)
        .where(paper_authors.c.paper_id > after_id)
        .order_by(paper_authors.c.paper_id, paper_authors.c.position)
    ):
        authors.setdefault(pid, []).append(name)
    for pid, title, abstract in conn.execute(
        select(papers.c.id, papers.c.title, papers.c.abstract).where(papers.c.id > after_id).order_by(papers.c.id)
    ):
        yield pid, title, abstract, authors.get(pid, [])


def rebuild_keyword_index(engine: Engine, data_dir: str | Path) -> KeywordIndex:
    """Build the keyword index over every paper and swap it in; search processes take it on their next
    refresh (the search version moves). On PostgreSQL the index goes into the database (a new
    generation of :mod:`paperboy.search.pg_index`), not into a file: web nodes read it from there."""
    with engine.connect() as conn:
        index = build_keyword_index(keyword_documents(conn))
    if engine.dialect.name == "postgresql":
        from paperboy.search.pg_index import write_keyword_generation

        write_keyword_generation(engine, index)  # moves the search version itself
        return index
    index.save(keyword_index_path(data_dir))
    with write_transaction(engine) as conn:
        versions.bump_search_version(conn)
    return index


#: The graph is rebuilt once the vectors added since it was built reach this share of it; until then
#: queries search those newer vectors exactly, next to the graph (see VectorIndex.top_ann).
ANN_STALE_SHARE = 0.10


def rebuild_ann(engine: Engine, data_dir: str | Path, model: str, *, min_vectors: int | None = None, force: bool = False) -> int:
    """Build the HNSW graph over every stored vector of ``model`` when there are enough of them and
    the current graph (if any) lacks at least :data:`ANN_STALE_SHARE` of them (``force``: always).

    Returns how many vectors went into the graph (0: too few for a graph, or the graph is fresh enough).

    On PostgreSQL the graph is pgvector's HNSW index, which PostgreSQL keeps current by itself: this
    fills ``embedding`` where it is missing and creates the index once (any number of vectors);
    returns how many vectors it indexed when it built it, else 0.
    """
    if engine.dialect.name == "postgresql":
        return _ensure_pg_vectors(engine, model)
    import json

    import numpy as np

    from paperboy.search.vectors import ANN_MIN_VECTORS, build_ann, read_embeddings

    path = ann_path(data_dir, model)
    if not force and path.is_file() and path.with_suffix(".json").is_file():
        built = json.loads(path.with_suffix(".json").read_text())
        with engine.connect() as conn:
            newer = conn.execute(
                select(func.count()).select_from(paper_embeddings)
                .where(paper_embeddings.c.model == model, paper_embeddings.c.seq > int(built["seq"]))
            ).scalar()  # fmt: skip
        if newer < ANN_STALE_SHARE * int(built["vectors"]):
            return 0
    with engine.connect() as conn:
        rows = list(read_embeddings(conn, model))
    if len(rows) < (ANN_MIN_VECTORS if min_vectors is None else min_vectors):
        return 0
    seq = max(r[0] for r in rows)
    pids = np.fromiter((r[1] for r in rows), np.int64, len(rows))
    vectors = np.vstack([r[2] for r in rows])
    build_ann(pids, vectors, path)
    path.with_suffix(".json").write_text(json.dumps({"seq": seq, "vectors": len(rows)}))
    with write_transaction(engine) as conn:
        versions.bump_search_version(conn)
    return len(rows)


def embedding_progress(conn: Connection) -> dict:
    """How far embedding has got, for ``paperboy stats``: the model written last and how many visible
    papers have a vector of it (search by meaning covers those; the others are found by keyword)."""
    model = conn.execute(select(paper_embeddings.c.model).order_by(paper_embeddings.c.seq.desc()).limit(1)).scalar()
    visible = papers.c.hidden_at.is_(None)
    total = conn.execute(select(func.count()).select_from(papers).where(visible)).scalar_one()
    embedded = 0
    if model is not None:
        embedded = conn.execute(
            select(func.count()).select_from(paper_embeddings).join(papers, papers.c.id == paper_embeddings.c.paper_id)
            .where(paper_embeddings.c.model == model, visible)
        ).scalar_one()  # fmt: skip
    return {"embedding_model": model, "embedded": embedded, "visible_papers": total}


def _ensure_pg_vectors(engine: Engine, model: str) -> int:
    from paperboy.search.pg_index import backfill_vectors, ensure_vector_index

    backfill_vectors(engine, model)
    with engine.connect() as conn:
        row = conn.execute(
            select(func.count(), func.max(func.length(paper_embeddings.c.vector))).where(paper_embeddings.c.model == model)
        ).one()  # fmt: skip
    if not row[0]:
        return 0  # no vector yet: the dimension is not known; the next run makes the index
    if not ensure_vector_index(engine, model, row[1] // 4):
        return 0
    with write_transaction(engine) as conn:
        versions.bump_search_version(conn)
    return int(row[0])
