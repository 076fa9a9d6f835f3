"""Search quality on BEIR SciFact through the same code path as the web search.

The 5,183 SciFact abstracts are imported as papers into a fresh SQLite database (with made-up
arXiv ids), indexed with `paperboy.search` (BM25 impact index + the default embedding model), and
each query goes through ``SearchService.search`` — the function behind /search — in three modes:
keyword only, dense only, hybrid. Reports nDCG@10 and Recall@100 on the test qrels (300 queries).
Fusion knobs are chosen on the *train* qrels (809 queries) with ``--tune``; test is never tuned on.

``--database-url`` runs the same on PostgreSQL (search/pg.py: BM25 postings and pgvector inside the
database, HNSW index built as `paperboy index` builds it): a URL, or ``pgserver`` for a local
PostgreSQL 16 + pgvector server kept under bench/out/pgserver. The vectors are taken from the SQLite
run's database when it has them (same model, same texts), else embedded again.

Usage: python bench/search_quality.py [--tune] [--model PATH] [--database-url URL|pgserver]
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import re
import time
from pathlib import Path

import numpy as np

from common import OUT, SHARED, built, database_url, machine, mark_built

SCIFACT = SHARED / "data" / "beir" / "scifact"


def qrels(name: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    with open(SCIFACT / "qrels" / f"{name}.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return out


def ndcg_at(run: list[str], rel: dict[str, int], k: int = 10) -> float:
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(run[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def build(data_dir: Path, embedder, url: str | None = None):
    """The SciFact database, built once per model under bench/out/ and reused (embedding is the slow part)."""
    from paperboy.papers.model import PaperRecord
    from paperboy.search.indexer import embed_pending, rebuild_ann, rebuild_keyword_index
    from paperboy.store import repo
    from paperboy.store.db import make_engine, upgrade

    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url or f"sqlite:///{data_dir / 'paperboy.db'}")
    fresh = not built(engine) if url else not (data_dir / "paperboy.db").exists()
    upgrade(engine)
    corpus = [json.loads(line) for line in open(SCIFACT / "corpus.jsonl")]
    id_of = {}
    records = []
    for n, doc in enumerate(corpus, start=1):
        arxiv_id = f"2001.{n:05d}"
        id_of[arxiv_id] = doc["_id"]
        records.append(PaperRecord(arxiv_id=arxiv_id, title=doc["title"] or "(untitled)", abstract=doc["text"] or "(empty)", source="scifact"))
    if fresh:
        with engine.begin() as conn:
            repo.upsert_papers(conn, records)
        rebuild_keyword_index(engine, data_dir)
        if url:
            copy_vectors(engine, data_dir.parent / data_dir.name.removeprefix("pg-") / "paperboy.db", embedder.name)
    started = time.perf_counter()
    report = embed_pending(engine, embedder, batch_size=64)
    rate = report.embedded / (time.perf_counter() - started) if report.embedded else 0.0
    if url and fresh:
        rebuild_ann(engine, data_dir, embedder.name)  # pgvector's HNSW index, as `paperboy index` makes it
        mark_built(engine)
    return engine, id_of, rate


def copy_vectors(engine, sqlite_path: Path, model: str) -> None:
    """The SQLite run's vectors for the same papers (matched by arXiv id) and model, if it has them."""
    from sqlalchemy import select

    from paperboy.search.vectors import store_embeddings
    from paperboy.store.db import make_engine, write_transaction
    from paperboy.store.schema import paper_embeddings, papers

    if not sqlite_path.exists():
        return
    source = make_engine(f"sqlite:///{sqlite_path}")
    with source.connect() as conn:
        rows = conn.execute(
            select(papers.c.arxiv_id, paper_embeddings.c.text_hash, paper_embeddings.c.vector)
            .join(papers, papers.c.id == paper_embeddings.c.paper_id).where(paper_embeddings.c.model == model)
        ).all()  # fmt: skip
    source.dispose()
    with engine.connect() as conn:
        pid = dict(conn.execute(select(papers.c.arxiv_id, papers.c.id)).all())
    with write_transaction(engine) as conn:
        store_embeddings(conn, model, [(pid[a], h, np.frombuffer(v, "<f4")) for a, h, v in rows if a in pid])
    print(f"took {len(rows):,} vectors from {sqlite_path}")


