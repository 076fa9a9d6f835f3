"""How long the `paperboy` command takes to answer before it does any work: `--version` (the
imports of the command line itself) and `stats --json` (settings, database, schema check, one
query), the median of N runs, for each source tree given (e.g. a worktree of the commit before a
change and one after, compared in one run on one machine).

    python bench/cli_startup.py /path/to/old/tree /path/to/new/tree [--runs 15]

Each tree runs with its own ``src`` first on PYTHONPATH; ``stats`` reads a small database made
here (300 papers of the corpus, imported by the first tree).
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPUS, machine  # noqa: E402


def median_ms(tree: Path, args: list[str], env: dict, runs: int) -> float:
    env = {**env, "PYTHONPATH": str(tree / "src")}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "paperboy.cli", *args], env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        dump = Path(data_dir) / "slice.jsonl"
        with gzip.open(CORPUS, "rb") as f:
            dump.write_bytes(b"".join(line for _, line in zip(range(300), f)))
        env = {**os.environ, "PAPERBOY_DATA_DIR": data_dir}
        subprocess.run([sys.executable, "-m", "paperboy.cli", "import", str(dump), "--migrate"], check=True, capture_output=True,
                       env={**env, "PYTHONPATH": str(options.trees[0] / "src")})  # fmt: skip
        print(machine())
        for tree in options.trees:
            version = median_ms(tree, ["--version"], env, options.runs)
            stats = median_ms(tree, ["stats", "--json"], env, options.runs)
            print(f"{tree}: --version {version:.0f} ms, stats --json {stats:.0f} ms (median of {options.runs})")


if __name__ == "__main__":
    main()
