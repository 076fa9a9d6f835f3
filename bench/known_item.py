"""Known-item search on the real corpus: can a researcher find the paper they have in mind?

Uses the database ``bench/search_latency.py --real-vectors`` builds (the full corpus, its keyword
index and the default model's real vectors; ~25 min to build on the 2-core VM). For 300 random
papers (fixed seed) it asks three kinds of query a person would type, none of them the exact title:

* ``title-words``: the title with a quarter of its words dropped, lower-cased;
* ``gist``: 6 of the abstract's content words (stop words removed), in their order, from its middle;
* ``topic+author``: 3 title words and an author's surname.

and reports, per mode (keyword, dense, hybrid — the same ``SearchService.search`` as /search), the
share found first, in the top 10, and the mean reciprocal rank (rank > 20 counts as not found).

    python bench/known_item.py [--queries 300] [--seed 0]

The keyword weight of the fusion was chosen with ``--seed 1`` (a dev sample) and SciFact train;
the figures in docs/benchmarks.md are ``--seed 0``.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics

from common import OUT, machine

STOP = set(
    "a an and are as at be by for from has have in into is it its of on or our that the their this to we with which "
    "via using based towards toward new show shows propose proposed paper approach method methods results can these "
    "than more such also both while when where how what not but over under between".split()
)


def queries_for(paper, rng: random.Random) -> dict[str, str]:
    title_words = re.findall(r"[A-Za-z0-9][A-Za-z0-9-]*", paper.title)
    kept = [w for w in title_words if rng.random() > 0.25] or title_words[:1]
    content = [w for w in re.findall(r"[A-Za-z][A-Za-z-]{2,}", paper.abstract) if w.lower() not in STOP]
    mid = max(0, len(content) // 2 - 3)
    topical = [w for w in title_words if w.lower() not in STOP] or title_words
    surname = paper.authors[0].split()[-1] if paper.authors else ""
    return {
        "title-words": " ".join(kept).lower(),
        "gist": " ".join(content[mid : mid + 6]).lower(),
        "topic+author": " ".join(rng.sample(topical, min(3, len(topical)))).lower() + (f" {surname}" if surname else ""),
    }


def main() -> None:
    from paperboy.search.embed import load_embedder
    from paperboy.search.factory import open_search
    from paperboy.store import repo
    from paperboy.store.db import make_engine

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    db_dir = OUT / "search-1x-real"
    if not (db_dir / "built").exists():
        raise SystemExit(f"no {db_dir}: run `python bench/search_latency.py --real-vectors` first (it builds it)")
    engine = make_engine(f"sqlite:///{db_dir / 'paperboy.db'}")
    embedder = load_embedder()
    service = open_search(engine, db_dir, embedder_loader=lambda: embedder)
    service.refresh()
    rng = random.Random(args.seed)
    with engine.connect() as conn:
        ids = conn.exec_driver_sql("SELECT arxiv_id FROM papers ORDER BY arxiv_id").scalars().all()
        sample = [repo.get_paper(conn, a) for a in rng.sample(ids, args.queries)]
    from paperboy.search import fusion

    modes = {"keyword": {"semantic": False}, "dense": {"keyword": False},
             "hybrid (RRF, before)": {"fusion": fusion.rrf}, f"hybrid (convex, w={fusion.KEYWORD_WEIGHT})": {}}  # fmt: skip
    ranks: dict[tuple[str, str], list[int | None]] = {}
    for paper in sample:
        for kind, q in queries_for(paper, rng).items():
            for mode, switches in modes.items():
                found = [x.arxiv_id for x in service.search(q, per_page=20, **switches).papers]
                ranks.setdefault((kind, mode), []).append(found.index(paper.arxiv_id) + 1 if paper.arxiv_id in found else None)
    print(f"machine: {machine()}; {len(service.catalog):,} papers, {args.queries} known items, model {embedder.name}")
    print("| query | mode | found first | in top 10 | MRR@20 |\n|---|---|---:|---:|---:|")
    for (kind, mode), r in ranks.items():
        first = sum(1 for x in r if x == 1) / len(r)
        top10 = sum(1 for x in r if x and x <= 10) / len(r)
        mrr = statistics.fmean(1 / x if x else 0 for x in r)
        print(f"| {kind} | {mode} | {first:.1%} | {top10:.1%} | {mrr:.3f} |")


if __name__ == "__main__":
    main()
