"""Load-test the day page and the paper page over the full corpus with wrk (32 connections).

Starts `paperboy serve` (one worker process) on a loopback port against a full-corpus SQLite
database (built once under bench/out/), warms it, then runs wrk for each scenario:

* day page: /papers/date/2026-06-30 (530 papers, first page of 50);
* paper page: one paper with MathML;
* many paper pages: 2,000 different papers in rotation (each rendered once, then cached);
* many feed pages: every day of the corpus, each page of it, and category filters, in rotation.

Also measures cold (uncached) render latency of paper and day pages. Needs `wrk` (Debian).
With ``--api``: the JSON API instead (issue #12) — ``/api/daily_papers?date=…`` and
``/api/papers/{id}`` as huggingface_hub asks for them, 2,000 different papers' JSON in rotation,
and the day page again as the baseline of the same run.
Usage: python bench/web_bench.py [--duration 15] [--connections 32] [--workers 1] [--api]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import OUT, PAPERBOY, env_for, full_corpus_db, machine

LUA = """
paths = {%s}
i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
""" + "\n"
DONE = """
done = function(summary, latency, requests)
  io.write(string.format("p95-us %d\\n", latency:percentile(95)))
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(base: str, path: str = "/healthz", seconds: float = 60) -> None:
    """Until ``path`` answers 200 (``/readyz``: the search indexes have loaded too)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + path, timeout=5).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not answer {path} in {seconds:.0f} s")


def wrk(url: str, duration: int, connections: int, script: str | None = None, cookie: str | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if not script:
        fd, script = tempfile.mkstemp(suffix=".lua")
        with open(fd, "w") as f:
            f.write(DONE)
    cmd += ["-s", script]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "90", "99")}
    lat["95"] = _p95(out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p90": lat["90"], "95": lat["95"], "p99": lat["99"], "non2xx": int(errors.group(1)) if errors else 0}


def _p95(out: str) -> float | None:
    """wrk prints p50/75/90/99; the scripts' done() prints p95 (DONE)."""
    m = re.search(r"p95-us (\d+)", out)
    return int(m.group(1)) / 1000 if m else None


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def fetch_ms(url: str) -> float:
    start = time.perf_counter()
    urllib.request.urlopen(url).read()
    return (time.perf_counter() - start) * 1000


