"""Resident memory of one web process under load (issue #13.3): start, then after rounds of wrk.

Serves ``bench/out/<--data>`` (default ``real``: the corpus with real vectors) with ``paperboy serve
--no-worker``, waits for the search indexes, then runs ``--rounds`` of wrk over 2,000 different
paper pages (10 s) and the day page (5 s), printing the server's RSS after each round.
``--env NAME=VALUE`` starts the server with extra environment (e.g. ``MALLOC_ARENA_MAX=8`` for an A/B).

Usage: python bench/web_memory.py [--data real] [--rounds 3] [--env NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from common import OUT, PAPERBOY, env_for, machine
from web_bench import free_port, lua_script, rss_mb, wait_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="real")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", action="append", default=[])
    args = parser.parse_args()
    data = OUT / args.data
    ids = [r[0] for r in sqlite3.connect(data / "paperboy.db").execute("SELECT arxiv_id FROM papers ORDER BY random() LIMIT 2000")]
    env = env_for(data) | dict(e.split("=", 1) for e in args.env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*PAPERBOY, "serve", "--no-worker", "--port", str(port), "--log-level", "warning"], env=env)
    try:
        wait_up(base)
        urllib.request.urlopen(base + "/search?q=warm", timeout=900).read()
        print(f"machine: {machine()}; data: {args.data}; extra env: {args.env or 'none'}")
        print(f"start: {rss_mb(server.pid):.0f} MB")
        with tempfile.TemporaryDirectory() as tmp:
            script = lua_script([f"/papers/{i}" for i in ids], Path(tmp))
            for n in range(1, args.rounds + 1):
                subprocess.run(["wrk", "-t2", "-c32", "-d10s", "-s", script, base], capture_output=True, check=True)
                subprocess.run(["wrk", "-t2", "-c32", "-d5s", base + "/papers/date/2026-06-30"], capture_output=True, check=True)
                print(f"after round {n}: {rss_mb(server.pid):.0f} MB", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
