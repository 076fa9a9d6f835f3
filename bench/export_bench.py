"""Cold and warm citation exports of a month (issue #22.8: a cold month export ≤ 0.3 s).

Builds (once per tree, under bench/out/export-2026-06/) a SQLite database of the real corpus's June 2026
(``paperboy import --since 2026-06-01 --until 2026-06-30``), then for each source tree given
(``--src``; the default is this checkout's) starts ``paperboy serve --no-worker`` on a loopback
port with that tree first on PYTHONPATH, and requests, one at a time:

* cold: the first request of each export after the server started (nothing cached), uncompressed
  as curl asks by default; the server is restarted ``--runs`` times, so each figure is a median;
* warm: the same URLs again, ``--warm`` times each, uncompressed and gzip;
* the month page with ``?junk=N`` (a new N each time) once it is cached.

Reported per URL: time to first byte (headers received) and total (body read), milliseconds, and
the body size. Trees are measured in turns (before, after, before, after, …), so both share the
machine's state. The server's process group is stopped after each run.

Usage: python bench/export_bench.py [--src /tmp/export-before/src --src src] [--runs 3] [--warm 5]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import CORPUS, OUT, PAPERBOY, ROOT, env_for, machine

MONTH = "2026-06"
URLS = [f"/papers/month/{MONTH}.ris", f"/papers/month/{MONTH}.bib", f"/papers/month/{MONTH}/feed.atom", f"/papers/month/{MONTH}"]


def month_db(data: Path, src: str) -> Path:
    """The month's database for the tree at ``src``, imported and migrated by that tree's own code
    (trees at different schema revisions cannot share one file)."""
    db = data / "paperboy.db"
    env = dict(env_for(data), PYTHONPATH=os.path.abspath(src))
    if not db.exists():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run([*PAPERBOY, "import", "--migrate", "--since", f"{MONTH}-01", "--until", f"{MONTH}-30", str(CORPUS)],
                       env=env, check=True)  # fmt: skip
    subprocess.run([*PAPERBOY, "db", "upgrade"], env=env, check=True, capture_output=True)
    return db


def data_for(src: str) -> Path:
    return OUT / f"export-{MONTH}" / hashlib.sha1(os.path.abspath(src).encode()).hexdigest()[:10]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port: int, path: str, gzip: bool = False) -> tuple[float, float, int]:
    """(time to first byte, total, body bytes) of one GET, in ms, on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Accept-Encoding": "gzip" if gzip else "identity"})
    response = conn.getresponse()
    first = time.perf_counter()
    body = response.read()
    end = time.perf_counter()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}")
    return (first - start) * 1000, (end - start) * 1000, len(body)


def wait_up(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            fetch(port, "/healthz")
            return
        except (OSError, SystemExit):
            time.sleep(0.2)
    raise SystemExit("server did not start")


def one_run(src: str, data: Path, warm: int) -> dict:
    port = free_port()
    env = dict(env_for(data), PYTHONPATH=os.path.abspath(src))
    server = subprocess.Popen([*PAPERBOY, "serve", "--no-worker", "--port", str(port), "--log-level", "warning"], env=env,
                              start_new_session=True)  # fmt: skip
    try:
        wait_up(port)
        fetch(port, "/search?q=warm")  # the search indexes load in the background at start: let them finish first
        out = {path: {"cold": fetch(port, path)} for path in URLS}
        for path in URLS:
            out[path]["warm"] = [fetch(port, path) for _ in range(warm)]
            out[path]["warm_gzip"] = [fetch(port, path, gzip=True) for _ in range(warm)]
        out["junk"] = [fetch(port, f"/papers/month/{MONTH}?junk={i}") for i in range(warm)]  # issue #22.8's cache-buster
        return out
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", action="append", help="a source tree to measure (its src/ folder); repeat to compare")
    parser.add_argument("--runs", type=int, default=3, help="server starts per tree (cold figures are their median)")
    parser.add_argument("--warm", type=int, default=5, help="warm requests per URL and encoding")
    args = parser.parse_args()
    sources = args.src or [str(ROOT / "src")]
    for src in sources:
        month_db(data_for(src), src)
    runs: dict[str, list[dict]] = {src: [] for src in sources}
    for _ in range(args.runs):
        for src in sources:
            runs[src].append(one_run(src, data_for(src), args.warm))

    med = statistics.median
    print(f"machine: {machine()}")
    print(f"server: paperboy serve --no-worker (SQLite, the corpus's {MONTH}: {papers(data_for(sources[0])):,} papers); {args.runs} server starts per tree, "
          f"{args.warm} warm requests per URL and encoding; one request at a time, same machine")
    print()
    print("| tree | URL | size | cold TTFB ms | cold total ms | warm TTFB ms | warm total ms | warm gzip total ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for path in URLS:
        for src in sources:
            rs = runs[src]
            cold_first = med(r[path]["cold"][0] for r in rs)
            cold_total = med(r[path]["cold"][1] for r in rs)
            size = rs[0][path]["cold"][2]
            warm_first = med(w[0] for r in rs for w in r[path]["warm"])
            warm_total = med(w[1] for r in rs for w in r[path]["warm"])
            gz_total = med(w[1] for r in rs for w in r[path]["warm_gzip"])
            print(f"| {src} | {path} | {size / 1e6:.2f} MB | {cold_first:.0f} | {cold_total:.0f} | {warm_first:.1f} | {warm_total:.1f} | {gz_total:.1f} |")
    print()
    for src in sources:
        junk = [j[1] for r in runs[src] for j in r["junk"]]
        print(f"{src}: /papers/month/{MONTH}?junk=N after the page is cached, total ms: median {med(junk):.1f}, max {max(junk):.1f}")


def papers(data: Path) -> int:
    import sqlite3

    with sqlite3.connect(data / "paperboy.db") as conn:
        return conn.execute("SELECT count(*) FROM papers").fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
