"""Memory and errors of the web processes under a long mixed load (issues #13.3, #13.4, #15.6).

Serves ``bench/out/<--data>`` (SQLite; default ``real``: the full corpus with real vectors, whose
vectors file ``paperboy index`` wrote) or a PostgreSQL database (``--database-url``, e.g. the one
``bench/search_latency.py --database-url pgserver`` built, or ``pgserver:<name>`` for a database of
the benchmarks' pgserver cluster) with ``paperboy serve --no-worker --workers N`` and an empty data
directory on PostgreSQL, waits for search, then runs wrk for ``--minutes``: two wrk processes at once,
logged out and logged in, each over the same rotation of paper pages (2,000 different ones), day
pages and the search page with 40 real queries. Every 15 s it samples each web process's RSS and
PSS (its share of the pages it shares with the others — the mapped vectors and keyword index files,
the code — so the PSS sum is what the machine holds for all of them), and prints the samples,
requests/s, latency and every error wrk saw (non-2xx responses, socket errors).

Usage: python bench/web_memory.py [--data real] [--workers 1] [--minutes 5] [--database-url URL|pgserver:NAME]
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import OUT, PAPERBOY, env_for, machine
from web_bench import QUERIES, create_member, free_port, login_cookie, lua_script, wait_up


def processes(pid: int) -> list[int]:
    """The server and its children (uvicorn's worker processes)."""
    try:
        return [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [pid]


def memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of one process, MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1024
    return fields["Rss"], fields["Pss"]


def paths_for(engine) -> list[str]:
    """The rotation: 2,000 random paper pages, the pages of ten busy days, 40 real queries; shuffled."""
    from sqlalchemy import text

    rng = random.Random(0)  # the same rotation in every run on the same database: runs compare
    with engine.connect() as conn:
        papers = rng.sample(sorted(r[0] for r in conn.execute(text("SELECT arxiv_id FROM papers"))), 2000)
        days = [(str(d), n) for d, n in conn.execute(text(
            "SELECT announced, count(*) FROM papers WHERE announced IS NOT NULL GROUP BY announced ORDER BY count(*) DESC LIMIT 10"))]  # fmt: skip
    feeds = [f"/papers/date/{d}?page={p}" for d, n in days for p in range(1, min(n // 50, 5) + 2)]
    searches = [f"/search?q={q.replace(' ', '+')}" for q in QUERIES]
    rotation = [f"/papers/{i}" for i in papers] + feeds * 10 + searches * 10
    rng.shuffle(rotation)
    return rotation


def run_wrk(base: str, script: str, seconds: int, cookie: str | None, out: dict, key: str) -> None:
    cmd = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "-s", script]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out[key] = subprocess.run([*cmd, base], capture_output=True, text=True).stdout


def summary(text: str) -> str:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"\s50%\s+(\S+)", text)
    p99 = re.search(r"\s99%\s+(\S+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: (.*)", text)
    return (f"{float(rps.group(1)):,.0f} req/s, p50 {p50.group(1)}, p99 {p99.group(1)}, "
            f"non-2xx {non2xx.group(1) if non2xx else 0}, socket errors {sockets.group(1) if sockets else 'none'}")  # fmt: skip


def database(arg: str | None) -> str | None:
    if not arg or not arg.startswith("pgserver:"):
        return arg
    from common import database_url

    return database_url("pgserver", arg.split(":", 1)[1])


def main() -> None:
    from paperboy.store.db import make_engine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="real")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (A/B runs)")
    args = parser.parse_args()
    url = database(args.database_url)
    data = OUT / ("empty-data-dir" if url else args.data)
    data.mkdir(parents=True, exist_ok=True)
    env = env_for(data) | dict(e.split("=", 1) for e in args.env)
    if url:
        env["PAPERBOY_DATABASE_URL"] = url
    engine = make_engine(url or f"sqlite:///{data / 'paperboy.db'}")
    rotation = paths_for(engine)
    engine.dispose()
    create_member(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*PAPERBOY, "serve", "--no-worker", "--port", str(port), "--workers", str(args.workers),
                               "--log-level", "warning"], env=env)  # fmt: skip
    samples: list[tuple[float, list[tuple[float, float]]]] = []
    outputs: dict[str, str] = {}
    try:
        wait_up(base)
        started = time.monotonic()
        for _ in range(4 * args.workers):  # each process loads its search state on its first search
            urllib.request.urlopen(base + "/search?q=warm+up", timeout=900).read()
        print(f"machine: {machine()}")
        print(f"server: paperboy serve --no-worker --workers {args.workers} on {'PostgreSQL' if url else 'SQLite'} ({url or args.data}); "
              f"search ready after {time.monotonic() - started:.1f} s; extra env: {args.env or 'none'}")  # fmt: skip
        cookie = login_cookie(base)
        seconds = int(args.minutes * 60)
        with tempfile.TemporaryDirectory() as tmp:
            script = lua_script(rotation, Path(tmp))
            loads = [threading.Thread(target=run_wrk, args=(base, script, seconds, c, outputs, who))
                     for who, c in (("logged out", None), ("logged in", cookie))]  # fmt: skip
            begin = time.monotonic()
            samples.append((0.0, [memory(p) for p in processes(server.pid)]))
            for t in loads:
                t.start()
            tick = threading.Event()
            while any(t.is_alive() for t in loads):
                tick.wait(15 - (time.monotonic() - begin) % 15)
                samples.append((time.monotonic() - begin, [memory(p) for p in processes(server.pid)]))
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"load: two wrk -t1 -c16 -d{seconds}s at once (logged out, logged in), each over {len(rotation):,} paths "
          "(2,000 paper pages, day pages, 40 search queries), on the same machine")  # fmt: skip
    for who in ("logged out", "logged in"):
        print(f"  {who}: {summary(outputs.get(who, ''))}")
    print()
    print("| seconds | " + " | ".join(f"process {i} RSS / PSS MB" for i in range(len(samples[0][1]))) + " | PSS sum MB |")
    print("|---:|" + "---:|" * (len(samples[0][1]) + 1))
    for at, procs in samples:
        print(f"| {at:.0f} | " + " | ".join(f"{r:.0f} / {p:.0f}" for r, p in procs) + f" | {sum(p for _, p in procs):.0f} |")


if __name__ == "__main__":
    sys.exit(main())