def evaluate(service, id_of, queries, judged, **mode) -> tuple[float, float, float]:
    ndcgs, recalls, latencies = [], [], []
    for qid, rel in judged.items():
        start = time.perf_counter()
        result = service.search(queries[qid], per_page=100, **mode)
        latencies.append(time.perf_counter() - start)
        run = [id_of[p.arxiv_id] for p in result.papers]
        ndcgs.append(ndcg_at(run, rel))
        recalls.append(len(set(run) & set(rel)) / len(rel))
    return float(np.mean(ndcgs)), float(np.mean(recalls)), float(np.median(latencies) * 1000)


def main() -> None:
    from paperboy.search import fusion
    from paperboy.search.embed import load_embedder
    from paperboy.search.factory import open_search

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tune", action="store_true", help="score RRF and a grid of keyword weights on train qrels")
    parser.add_argument("--model", default=None, help="a local embedding model folder instead of the packaged default")
    parser.add_argument("--database-url", default=None, help="PostgreSQL: a URL, or 'pgserver' to start one under bench/out/pgserver")
    args = parser.parse_args()
    embedder = load_embedder(args.model)
    # Each query is embedded once, however many fusion settings are tried (the cache is the bench's).
    embed_query = functools.lru_cache(maxsize=None)(embedder.embed_query)
    embedder.embed_query = embed_query
    queries = {json.loads(line)["_id"]: json.loads(line)["text"] for line in open(SCIFACT / "queries.jsonl")}
    name = f"scifact-{re.sub(r'[^A-Za-z0-9_.@-]+', '_', embedder.name)}"
    url = database_url(args.database_url, re.sub(r"[^a-z0-9_]+", "_", name.lower())[:60])
    data_dir = OUT / (f"pg-{name}" if url else name)
    engine, id_of, rate = build(data_dir, embedder, url)
    service = open_search(engine, data_dir, embedder_loader=lambda: embedder)
    print(f"machine: {machine()}")
    print(f"search backend: {service.status()['backend']}")
    print(f"model: {embedder.name}" + (f"; embedded the 5,183 SciFact abstracts at {rate:,.1f} docs/s" if rate else " (vectors reused from an earlier run)"))
    if args.tune:
        train = qrels("train")
        print("\ntuning on train (nDCG@10):")
        print(f"  rrf k={fusion.RRF_K} (the earlier rule)  {evaluate(service, id_of, queries, train, fusion=fusion.rrf)[0]:.4f}")
        best = None
        for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            score = evaluate(service, id_of, queries, train, fusion=functools.partial(fusion.fuse, keyword_weight=w))[0]
            print(f"  convex keyword weight {w:<4} {score:.4f}")
            if best is None or score > best[0]:
                best = (score, w)
        print(f"best on train: keyword weight {best[1]} ({best[0]:.4f}); the default is {fusion.KEYWORD_WEIGHT} (see search/fusion.py)")
    test = qrels("test")
    print(f"\nSciFact test, {len(test)} queries, convex fusion, keyword weight {fusion.KEYWORD_WEIGHT}:")
    print("| mode | nDCG@10 | Recall@100 | median query ms |")
    print("|---|---:|---:|---:|")
    for name, mode in (("keyword (BM25)", {"semantic": False}), ("dense", {"keyword": False}), ("hybrid", {})):
        n, r, ms = evaluate(service, id_of, queries, test, **mode)
        print(f"| {name} | {n:.4f} | {r:.4f} | {ms:.1f} |")
    engine.dispose()


if __name__ == "__main__":
    main()