def lua_script(paths: list[str], directory: Path) -> str:
    path = directory / f"paths-{len(paths)}-{abs(hash(tuple(paths)))}.lua"
    path.write_text(LUA % ", ".join(f'"{p}"' for p in paths) + DONE)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-cache", action="store_true", help="PAPERBOY_PAGE_CACHE_MB=0: every request renders")
    parser.add_argument("--api", action="store_true", help="the JSON API's scenarios (with the day page as baseline)")
    parser.add_argument("--members", action="store_true",
                        help="issue #13: each page logged out and logged in, in turns; the search page; the server's memory")
    parser.add_argument("--data", default="full", help="the bench database under bench/out/ (search-1x-real has real vectors)")
    args = parser.parse_args()
    if args.members:
        return members_bench(args)

    data = OUT / "full"
    db = full_corpus_db(data)
    conn = sqlite3.connect(db)
    paper_ids = [r[0] for r in conn.execute("SELECT arxiv_id FROM papers ORDER BY random() LIMIT 2000")]
    days = [r[0] for r in conn.execute("SELECT announced, count(*) FROM papers GROUP BY announced")]
    day_counts = dict(conn.execute("SELECT announced, count(*) FROM papers GROUP BY announced"))
    conn.close()
    feed_paths = []
    for day in days:
        for page in range(1, (day_counts[day] + 49) // 50 + 1):
            feed_paths.append(f"/papers/date/{day}?page={page}")
        feed_paths.append(f"/papers/date/{day}?cat=cs.CL")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*PAPERBOY, "serve", "--no-worker", "--port", str(port), "--workers", str(args.workers), "--log-level", "warning"],
        env=dict(env_for(data), **({"PAPERBOY_PAGE_CACHE_MB": "0"} if args.no_cache else {})),
    )
    try:
        wait_up(base)
        # The search indexes load in the background at start (for the full corpus, tens of seconds
        # of CPU); a search waits for them, so nothing measured below shares the cores with that.
        urllib.request.urlopen(base + "/search?q=warm", timeout=600).read()
        # Cold renders, one request at a time: every page is requested for the first time. This
        # pass also fills the page cache for the rotating scenarios below.
        if args.api:
            api_paths = [f"/api/papers/{arxiv_id}" for arxiv_id in paper_ids]
            cold_paper = [fetch_ms(base + path) for path in api_paths]
            cold_feed = [fetch_ms(f"{base}/api/daily_papers?date={day}") for day in days]
        else:
            cold_paper = [fetch_ms(f"{base}/papers/{arxiv_id}") for arxiv_id in paper_ids]
            cold_feed = [fetch_ms(base + path) for path in feed_paths]

        with tempfile.TemporaryDirectory() as tmp:
            if args.api:
                scenarios = [
                    ("API /api/daily_papers?date=2026-06-30 (50 of 530)", base + "/api/daily_papers?date=2026-06-30", None),
                    ("API /api/daily_papers?p=1&limit=10&date=2026-06-30", base + "/api/daily_papers?p=1&limit=10&date=2026-06-30", None),
                    ("API /api/papers/2606.30212", base + "/api/papers/2606.30212", None),
                    (f"API: {len(paper_ids):,} different /api/papers/{{id}}", base, lua_script(api_paths, Path(tmp))),
                    ("baseline: day page /papers/date/2026-06-30", base + "/papers/date/2026-06-30", None),
                ]
            else:
                scenarios = [
                    ("day page /papers/date/2026-06-30", base + "/papers/date/2026-06-30", None),
                    ("paper page /papers/2606.30212", base + "/papers/2606.30212", None),
                    (f"{len(paper_ids):,} different paper pages", base, lua_script([f"/papers/{i}" for i in paper_ids], Path(tmp))),
                    (f"{len(feed_paths):,} different feed pages", base, lua_script(feed_paths, Path(tmp))),
                ]
            results = []
            for name, url, script in scenarios:
                wrk(url, 2, args.connections, script)  # warm-up
                results.append((name, wrk(url, args.duration, args.connections, script)))
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"machine: {machine()}")
    print(f"server: paperboy serve --workers {args.workers} (SQLite, full corpus, page cache {'off' if args.no_cache else 'on'}); load: wrk -t2 -c{args.connections} -d{args.duration}s, on the same machine")
    print()
    print("| scenario | requests/s | p50 ms | p90 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results:
        print(f"| {name} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | {r['non2xx']} |")
    q = lambda xs, p: statistics.quantiles(xs, n=100, method="inclusive")[p - 1]  # noqa: E731
    print()
    what = ("/api/papers/{id}", "/api/daily_papers?date=") if args.api else ("paper page", "feed page")
    print(f"cold (uncached) render, one request at a time: {what[0]} p50 {q(cold_paper, 50):.1f} ms, p95 {q(cold_paper, 95):.1f} ms "
          f"({len(cold_paper):,} pages); {what[1]} p50 {q(cold_feed, 50):.1f} ms, p95 {q(cold_feed, 95):.1f} ms ({len(cold_feed):,} pages)")


QUERIES = [
    "graph neural networks for molecules", "diffusion models for video generation", "large language model reasoning",
    "retrieval augmented generation", "reinforcement learning from human feedback", "vision transformers",
    "speech recognition low resource languages", "federated learning privacy", "protein structure prediction",
    "neural radiance fields", "mixture of experts", "contrastive learning representations", "code generation benchmark",
    "autonomous driving perception", "medical image segmentation", "time series forecasting transformers",
    "knowledge distillation", "adversarial robustness", "multimodal large language models", "quantization of llms",
    "symbol-pair distance constacyclic codes", "graph transformers", "text to image alignment", "robot manipulation policies",
    "in-context learning", "tokenization", "long context attention", "hallucination detection", "machine translation",
    "recommendation systems", "sparse autoencoders interpretability", "agents tool use", "point cloud segmentation",
    "optical flow estimation", "few-shot learning", "bayesian optimization", "causal inference", "speculative decoding",
    "state space models", "3d gaussian splatting",
]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MB."""
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


MEMBER = ("benchmember", "bench@example.org", "correct horse battery staple")


def create_member(env: dict) -> None:
    """The benchmarks' member account (already there: fine)."""
    subprocess.run([*PAPERBOY, "user", "create", MEMBER[0], MEMBER[1], "--password-stdin"], env=env,
                   input=MEMBER[2] + "\n", text=True, capture_output=True)  # fmt: skip


def login_cookie(base: str) -> str:
    """Log the benchmarks' member in through the login form; the session cookie, as a Cookie header value."""
    import http.cookiejar
    from urllib.parse import urlencode

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    opener.open(base + "/login", urlencode({"login": MEMBER[0], "password": MEMBER[2], "csrf_token": token}).encode())
    return "pb_session=" + next(c.value for c in jar if c.name == "pb_session")


def members_bench(args) -> None:
    """Logged-out and logged-in visitors in one run (pairs of wrk runs, in turns), the search page
    with real queries at 8 connections, and the server's resident memory sampled throughout."""
    import threading

    data = OUT / args.data
    db = full_corpus_db(data)
    env = env_for(data)
    create_member(env)
    conn = sqlite3.connect(db)
    paper_ids = [r[0] for r in conn.execute("SELECT arxiv_id FROM papers ORDER BY random() LIMIT 2000")]
    conn.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*PAPERBOY, "serve", "--no-worker", "--port", str(port), "--workers", str(args.workers),
                               "--log-level", "warning"], env=env)  # fmt: skip
    memory: list[tuple[float, float]] = []
    stop = threading.Event()
    try:
        wait_up(base)
        urllib.request.urlopen(base + "/search?q=warm", timeout=900).read()
        cookie = login_cookie(base)
        start = time.monotonic()

        def sample():
            while not stop.wait(1.0):
                memory.append((time.monotonic() - start, rss_mb(server.pid)))

        threading.Thread(target=sample, daemon=True).start()
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            papers_script = lua_script([f"/papers/{i}" for i in paper_ids], Path(tmp))
            search_script = lua_script([f"/search?q={q.replace(' ', '+')}" for q in QUERIES], Path(tmp))
            for path in [f"/papers/{i}" for i in paper_ids]:  # fill the cache, as the other scenarios do
                urllib.request.urlopen(base + path).read()
            scenarios = [
                ("day page /papers/date/2026-06-30", base + "/papers/date/2026-06-30", None, args.connections),
                ("paper page /papers/2606.30212", base + "/papers/2606.30212", None, args.connections),
                (f"{len(paper_ids):,} different paper pages", base, papers_script, args.connections),
                (f"search page, {len(QUERIES)} real queries in rotation, 8 connections", base, search_script, 8),
            ]
            for name, url, script, connections in scenarios:
                for who, c in (("logged out", None), ("logged in", cookie)):
                    wrk(url, 2, connections, script, c)  # warm-up
                for who, c in (("logged out", None), ("logged in", cookie), ("logged out", None), ("logged in", cookie)):
                    results.append((name, who, wrk(url, args.duration, connections, script, c)))
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    print(f"machine: {machine()}")
    print(f"server: paperboy serve --no-worker --workers {args.workers} (SQLite, {args.data}); wrk -t2 -d{args.duration}s on the same machine, "
          "each scenario logged out and logged in twice, in turns")
    print()
    print("| scenario | visitor | requests/s | p50 ms | p95 ms | p99 ms | non-2xx |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, who, r in results:
        p95 = f"{r['95']:.1f}" if r.get("95") is not None else "—"
        print(f"| {name} | {who} | {r['rps']:,.0f} | {r['p50']:.1f} | {p95} | {r['p99']:.1f} | {r['non2xx']} |")
    if memory:
        values = [m for _, m in memory]
        print()
        print(f"resident memory of the server (all its processes), sampled each second over {memory[-1][0]:.0f} s: "
              f"first {values[0]:.0f} MB, max {max(values):.0f} MB, last {values[-1]:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
