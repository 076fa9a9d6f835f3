"""Hybrid search latency on the full corpus (or a replicated, larger one), warm, through open_search.

Builds (once, under bench/out/) a database with the shared corpus — or with it replicated ``--copies``
times under new arXiv ids (see :func:`replica_id`: copy c of 25MM.NNNNN / 26MM.NNNNN is
(25+2c)MM.NNNNN / (26+2c)MM.NNNNN; titles, abstracts, authors and days unchanged; 14 copies make
1,045,659 papers) — then its keyword index and one vector
per paper. Query embedding is real
(the default model); the paper vectors are the real model's if ``--real-vectors`` (slow: the whole
corpus is embedded), else random unit vectors: exact search costs the same whatever the values, and
an HNSW graph (built, as ``paperboy index`` does, from ANN_MIN_VECTORS vectors up) is slower to search
over random vectors than over real ones, which cluster — so the figure errs on the slow side.

Reports p50/p95/p99 over 200 queries (titles of random papers with a few words dropped, and short
topic queries), after a warm-up, with the query embedding included — hybrid, keyword only and dense
only — and the process's resident memory before and after the search state is loaded.

``--database-url`` runs the same on PostgreSQL (the search backend inside the database,
search/pg.py): a URL, or ``pgserver`` for a PostgreSQL 16 + pgvector server from the pgserver
wheel kept under bench/out/pgserver. The build is the same, with the keyword index written into the
database and pgvector's HNSW index built after the vectors are loaded (as `paperboy index` does);
build times and the database's size are printed.

Usage: python bench/search_latency.py [--copies 1] [--real-vectors] [--database-url URL|pgserver]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
from common import CORPUS, OUT, built, database_url, machine, mark_built, postgres_sizes, rss_mb


def replica_id(arxiv_id: str, copy: int) -> str | None:
    """The id of ``arxiv_id`` in copy ``copy`` (0: itself): the year moves on by two per copy, so
    2503.01234 -> 2703.01234 (copy 1), 2903.01234 (copy 2) … and 2603.01234 -> 2803.01234 …; the
    corpus's ids are from 2025 and 2026, so copies never collide. The 41 older papers are not copied."""
    yymm, _, number = arxiv_id.partition(".")
    if copy == 0:
        return arxiv_id
    if not number or yymm[:2] not in ("25", "26"):
        return None
    return f"{int(yymm[:2]) + 2 * copy}{yymm[2:]}.{number}"


