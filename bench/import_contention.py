"""An import while the site takes writes (issue #10.1): does the import finish, and how long do votes wait?

Starts ``paperboy serve --no-worker`` on a fresh SQLite database holding the first 2,000 papers of
the shared corpus, logs six members in, and then, while ``paperboy import`` loads the whole corpus
(or ``--papers N`` of it) in another process, the six members vote — about ``--rate`` votes a second
in all, each vote a real HTTP POST with its CSRF token — until the import ends. Prints whether the
import succeeded, its duration, and the votes' latency (p50/p95/p99/max) and failures; and, for
comparison in the same run, the votes' latency with no import going on.

Usage: python bench/import_contention.py [--papers 20000] [--rate 10]
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import CORPUS, PAPERBOY, env_for, machine

PASSWORD = "correct horse battery staple"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_slice(path: Path, start: int, count: int | None) -> list[str]:
    """Lines ``start``… of the corpus (``count`` of them, or all) into ``path``; their arXiv ids."""
    ids = []
    with gzip.open(CORPUS, "rb") as src, open(path, "wb") as out:
        for n, line in enumerate(src):
            if n < start:
                continue
            if count is not None and n >= start + count:
                break
            out.write(line)
            ids.append(re.search(rb'"id": "([^"]+)"', line).group(1).decode())
    return ids


class Member:
    def __init__(self, base: str, name: str):
        self.http = httpx.Client(base_url=base, timeout=60)
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', self.http.get("/login").text).group(1)
        r = self.http.post("/login", data={"login": name, "password": PASSWORD, "csrf_token": token})
        assert r.status_code in (200, 303), r.text[:200]
        self.token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', self.http.get("/").text).group(1)

    def vote(self, arxiv_id: str, up: bool) -> tuple[float, int]:
        start = time.perf_counter()
        r = self.http.post(f"/papers/{arxiv_id}/vote", data={"up": "1" if up else "0"},
                           headers={"HX-Request": "true", "X-CSRF-Token": self.token})  # fmt: skip
        return (time.perf_counter() - start) * 1000, r.status_code


def voting(members: list[Member], papers: list[str], rate: float, stop: threading.Event):
    latencies, failures = [], []
    lock = threading.Lock()

    def run(m: Member, k: int):
        i = k
        interval = len(members) / rate
        next_at = time.monotonic()
        while not stop.is_set():
            ms, status = m.vote(papers[i % len(papers)], up=(i // len(papers)) % 2 == 0)
            with lock:
                (latencies if status == 200 else failures).append(ms if status == 200 else status)
            i += len(members)
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=run, args=(m, k)) for k, m in enumerate(members)]
    for t in threads:
        t.start()
    return latencies, failures, threads


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "no votes"
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [latencies[0]] * 99
    return f"{len(latencies)} votes: p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {max(latencies):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=None, help="papers to import under load (default: the whole corpus)")
    parser.add_argument("--rate", type=float, default=10.0, help="votes per second, all members together")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        env = env_for(data)
        seed = write_slice(data / "seed.jsonl", 0, 2000)
        subprocess.run([*PAPERBOY, "import", "--migrate", str(data / "seed.jsonl")], env=env, check=True, capture_output=True)
        write_slice(data / "rest.jsonl", 2000, args.papers)
        names = [f"member{n}" for n in range(6)]
        for name in names:
            subprocess.run([*PAPERBOY, "user", "create", name, f"{name}@example.org", "--password-stdin"], env=env,
                           input=PASSWORD + "\n", text=True, check=True, capture_output=True)  # fmt: skip
        port = free_port()
        server = subprocess.Popen([*PAPERBOY, "serve", "--no-worker", "--port", str(port), "--log-level", "warning"], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.2)
            members = [Member(base, name) for name in names]

            stop = threading.Event()
            quiet, quiet_failures, threads = voting(members, seed[:500], args.rate, stop)
            time.sleep(10)  # a fixed window of votes with nothing else going on (the baseline)
            stop.set()
            for t in threads:
                t.join()

            stop = threading.Event()
            loaded, loaded_failures, threads = voting(members, seed[500:1000], args.rate, stop)
            started = time.perf_counter()
            imported = subprocess.run([*PAPERBOY, "import", "--json", str(data / "rest.jsonl")], env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            stop.set()
            for t in threads:
                t.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"import under load: {'succeeded' if imported.returncode == 0 else 'FAILED: ' + imported.stderr.strip()[-300:]} in {seconds:.1f} s")
    if imported.returncode == 0:
        print(f"  {imported.stdout.strip()}")
    print(f"votes without an import:  {summary(quiet)}; failures {len(quiet_failures)}")
    print(f"votes during the import:  {summary(loaded)}; failures {len(loaded_failures)} {sorted(set(loaded_failures))}")


if __name__ == "__main__":
    sys.exit(main())
