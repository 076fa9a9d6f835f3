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


#: Server settings for the benchmarks' PostgreSQL (2 cores, 24 GB shared with other work): room for
#: the 1M corpus's postings and vectors in shared buffers, and for building its HNSW graph in memory.
BENCH_POSTGRES = {
    "shared_buffers": "3GB",
    "effective_cache_size": "8GB",
    "maintenance_work_mem": "3GB",
    "max_parallel_maintenance_workers": "1",
    "work_mem": "64MB",
    "max_wal_size": "8GB",
    "jit": "off",
}


def database_url(arg: str | None, name: str) -> str | None:
    """``--database-url``: a PostgreSQL URL as given, or ``pgserver`` — a PostgreSQL 16 + pgvector
    server from the pgserver wheel (the tests' one, tests/postgres_server.py), its cluster kept under
    bench/out/pgserver so a built corpus is reused, with a database ``name`` in it; ``None``: SQLite."""
    if not arg:
        return None
    if arg != "pgserver":
        return arg
    import atexit

    sys.path.insert(0, str(ROOT / "tests"))
    from postgres_server import PostgresServer

    import psycopg

    base = OUT / "pgserver"
    server = PostgresServer(base)
    port = _running_port(server.data)
    if port is None:  # not running yet; else another benchmark started it, and they share it
        port = server.start(**BENCH_POSTGRES).port
    server.port = port
    atexit.register(_stop_if_last, server)
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"


def _stop_if_last(server) -> None:
    """Stop the shared benchmark server unless another benchmark is still connected to it."""
    import psycopg

    try:
        with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True) as conn:
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
    except psycopg.OperationalError:
        return  # already stopped
    if not others:
        server.stop("fast")


def _running_port(data: Path) -> int | None:
    """The port of the server running on ``data`` (its postmaster.pid: pid, data dir, start, port), if any."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        os.kill(int(lines[0]), 0)
        return int(lines[3])
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError, PermissionError):
        return None


def built(engine) -> bool:
    """Whether a benchmark finished building this database (a row in site_state; SQLite benchmarks use a file)."""
    from sqlalchemy import inspect, text

    if "site_state" not in inspect(engine).get_table_names():
        return False
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM site_state WHERE key = 'bench:built'")).first() is not None


def mark_built(engine) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO site_state (key, value) VALUES ('bench:built', 1)"))


def rss_mb() -> float:
    """This process's resident memory, MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def postgres_sizes(engine) -> str:
    """The database's size and its search structures', for the benchmark tables."""
    from sqlalchemy import text

    with engine.connect() as conn:
        total = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        parts = conn.execute(text(  # tables without their indexes, and the HNSW index on its own
            "SELECT c.relname, pg_table_size(c.oid) FROM pg_class c WHERE c.relname IN ('papers', 'paper_embeddings', 'search_postings')"
            " UNION ALL SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c WHERE c.relname LIKE 'ix_paper_embeddings_hnsw_%' ORDER BY 2 DESC"
        )).all()  # fmt: skip
    return f"database {total / 2**30:.2f} GiB (" + ", ".join(f"{n} {s / 2**30:.2f} GiB" for n, s in parts) + ")"
