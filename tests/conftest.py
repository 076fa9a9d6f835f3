"""Shared fixtures: real SQLite databases, slices of the real shared corpus, a live server, a
loopback SMTP server, Chromium, and the `paperboy` command as a process. Test modules share
through here (and the helper modules beside it), never by importing one another."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from paperboy.config import Settings
from paperboy.http.site import site_of
from paperboy.store.db import make_engine, upgrade

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERBOY_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "data" / "arxiv-cs-daily-2025-2026.jsonl.gz"
FIXTURES = Path(__file__).with_name("fixtures")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")

# Every real-browser module's ``pytestmark``: skipped where Debian's Chromium is missing, except in
# CI, which always has it (there a missing one fails at launch instead of passing by skipping).
browser_tests = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (apt-get install chromium); CI always runs these",
    ),
]

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


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on loopback for the whole run (see postgres_server.py)."""
    import shutil
    import tempfile

    from postgres_server import PostgresServer, PostgresUnavailable

    base = Path(tempfile.mkdtemp(prefix="paperboy-pg-"))  # not under pytest's root-only tmp: the server may run as postgres
    try:
        server = PostgresServer(base).start()
    except PostgresUnavailable as e:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL is part of the test suite: {e}")  # `make test` installs it
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


_databases = iter(range(1, 1_000_000))


def new_database_url(kind: str, tmp_path: Path, request) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'paperboy.db'}"
    return request.getfixturevalue("postgres").create_database(f"test_{next(_databases)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """A fresh, migrated database: every test that takes it runs on SQLite and on PostgreSQL."""
    eng = make_engine(new_database_url(request.param, tmp_path, request))
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    """A fresh, migrated SQLite database file, for what only SQLite has (its file, its pragmas)."""
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


@pytest.fixture(scope="session")
def slice_pg_template(postgres, slice_file) -> str:
    """A PostgreSQL database holding what ``slice_db`` holds, to copy from (CREATE DATABASE … TEMPLATE)."""
    from paperboy.ingest.dumps import import_dump

    url = postgres.create_database("slice_template")
    eng = make_engine(url)
    upgrade(eng)
    import_dump(eng, slice_file)
    import_dump(eng, FIXTURES / "kaggle-sample.jsonl")
    eng.dispose()  # a template must have no open connections
    return "slice_template"


def slice_database_url(kind: str, tmp_path: Path, request) -> str:
    """A private, writable copy of the corpus slice database on SQLite or PostgreSQL."""
    if kind == "sqlite":
        path = tmp_path / "copy.db"
        path.write_bytes(request.getfixturevalue("slice_db").read_bytes())
        return f"sqlite:///{path}"
    template = request.getfixturevalue("slice_pg_template")
    return request.getfixturevalue("postgres").create_database(f"test_{next(_databases)}", template=template)


def site_settings(database_url: str, data_dir, **overrides) -> Settings:
    """The settings of a test site over ``database_url``: the defaults, a test secret, ``overrides``."""
    return Settings(**{"database_url": database_url, "data_dir": str(data_dir), "secret_key": "test-secret", **overrides}).resolved()


def make_app(database_url: str, data_dir, *, search=None, **overrides):
    """The app as the tests build it, with ``site_settings``. Every test site is made here
    (datasette's ``make_app_client`` is the model), so what all of them need is said once; the
    fixtures below and each module's own site are its named variants. Drive it in-process with
    ``make_client``, or over a real socket with ``serve``. ``search``, given, makes the site's
    search service from its engine (a test's embedder, its own catch-up hooks)."""
    return app_for(site_settings(database_url, data_dir, **overrides), search=search)


def app_for(settings: Settings, *, search=None):
    """The app over settings a test made itself because it also hands them to the worker or a
    domain function (``make_app`` otherwise). The one place the tests call ``create_app``."""
    from paperboy.app import create_app

    app = create_app(settings)
    if search is not None:
        site_of(app).search = search(site_of(app).engine)
    return app


@contextmanager
def make_client(database_url: str, data_dir, **overrides):
    """A started TestClient of ``make_app(...)`` for the block; ``c.engine`` and ``c.settings`` are the app's."""
    from fastapi.testclient import TestClient

    app = make_app(database_url, data_dir, **overrides)
    with TestClient(app) as c:
        c.engine, c.settings = site_of(app).engine, site_of(app).settings
        yield c


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, tmp_path):
    """An HTTP client for the app over a private copy of the slice database — every test that takes
    it runs on SQLite and on PostgreSQL."""
    with make_client(slice_database_url(request.param, tmp_path, request), tmp_path) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app, port: int | None = None):
    """``app`` served by uvicorn on a loopback port (a thread) while the block runs; yields its URL.
    The HTTP protocol is the one ``paperboy serve`` runs (its header limit: web/server.py)."""
    import uvicorn

    from paperboy.web.server import http_protocol

    port = port or free_port()
    site = getattr(getattr(app, "state", None), "site", None)
    settings = site.settings if site is not None else Settings()  # a bare ASGI stand-in: the defaults
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=http_protocol(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_concurrently(fn, n: int = 2, timeout: float = 120) -> list:
    """``fn()`` in ``n`` threads released at the same moment; their results (an error is raised)."""
    start = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(fn())
        except Exception as e:  # re-raised below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    if errors:
        raise errors[0]
    assert len(results) == n, "a thread did not finish in time"
    return results


@pytest.fixture(scope="session")
def live_server(request, tmp_path_factory):
    """The real app over a copy of the slice, served by uvicorn on a loopback port, for the browser tests."""
    folder = tmp_path_factory.mktemp("live")
    with serve(make_app(slice_database_url("sqlite", folder, request), folder)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per module (each test opens its own context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield b
        b.close()


@pytest.fixture
def smtp():
    """A real SMTP server on a free loopback port (smtp_server.py): ``smtp.handler.envelopes`` is
    what it received, ``smtp.settings`` settings that send to it."""
    from smtp_server import smtp_settings, start_smtp

    controller = start_smtp()
    controller.settings = smtp_settings(controller.port)
    yield controller
    controller.stop()


def run_cli(args, data_dir=None, *, database_url=None, env=None, timeout=300, **kw) -> subprocess.CompletedProcess:
    """``paperboy ARGS`` as its own process, as an operator runs it. Its settings come only from
    ``data_dir``, ``database_url`` and ``env``: the PAPERBOY_* variables of whoever runs the tests
    are left out, so they cannot change what a test sees. ``kw`` go to ``subprocess.run`` (``input``)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    if data_dir is not None:
        environ["PAPERBOY_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        environ["PAPERBOY_DATABASE_URL"] = database_url
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "paperboy.cli", *args], env=environ, capture_output=True, text=True, timeout=timeout, **kw)
