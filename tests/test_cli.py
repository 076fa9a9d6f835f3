"""The `paperboy` command: import, stats, db upgrade/status, serve's schema check, exit codes."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from conftest import FIXTURES, corpus_lines, run_cli
from paperboy.store.db import make_engine


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "dump.jsonl.gz"
    lines = corpus_lines("2026-06-29", "2026-06-29", limit=40)
    with gzip.open(path, "wb") as f:
        f.writelines(lines[:10] + [b'{"id": "2606.1", "title": broken\n'] + lines[10:])
    return path


def test_import_stats_and_reimport(tmp_path, dump):
    data = tmp_path / "data"
    assert run_cli(["db", "upgrade"], data).returncode == 0
    first = run_cli(["import", str(dump)], data)
    assert first.returncode == 0, first.stderr
    assert "40 new, 0 updated, 0 unchanged, 1 bad" in first.stdout
    assert "line 11:" in first.stderr and "not valid JSON" in first.stderr
    second = run_cli(["import", str(dump)], data)
    assert "0 new, 0 updated, 40 unchanged, 1 bad" in second.stdout
    strict = run_cli(["import", "--strict", str(dump)], data)
    assert strict.returncode == 3
    stats = run_cli(["stats", "--json"], data)
    figures = json.loads(stats.stdout)
    assert figures["papers"] == 40 and figures["days"] == 1 and figures["last_day"] == "2026-06-29"
    assert (data / "paperboy.db").exists()  # the documented default location


def test_import_json_summary(tmp_path):
    r = run_cli(["import", "--migrate", "--json", str(FIXTURES / "kaggle-sample.jsonl")], tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["format"] == "kaggle" and summary["new"] == 4 and summary["bad"] == 0


def test_clear_errors_and_exit_codes(tmp_path):
    missing = run_cli(["import", str(tmp_path / "nope.jsonl")], tmp_path)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    unmigrated = run_cli(["import", str(FIXTURES / "kaggle-sample.jsonl")], tmp_path)
    assert unmigrated.returncode == 1 and "paperboy db upgrade" in unmigrated.stderr
    bad_date = run_cli(["import", "--since", "June", str(FIXTURES / "kaggle-sample.jsonl")], tmp_path)
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    assert run_cli(["frobnicate"], tmp_path).returncode == 2
    assert run_cli(["stats"], tmp_path).returncode == 1


def test_serve_refuses_an_unmigrated_or_newer_database(tmp_path):
    r = run_cli(["serve", "--port", "1"], tmp_path)
    assert r.returncode == 1 and "has not been set up" in r.stderr
    assert run_cli(["db", "status"], tmp_path).returncode == 1
    assert run_cli(["db", "upgrade"], tmp_path).returncode == 0
    assert run_cli(["db", "status"], tmp_path).returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'paperboy.db'}")
    with engine.begin() as conn:  # as if a newer Paperboy had migrated this database
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    r = run_cli(["serve", "--port", "1"], tmp_path)
    assert r.returncode == 1 and "newer Paperboy" in r.stderr


def test_serve_with_migrate_sets_up_the_database_and_serves(tmp_path):
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PAPERBOY_DATA_DIR=str(tmp_path), PAPERBOY_INGEST="off")  # its worker: no arXiv in tests
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperboy.cli", "serve", "--migrate", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.load(r)["status"] == "ok"
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stderr.read().decode() if proc.poll() is not None else "no answer")
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert "No papers yet" in r.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_killed_serve_takes_its_background_worker_with_it(tmp_path):
    """SIGKILL (an OOM kill, a supervisor's hard stop) gives serve no chance to stop its worker: the
    kernel does (PR_SET_PDEATHSIG), so no worker runs on alone for a site that is down."""
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PAPERBOY_DATA_DIR=str(tmp_path), PAPERBOY_INGEST="off")
    proc = subprocess.Popen([sys.executable, "-m", "paperboy.cli", "serve", "--migrate", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                time.sleep(0.2)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        workers = [int(c) for c in children if b"worker" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def alive(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 30
    while alive(workers[0]):
        assert time.monotonic() < deadline, "the background worker outlived serve"
        time.sleep(0.1)


def test_help_everywhere(tmp_path):
    for args in (["--help"], ["import", "--help"], ["serve", "--help"], ["db", "upgrade", "--help"], ["stats", "--help"]):
        r = run_cli(args, tmp_path)
        assert r.returncode == 0 and "Usage" in r.stdout


def test_user_create_admin(tmp_path):
    assert run_cli(["db", "upgrade"], tmp_path).returncode == 0
    r = run_cli(["user", "create", "--admin", "--password-stdin", "chief", "chief@example.org"], tmp_path, input="a long admin password\n")
    assert r.returncode == 0 and "Created admin user chief" in r.stdout
    again = run_cli(["user", "create", "--password-stdin", "Chief", "other@example.org"], tmp_path, input="a long admin password\n")
    assert again.returncode == 1 and "taken" in again.stderr
    weak = run_cli(["user", "create", "--password-stdin", "newbie", "n@example.org"], tmp_path, input="short\n")
    assert weak.returncode == 1 and "at least 8" in weak.stderr
    from paperboy.accounts.users import authenticate

    engine = make_engine(f"sqlite:///{tmp_path / 'paperboy.db'}")
    with engine.begin() as conn:
        user = authenticate(conn, "chief", "a long admin password")
    assert user is not None and user.is_admin


def test_mail_deliver_with_nothing_queued(tmp_path):
    assert run_cli(["db", "upgrade"], tmp_path).returncode == 0
    r = run_cli(["mail", "deliver"], tmp_path)
    assert r.returncode == 0 and "sent 0" in r.stdout


def test_worker_once_backfills_an_empty_database_unless_no_backfill(tmp_path):
    """`paperboy worker --once` (what `paperboy serve` runs beside the site) against the loopback arXiv:
    on an empty database it records and runs the first run's backfill over OAI-PMH; `--no-backfill`
    asks OAI nothing. (The real clock: the recorded 2007 records fall outside the window, so the
    window's papers are tested with a frozen clock in test_first_run.py.)"""
    from fake_arxiv import serve_fake_arxiv
    from paperboy.store.schema import backfill_state

    with serve_fake_arxiv() as fake:
        env = {"PAPERBOY_ARXIV_OAI_URL": fake.oai_url, "PAPERBOY_ARXIV_RSS_URL": fake.url, "PAPERBOY_HF_URL": fake.url,
               "PAPERBOY_ARXIV_API_URL": fake.api_url, "PAPERBOY_ARXIV_INTERVAL": "0", "PAPERBOY_HF_INTERVAL": "0",
               "PAPERBOY_DAILY_CATEGORIES": "math.AG", "PAPERBOY_SMTP_HOST": "127.0.0.1", "PAPERBOY_SMTP_PORT": "1"}  # fmt: skip
        runs = {}
        for name, args in (("empty", []), ("no-backfill", ["--no-backfill"])):
            data = tmp_path / name
            assert run_cli(["db", "upgrade"], data).returncode == 0
            seen = len(fake.requests)
            done = run_cli(["worker", "--once", *args], data, env=env)
            runs[name] = (done, [r for r in fake.requests[seen:] if r["path"] == "/oai"])
            engine = make_engine(f"sqlite:///{data / 'paperboy.db'}")
            with engine.connect() as conn:
                runs[name] += (conn.execute(backfill_state.select()).all(),)
            engine.dispose()
    done, oai, rows = runs["empty"]
    assert "first-run-backfill: done" in done.stdout, done.stdout + done.stderr
    assert "backfill finished: 0 of 7 days, 0 papers" in done.stderr
    assert [r["params"].get("set") for r in oai if "set" in r["params"]] == ["math"] and len(oai) == 3
    assert [(r.status, r.days, r.categories) for r in rows] == [("done", 7, "math.AG")]
    done, oai, rows = runs["no-backfill"]
    assert "first-run-backfill" not in done.stdout and oai == [] and rows == []


def test_import_of_a_cut_dump_imports_what_it_could_read_then_names_the_damage(tmp_path):
    """The issue's reproduction: `head -c N dump.jsonl.gz > t.gz; paperboy import t.gz`."""
    lines = corpus_lines("2026-06-30", "2026-06-30")
    whole = gzip.compress(b"".join(lines))
    cut = tmp_path / "t.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    readable = subprocess.run(["gzip", "-dc"], input=cut.read_bytes(), capture_output=True).stdout.count(b"\n")  # zcat's whole lines
    r = run_cli(["import", "--migrate", str(cut)], tmp_path)
    assert r.returncode == 1
    assert f"{readable:,} new, 0 updated, 0 unchanged, 0 bad" in r.stdout  # the summary, then the damage
    assert f"damaged at line {readable + 1:,}" in r.stderr and "cut short" in r.stderr and "Traceback" not in r.stderr
    as_json = run_cli(["import", "--json", str(cut)], tmp_path)
    summary = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and summary["unchanged"] == readable and summary["damage"]["line"] == readable + 1
    stats = json.loads(run_cli(["stats", "--json"], tmp_path).stdout)
    assert stats["papers"] == readable


def test_the_cli_reads_as_its_commands():
    """The CLI parses, calls one domain function and prints: no SQL (no schema tables, no
    sqlalchemy queries), no private names from other packages, JSON printed one way and the schema
    checked in one place (cli/common.py), whichever command it is."""
    import ast

    import paperboy.cli

    root = Path(paperboy.cli.__file__)
    files = sorted(root.parent.glob("*.py")) if root.name == "__init__.py" else [root]
    for file in files:
        tree = ast.parse(file.read_text())
        shared = file.name == "common.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module != "paperboy.store.schema" and not node.module.startswith("sqlalchemy") or shared, (file, node.module)
                if not node.module.startswith("paperboy.cli"):
                    assert not [a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")], (file, node.module)
            if isinstance(node, ast.Attribute) and node.attr in ("dumps", "print_json", "require_current_schema"):
                assert shared, f"{file.name}:{node.lineno}: {node.attr} outside cli/common.py"
            if isinstance(node, ast.Name) and node.id == "require_current_schema":
                assert shared, f"{file.name}:{node.lineno}: the schema is checked in cli/common.py only"
