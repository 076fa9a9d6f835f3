"""Render and send personalised digests to a loopback SMTP server, end to end (issue #11:
10,000 within 60 s on the 2-core machine, aim 20 s).

Builds (once, under bench/out/digest/) a database with the whole shared corpus and its keyword
index, then for each run a fresh copy with ``--subscribers`` confirmed subscribers, imported with
``paperboy subscribers import --confirmed`` and given varied personal sections: 0–3 keywords from
60 research topics, 0–2 authors of the edition's papers, 0–2 categories, and for one in ten an
account with 20 upvotes and "more like the papers I upvoted" on. Votes go to 150 of the day's papers
so trending is a real ranking. Paper vectors are random unit vectors for the edition's papers and
the voted ones (the nearest-neighbour cost is the same whatever the values; embedding the corpus
would take an hour here); keyword searches embed their query with the real packaged model.

Timed: one ``paperboy digest send --edition 2026-06-30`` process, from its start (model load and
search indexes included) to its exit, against an aiosmtpd server in another process that records
each message. Reported: wall time, mails per second, what the server received.

Usage: python bench/digest_bench.py [--subscribers 10000] [--connections 4] [--runs 1]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from common import OUT, PAPERBOY, env_for, full_corpus_db, machine

EDITION = "2026-06-30"
TOPICS = """diffusion models; reinforcement learning; large language models; graph neural networks; retrieval augmented generation;
in-context learning; speech recognition; machine translation; protein structure; federated learning; differential privacy;
object detection; semantic segmentation; neural radiance fields; robot manipulation; autonomous driving; code generation;
mixture of experts; quantization; knowledge distillation; contrastive learning; self-supervised learning; time series forecasting;
anomaly detection; recommender systems; causal inference; bayesian optimization; adversarial robustness; interpretability;
chain of thought; instruction tuning; preference optimization; reward models; vision language models; text to image;
video generation; 3d reconstruction; point clouds; medical imaging; drug discovery; climate; question answering; summarization;
information extraction; hallucination; benchmark; multilingual; low resource languages; sparse attention; state space models;
transformers; optimization; generalization; continual learning; meta learning; tabular data; fairness; agents; planning; theorem proving""".replace("\n", " ").split("; ")
CATEGORIES = ["cs.CL", "cs.LG", "cs.AI", "cs.CV", "cs.RO", "cs.IR", "cs.CR", "stat.ML", "cs.SE", "cs.HC"]


def sink(port: int, ready, counts) -> None:
    """An aiosmtpd server that accepts every message and counts messages, bytes and personal sections."""
    import asyncio

    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            counts[0] += 1
            if counts[0] % 100 == 0:
                counts[3] = int(time.process_time() * 1000)  # the server's own CPU, for the report
            counts[1] += len(envelope.content)
            if b"Picked for you" in envelope.content:
                counts[2] += 1
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_db(root: Path) -> Path:
    db = full_corpus_db(root / "base")
    marker = root / "base" / "keyword-index-built"
    if not marker.exists():
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from paperboy.search.indexer import rebuild_keyword_index
        from paperboy.store.db import make_engine

        rebuild_keyword_index(make_engine(f"sqlite:///{db}"), root / "base")
        marker.touch()
    return db


def prepare_run(root: Path, n: int, seed: int) -> Path:
    """A fresh copy of the base database with ``n`` subscribers (see the module docstring)."""
    import numpy as np
    from sqlalchemy import insert, select, update

    from paperboy.search.embed import load_embedder
    from paperboy.search.vectors import store_embeddings
    from paperboy.store.db import make_engine, write_transaction
    from paperboy.store.schema import paper_authors, papers, subscribers, users, votes

    run = root / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    for f in (root / "base").iterdir():
        if f.is_dir():
            shutil.copytree(f, run / f.name)  # the keyword index (search/)
        elif not f.name.endswith(("-wal", "-shm")):
            shutil.copy(f, run / f.name)
    listing = run / "subscribers.csv"
    with listing.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email", "name", "frequency"])
        for i in range(n):
            w.writerow([f"reader{i}@example.org", f"Reader {i}", "daily"])
    env = env_for(run)
    subprocess.run([*PAPERBOY, "subscribers", "import", "--confirmed", str(listing)], env=env, check=True, capture_output=True)
    rng = random.Random(seed)
    engine = make_engine(f"sqlite:///{run / 'paperboy.db'}")
    import datetime as dt

    day = dt.date.fromisoformat(EDITION)
    with engine.connect() as conn:
        day_ids = conn.execute(select(papers.c.id).where(papers.c.announced == day)).scalars().all()
        names = conn.execute(select(paper_authors.c.name).where(paper_authors.c.paper_id.in_(day_ids))).scalars().all()
        old_ids = conn.execute(select(papers.c.id).where(papers.c.announced < day).order_by(papers.c.id.desc()).limit(5000)).scalars().all()
    now = dt.datetime.now(dt.timezone.utc)
    with write_transaction(engine) as conn:
        user_rows = [dict(id=100_000 + i, username=f"bench{i}", username_key=f"bench{i}", email=f"reader{i}@example.org",
                          email_key=f"reader{i}@example.org", password_hash="x", created_at=now) for i in range(0, n, 10)]  # fmt: skip
        conn.execute(insert(users), user_rows)
        vote_rows, voted = [], set()
        hot = rng.sample(day_ids, min(150, len(day_ids)))
        for u in user_rows:
            for pid in set(rng.sample(old_ids, 18) + rng.sample(hot, 2)):
                vote_rows.append(dict(user_id=u["id"], paper_id=pid, created_at=now))
                voted.add(pid)
        conn.execute(insert(votes), vote_rows)
        counts: dict[int, int] = {}
        for v in vote_rows:
            counts[v["paper_id"]] = counts.get(v["paper_id"], 0) + 1
        for pid, c in counts.items():
            conn.execute(update(papers).where(papers.c.id == pid).values(upvotes=c))
        for i in range(n):
            values = dict(keywords="\n".join(rng.sample(TOPICS, rng.randint(0, 3))),
                          authors="\n".join(rng.sample(names, rng.randint(0, 2))),
                          categories=" ".join(rng.sample(CATEGORIES, rng.randint(0, 2))),
                          trending_count=rng.choice([5, 10, 10, 15]), personal_count=rng.choice([3, 5, 5, 8]))  # fmt: skip
            if i % 10 == 0:
                values.update(user_id=100_000 + i, more_like_votes=True)
            conn.execute(update(subscribers).where(subscribers.c.email_key == f"reader{i}@example.org").values(**values))
    model = load_embedder().name
    vec_rng = np.random.default_rng(seed)
    ids = sorted(set(day_ids) | voted)
    vectors = vec_rng.standard_normal((len(ids), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with write_transaction(engine) as conn:
        store_embeddings(conn, model, [(pid, "bench", v) for pid, v in zip(ids, vectors)])
    engine.dispose()
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    root = OUT / "digest"
    t = time.perf_counter()
    base_db(root)
    print(f"machine: {machine()}")
    print(f"base database ready ({time.perf_counter() - t:.0f} s)")
    for r in range(args.runs):
        t = time.perf_counter()
        run = prepare_run(root, args.subscribers, seed=r)
        print(f"run {r + 1}: {args.subscribers:,} subscribers prepared ({time.perf_counter() - t:.0f} s, not timed)")
        port = free_port()
        counts = multiprocessing.Array("q", 4)
        ready = multiprocessing.Event()
        server = multiprocessing.Process(target=sink, args=(port, ready, counts), daemon=True)
        server.start()
        ready.wait(30)
        env = env_for(run)
        env.update(PAPERBOY_SMTP_HOST="127.0.0.1", PAPERBOY_SMTP_PORT=str(port), PAPERBOY_BASE_URL="https://papers.example.org",
                   PAPERBOY_MAIL_FROM="Paperboy <digest@papers.example.org>")  # fmt: skip
        load = os.getloadavg()[0]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([*PAPERBOY, "digest", "send", "--edition", EDITION, "--connections", str(args.connections)],
                              env=env, capture_output=True, text=True)  # fmt: skip
        wall = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sender_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        server.terminate()
        if done.returncode != 0:
            print(done.stdout, done.stderr)
            raise SystemExit(f"paperboy digest send failed ({done.returncode})")
        received, size, personal, server_ms = counts[:]
        print(done.stdout.strip())
        print(f"  {received:,} messages received ({size / received / 1024:.1f} KiB each on average, {personal:,} with a personal section)")
        print(f"  wall time {wall:.1f} s for {args.subscribers:,} digests: {args.subscribers / wall:,.0f} mails/s, "
              f"{args.connections} SMTP connections")  # fmt: skip
        print(f"  CPU: sender {sender_cpu:.1f} s ({sender_cpu / args.subscribers * 1000:.2f} ms a digest), SMTP server "
              f"{server_ms / 1000:.1f} s; load average before the run {load:.1f} (the machine is shared)")  # fmt: skip


if __name__ == "__main__":
    main()
