"""Shared fixtures: real SQLite databases, slices of the real shared corpus, a live server."""

from __future__ import annotations

import gzip
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from paperboy.config import Settings
from paperboy.store.db import make_engine, upgrade

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERBOY_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "data" / "arxiv-cs-daily-2025-2026.jsonl.gz"
FIXTURES = Path(__file__).with_name("fixtures")
ARTIFACTS = ROOT / "test-artifacts"

# The slice most web tests use: Friday 26 June to Wednesday 1 July 2026 (a weekend with no
# announcements in between, 530 papers on Tuesday 30 June).
SLICE_SINCE, SLICE_UNTIL = "2026-06-26", "2026-07-01"


def corpus_lines(since: str | None = None, until: str | None = None, limit: int | None = None) -> list[bytes]:
    """Raw lines of the shared corpus announced in [since, until] — real, messy input."""
    if not CORPUS.exists():
        message = f"shared corpus not found at {CORPUS} (set PAPERBOY_SHARED)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI always has ../shared: a missing corpus is a broken set-up, not a skip
        pytest.skip(message)
    out = []
    with gzip.open(CORPUS, "rb") as f:
        for line in f:
            day = line[line.rindex(b'"announced": "') + 14 :][:10].decode()
            if (since and day < since) or (until and day > until):
                continue
            out.append(line)
            if limit and len(out) >= limit:
                break
    return out


@pytest.fixture(scope="session")
def slice_file(tmp_path_factory) -> Path:
    """A gzipped JSONL file of the corpus slice (about 1,900 papers)."""
    path = tmp_path_factory.mktemp("corpus") / "slice.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.writelines(corpus_lines(SLICE_SINCE, SLICE_UNTIL))
    return path


@pytest.fixture
def engine(tmp_path):
    """A fresh, migrated SQLite database file."""
    eng = make_engine(f"sqlite:///{tmp_path / 'paperboy.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def slice_db(tmp_path_factory, slice_file):
    """A migrated SQLite database holding the corpus slice plus the Kaggle fixture (shared, read-only)."""
    from paperboy.ingest.dumps import import_dump

    path = tmp_path_factory.mktemp("db") / "paperboy.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    import_dump(eng, slice_file)
    import_dump(eng, FIXTURES / "kaggle-sample.jsonl")
    eng.dispose()
    return path


@pytest.fixture
def client(slice_db, tmp_path):
    """An HTTP client for the app over a private copy of the slice database."""
    from fastapi.testclient import TestClient

    from paperboy.web.app import create_app

    path = tmp_path / "copy.db"
    path.write_bytes(slice_db.read_bytes())
    settings = Settings(database_url=f"sqlite:///{path}", data_dir=str(tmp_path), secret_key="test-secret").resolved()
    app = create_app(settings)
    with TestClient(app) as c:
        c.engine = app.state.engine
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(slice_db, tmp_path_factory):
    """The real app served by uvicorn on a loopback port, for the browser tests."""
    import uvicorn

    from paperboy.web.app import create_app

    path = tmp_path_factory.mktemp("live") / "paperboy.db"
    path.write_bytes(slice_db.read_bytes())
    port = free_port()
    app = create_app(Settings(database_url=f"sqlite:///{path}", data_dir=str(path.parent), secret_key="test-secret").resolved())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
