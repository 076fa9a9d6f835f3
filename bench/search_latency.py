"""Hybrid search latency on the full corpus (or a replicated, larger one), warm, through SearchService.

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
topic queries), after a warm-up, with the query embedding included.

Usage: python bench/search_latency.py [--copies 1] [--real-vectors]
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
from common import CORPUS, OUT, machine


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


def build(db_dir: Path, copies: int, dim: int, model: str, real_vectors: bool, embedder) -> None:
    from paperboy.ingest.dumps import import_dump
    from paperboy.search.indexer import (
        embed_pending,
        rebuild_ann,
        rebuild_keyword_index,
    )
    from paperboy.store.db import make_engine, upgrade

    db_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{db_dir / 'paperboy.db'}")
    upgrade(engine)
    if copies == 1:
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
    started = time.perf_counter()
    rebuild_keyword_index(engine, db_dir)
    print(f"keyword index built in {time.perf_counter() - started:.1f} s")
    if real_vectors:
        embed_pending(engine, embedder)
    else:
        store_random_vectors(engine, model, dim)
    started = time.perf_counter()
    n = rebuild_ann(engine, db_dir, model)  # what `paperboy index` does: the graph once there are >= ANN_MIN_VECTORS
    if n:
        print(f"HNSW graph over {n:,} vectors built in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    (db_dir / "built").write_text("ok\n")


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
    from paperboy.search.service import SearchService
    from paperboy.store.db import make_engine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--real-vectors", action="store_true")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    embedder = load_embedder()
    db_dir = OUT / f"search-{args.copies}x{'-real' if args.real_vectors else ''}"
    if not (db_dir / "built").exists():  # (re)build from scratch: a half-built one is not trusted
        shutil.rmtree(db_dir, ignore_errors=True)
        build(db_dir, args.copies, embedder.dim, embedder.name, args.real_vectors, embedder)
    engine = make_engine(f"sqlite:///{db_dir / 'paperboy.db'}")
    service = SearchService(engine, db_dir, embedder_loader=lambda: embedder)
    started = time.perf_counter()
    service.refresh()
    print(f"machine: {machine()}")
    print(f"papers: {len(service.catalog):,}; loaded indexes in {time.perf_counter() - started:.1f} s")
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
    for q in queries[:20]:  # warm-up
        service.search(q)
    latencies = []
    for q in queries:
        start = time.perf_counter()
        service.search(q)
        latencies.append((time.perf_counter() - start) * 1000)
    embed_ms = []
    for q in queries[:50]:
        start = time.perf_counter()
        embedder.embed_query(q)
        embed_ms.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(latencies, n=100)
    print(f"hybrid search, warm, query embedding included ({len(latencies)} queries): "
          f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms; query embedding alone p50 {statistics.median(embed_ms):.1f} ms")
    print(f"vectors: {'real' if args.real_vectors else 'synthetic (random unit vectors; exact search costs the same)'}")


if __name__ == "__main__":
    main()
