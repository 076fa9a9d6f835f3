"""What one request costs the app itself, in-process: no sockets, no HTTP parser, no load generator.

On a 2-core machine shared with wrk, a few per cent of change in requests/s is within the noise of
web_bench.py; the app's own time per request, taken as the fastest of several batches of calls
straight into the ASGI app, is steady to about a per cent. Each scenario is timed logged out and,
for pages, logged in (a session of the benchmarks' member); ``--cold`` turns the page cache off,
so every request builds its answer (queries and rendering).

Uses the full-corpus database of web_bench.py (bench/out/full). Usage:
python bench/request_cost.py [--calls 2000] [--batches 5] [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time

from common import OUT, full_corpus_db, machine

SCENARIOS = [
    ("day page", "/papers/date/2026-06-30", True),
    ("paper page", "/papers/2606.30212", True),
    ("search page", "/search?q=graph+neural+networks", True),
    ("HF paper JSON", "/api/papers/2606.30212", False),
    ("HF daily papers JSON", "/api/daily_papers?date=2026-06-30", False),
    ("/api/v1 paper JSON", "/api/v1/papers/2606.30212", False),
    ("Atom feed of the day", "/papers/date/2026-06-30/feed.atom", False),
]
MEMBER = "benchmember"


def make_app(cold: bool):
    data = OUT / "full"
    full_corpus_db(data)
    os.environ["PAPERBOY_DATA_DIR"] = str(data)
    os.environ.pop("PAPERBOY_DATABASE_URL", None)
    if cold:
        os.environ["PAPERBOY_PAGE_CACHE_MB"] = "0"
    from paperboy.app import create_app
    from paperboy.config import get_settings

    return create_app(get_settings())


def member_cookie() -> bytes | None:
    from sqlalchemy import text

    from paperboy.accounts.sessions import create_session
    from paperboy.config import get_settings
    from paperboy.store.db import make_engine, write_transaction

    engine = make_engine(get_settings().database_url)
    with write_transaction(engine) as conn:
        user_id = conn.execute(text("SELECT id FROM users WHERE username = :name"), {"name": MEMBER}).scalar()
        token = create_session(conn, user_id) if user_id else None
    engine.dispose()
    return f"pb_session={token}".encode() if token else None


async def call(app, path: str, headers: list) -> int:
    raw, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": raw, "raw_path": raw.encode(), "query_string": query.encode(), "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}  # fmt: skip
    status = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def cost(app, path: str, headers: list, calls: int, batches: int) -> float:
    """Microseconds per request: the fastest batch's mean."""
    for _ in range(20):
        status = await call(app, path, headers)
        assert status == 200, (path, status)
    best = float("inf")
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(calls):
            await call(app, path, headers)
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


async def main_async(args) -> None:
    app = make_app(args.cold)
    base = [(b"host", b"127.0.0.1:8000"), (b"accept-encoding", b"gzip")]
    cookie = member_cookie()
    for name, path, _ in SCENARIOS:  # load what the first requests load (search indexes, templates)…
        await call(app, path, base)
    gc.collect()  # …then out of the collector's sight, as `serve` does once the site has loaded
    gc.freeze()
    print(f"machine: {machine()}")
    print(f"in-process ASGI calls, page cache {'off' if args.cold else 'on'}; fastest of {args.batches} batches of {args.calls}")
    print()
    print("| scenario | visitor | µs per request |")
    print("|---|---|---:|")
    for name, path, pages in [s for s in SCENARIOS if args.only in s[0]]:
        calls = max(20, args.calls // 10) if args.cold else args.calls
        print(f"| {name} `{path}` | logged out | {await cost(app, path, base, calls, args.batches):,.0f} |", flush=True)
        if pages and cookie:
            member = [*base, (b"cookie", cookie)]
            print(f"| {name} `{path}` | logged in | {await cost(app, path, member, calls, args.batches):,.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="PAPERBOY_PAGE_CACHE_MB=0: every request builds its answer")
    parser.add_argument("--only", default="", help="only the scenarios whose name contains this")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