def build(db_dir: Path, copies: int, dim: int, model: str, real_vectors: bool, embedder, url: str | None = None) -> None:
    from paperboy.ingest.dumps import import_dump
    from paperboy.search.indexer import (
        embed_pending,
        rebuild_ann,
        rebuild_keyword_index,
    )
    from paperboy.store.db import make_engine, upgrade

    db_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url or f"sqlite:///{db_dir / 'paperboy.db'}")
    upgrade(engine)
    started = time.perf_counter()
    if url and copies > 1:  # PostgreSQL: import the corpus once, then copy its rows in SQL (same ids as below)
        import_dump(engine, CORPUS)
        replicate_in_sql(engine, copies)
    elif copies == 1:
        import_dump(engine, CORPUS)
    else:
        with gzip.open(CORPUS) as f:
            source = [json.loads(line) for line in f]
        path = db_dir / "replicated.jsonl"
        with open(path, "w") as f:
            for c in range(copies):
                for obj in source:
                    new_id = replica_id(obj["id"], c)
                    if new_id:
                        f.write(json.dumps(dict(obj, id=new_id)) + "\n")
        import_dump(engine, path)
        path.unlink()
    print(f"imported in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    rebuild_keyword_index(engine, db_dir)
    print(f"keyword index built{' and written to the database' if url else ''} in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    if real_vectors:
        embed_pending(engine, embedder)
    elif url:
        copy_random_vectors(engine, model, dim)
    else:
        store_random_vectors(engine, model, dim)
    print(f"vectors stored in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    n = rebuild_ann(engine, db_dir, model)  # what `paperboy index` does: the graph (on SQLite once there are >= ANN_MIN_VECTORS)
    if n:
        print(f"HNSW graph over {n:,} vectors built in {time.perf_counter() - started:.1f} s")
    if url:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        mark_built(engine)
    engine.dispose()
    (db_dir / "built").write_text("ok\n")


def replicate_in_sql(engine, copies: int) -> None:
    """Copies 1 … copies-1 of the imported corpus, made inside PostgreSQL with :func:`replica_id`'s ids
    (INSERT … SELECT: minutes, where importing the replicated file row by row takes most of an hour
    on 2 cores). Same papers, authors, categories and days as the SQLite build's import."""
    from sqlalchemy import func, select, text

    from paperboy.store.db import write_transaction
    from paperboy.store.schema import paper_authors, paper_categories, papers

    with engine.connect() as conn:
        last = conn.execute(select(func.max(papers.c.id))).scalar()
    cols = [c.name for c in papers.columns if c.name not in ("id", "arxiv_id")]
    new_id = "((substr(o.arxiv_id, 1, 2)::int + 2 * :c)::text || substr(o.arxiv_id, 3))"
    originals = f"o.id <= {int(last)} AND o.arxiv_id ~ '^(25|26)[0-9]{{2}}[.]'"
    for c in range(1, copies):
        with write_transaction(engine) as conn:
            conn.execute(text(f"INSERT INTO papers (arxiv_id, {', '.join(cols)}) SELECT {new_id}, {', '.join('o.' + n for n in cols)}"
                              f" FROM papers o WHERE {originals} ORDER BY o.id"), {"c": c})  # fmt: skip
            for table in (paper_authors, paper_categories):
                rest = [col.name for col in table.columns if col.name != "paper_id"]
                conn.execute(text(
                    f"INSERT INTO {table.name} (paper_id, {', '.join(rest)}) SELECT n.id, {', '.join('t.' + r for r in rest)}"
                    f" FROM {table.name} t JOIN papers o ON o.id = t.paper_id JOIN papers n ON n.arxiv_id = {new_id} WHERE {originals}"
                ), {"c": c})  # fmt: skip
        print(f"copy {c} made")


def copy_random_vectors(engine, model: str, dim: int) -> None:
    """PostgreSQL: the same random vectors as :func:`store_random_vectors`, loaded with COPY — a
    million rows written through ``store_embeddings`` (text-formatted vectors, batched INSERTs) take
    most of an hour on 2 cores; what is searched is the same rows."""
    import io

    from sqlalchemy import select

    from paperboy.store.schema import papers

    rng = np.random.default_rng(0)
    with engine.connect() as conn:
        ids = conn.execute(select(papers.c.id)).scalars().all()
    raw = engine.raw_connection()
    try:
        for start in range(0, len(ids), 20_000):
            chunk = ids[start : start + 20_000]
            vectors = rng.standard_normal((len(chunk), dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            text_vectors = io.StringIO()
            np.savetxt(text_vectors, vectors, fmt="%.9g", delimiter=",")
            lines = text_vectors.getvalue().splitlines()
            with raw.cursor() as cur, cur.copy("COPY paper_embeddings (paper_id, model, text_hash, vector, embedding) FROM STDIN") as copy:
                for pid, v, line in zip(chunk, vectors, lines):
                    copy.write_row((pid, model, "synthetic", v.astype("<f4").tobytes(), f"[{line}]"))
            raw.commit()
    finally:
        raw.close()


def store_random_vectors(engine, model: str, dim: int) -> None:
    from sqlalchemy import select

    from paperboy.search.vectors import store_embeddings
    from paperboy.store.db import write_transaction
    from paperboy.store.schema import papers

    rng = np.random.default_rng(0)
    with engine.connect() as conn:
        ids = conn.execute(select(papers.c.id)).scalars().all()
    for start in range(0, len(ids), 20_000):
        chunk = ids[start : start + 20_000]
        vectors = rng.standard_normal((len(chunk), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with write_transaction(engine) as conn:
            store_embeddings(conn, model, [(pid, "synthetic", v) for pid, v in zip(chunk, vectors)])


def main() -> None:
    from paperboy.search.embed import load_embedder
    from paperboy.search.factory import open_search
    from paperboy.store.db import make_engine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--real-vectors", action="store_true")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="PostgreSQL: a URL, or 'pgserver' to start one under bench/out/pgserver")
    args = parser.parse_args()
    embedder = load_embedder()
    name = f"search-{args.copies}x{'-real' if args.real_vectors else ''}"
    url = database_url(args.database_url, name.replace("-", "_"))
    db_dir = OUT / (f"pg-{name}" if url else name)
    if url:
        probe = make_engine(url)
        if not built(probe):
            from sqlalchemy import inspect

            if inspect(probe).get_table_names():
                raise SystemExit(f"{url} holds an unfinished or foreign database: drop it (or give an empty one) to rebuild")
            build(db_dir, args.copies, embedder.dim, embedder.name, args.real_vectors, embedder, url)
        probe.dispose()
    elif not (db_dir / "built").exists():  # (re)build from scratch: a half-built one is not trusted
        shutil.rmtree(db_dir, ignore_errors=True)
        build(db_dir, args.copies, embedder.dim, embedder.name, args.real_vectors, embedder)
    engine = make_engine(url or f"sqlite:///{db_dir / 'paperboy.db'}")
    embedder.embed_query("warm the model up")
    rss_before = rss_mb()
    empty_dir = OUT / "empty-data-dir"
    empty_dir.mkdir(parents=True, exist_ok=True)
    service = open_search(engine, empty_dir if url else db_dir, embedder_loader=lambda: embedder)
    started = time.perf_counter()
    service.refresh()
    print(f"machine: {machine()}")
    with engine.connect() as conn:
        from paperboy.store import repo

        papers = repo.count_papers(conn)
    print(f"backend: {service.status()['backend']}; papers: {papers:,}; ready in {time.perf_counter() - started:.1f} s"
          + (f"; {postgres_sizes(engine)}" if url else ""))  # fmt: skip
    rng = random.Random(0)
    with gzip.open(CORPUS) as f:
        titles = [json.loads(line)["title"] for line in f]
    topics = ["diffusion models", "graph neural network", "reinforcement learning from human feedback", "gaussian splatting",
              "retrieval augmented generation", "vision language model hallucination", "federated learning privacy",
              "speech recognition low resource", "protein structure prediction", "autonomous driving planning"]  # fmt: skip
    queries = []
    for i in range(args.queries):
        if i % 2:
            queries.append(rng.choice(topics))
        else:
            words = rng.choice(titles).split()
            queries.append(" ".join(w for w in words if rng.random() > 0.25) or words[0])
    modes = {"hybrid": {}, "keyword": {"semantic": False}, "dense": {"keyword": False}}
    for q in queries[:20]:  # warm-up
        for mode in modes.values():
            service.search(q, **mode)
    rss_loaded = rss_mb()
    latencies: dict[str, list[float]] = {m: [] for m in modes}
    for q in queries:  # the modes interleaved, so a noisy moment hits them alike
        for m, mode in modes.items():
            start = time.perf_counter()
            service.search(q, **mode)
            latencies[m].append((time.perf_counter() - start) * 1000)
    embed_ms = []
    for q in queries[:50]:
        start = time.perf_counter()
        embedder.embed_query(q)
        embed_ms.append((time.perf_counter() - start) * 1000)
    for m, values in latencies.items():
        q = statistics.quantiles(values, n=100, method="inclusive")
        print(f"{m} search, warm{', query embedding included' if m != 'keyword' else ''} ({len(values)} queries): "
              f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms")  # fmt: skip
    print(f"query embedding alone p50 {statistics.median(embed_ms):.1f} ms")
    print(f"process memory (RSS): {rss_before:,.0f} MB with the model loaded; {rss_loaded:,.0f} MB with the search state loaded and warm;"
          f" {rss_mb():,.0f} MB after the {3 * len(queries)} timed searches")  # fmt: skip
    print(f"vectors: {'real' if args.real_vectors else 'synthetic (random unit vectors; exact search costs the same)'}")
    status = service.status()
    if "postings_cached_terms" in status:  # the modes run one query after another: keyword's follows hybrid's
        print(f"postings kept in memory at the end: {status['postings_cached_terms']} terms, {status['postings_cached_bytes'] / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
