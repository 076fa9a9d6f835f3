"""Import the whole shared corpus (74,728 papers) into a fresh SQLite database, then again.

Times the whole `paperboy import` process, as a user runs it. Usage:
    python bench/import_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import CORPUS, PAPERBOY, env_for, machine


def timed(args, env) -> tuple[float, dict]:
    start = time.perf_counter()
    result = subprocess.run([*PAPERBOY, *args], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    first, again = [], []
    for _ in range(args.runs):
        data = Path(tempfile.mkdtemp(prefix="paperboy-bench-"))
        try:
            env = env_for(data)
            subprocess.run([*PAPERBOY, "db", "upgrade"], env=env, check=True, capture_output=True)
            seconds, summary = timed(["import", "--json", str(CORPUS)], env)
            assert summary["new"] == 74_728 and summary["bad"] == 0, summary
            first.append(seconds)
            seconds, summary = timed(["import", "--json", str(CORPUS)], env)
            assert summary["unchanged"] == 74_728 and summary["new"] == summary["updated"] == 0, summary
            again.append(seconds)
        finally:
            shutil.rmtree(data)
    print(f"machine: {machine()}")
    print(f"full import, fresh database : median {statistics.median(first):.1f} s  (runs: {', '.join(f'{s:.1f}' for s in first)})"
          f"  = {74_728 / statistics.median(first):,.0f} papers/s")
    print(f"re-import, nothing changes  : median {statistics.median(again):.1f} s  (runs: {', '.join(f'{s:.1f}' for s in again)})")


if __name__ == "__main__":
    main()
