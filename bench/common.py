"""Helpers shared by the benchmarks: paths, machine description, a full-corpus database."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERBOY_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "data" / "arxiv-cs-daily-2025-2026.jsonl.gz"
OUT = ROOT / "bench" / "out"
PAPERBOY = [sys.executable, "-m", "paperboy.cli"]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def env_for(data_dir: Path) -> dict:
    env = dict(os.environ, PAPERBOY_DATA_DIR=str(data_dir))
    env.pop("PAPERBOY_DATABASE_URL", None)
    return env


def full_corpus_db(data_dir: Path) -> Path:
    """A database with the whole shared corpus, built once and reused."""
    db = data_dir / "paperboy.db"
    if not db.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([*PAPERBOY, "import", "--migrate", str(CORPUS)], env=env_for(data_dir), check=True)
    return db
