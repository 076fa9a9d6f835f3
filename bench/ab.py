"""Run one benchmark on two checkouts in turns (A B B A A B …) and print each run's figures, labelled.

The machine is shared and noisy: a before/after comparison is only fair when both sides run in the
same session, interleaved, so that a slow spell hurts both. Each side runs its own copy of the
benchmark script with its own sources first on ``PYTHONPATH`` (the script's ``paperboy serve``
children inherit it), against the same ``bench/out`` data (make the other checkout's ``bench/out`` a
link to this one's, so the full-corpus database is built once).

Usage: python bench/ab.py --base ../paperboy-before [--rounds 2] -- web_bench.py --members --duration 8
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from common import ROOT, machine


def run(checkout: Path, script: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    done = subprocess.run([sys.executable, str(checkout / "bench" / script[0]), *script[1:]], cwd=checkout, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {' '.join(script)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, type=Path, help="the other checkout (A: before)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- then the benchmark under bench/ and its options")
    args = parser.parse_args()
    script = [s for s in args.script if s != "--"]
    if not script:
        parser.error("name the benchmark: -- web_bench.py --members")
    sides = {"before": args.base.resolve(), "after": ROOT}
    revisions = {name: subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
                 for name, path in sides.items()}  # fmt: skip
    print(f"machine: {machine()}")
    print(f"benchmark: {' '.join(script)}; " + ", ".join(f"{name} = {revisions[name]}" for name in sides) +
          f"; {args.rounds} rounds, in turns (A B, then B A)")  # fmt: skip
    for round_ in range(1, args.rounds + 1):
        order = list(sides.items()) if round_ % 2 else list(sides.items())[::-1]  # A B, B A, …: a drift hurts both alike
        for name, path in order:
            print(f"\n## round {round_}, {name} ({revisions[name]})\n", flush=True)
            print(run(path, script), flush=True)


if __name__ == "__main__":
    main()
