"""Operations: /healthz, /readyz, Prometheus /metrics (one process and `serve --workers 2`), JSON
logs, graceful shutdown of serve and worker, and concurrency on PostgreSQL with real processes:
two web servers taking votes from 50 members at once, three workers racing for the daily run and
the digests, a worker killed in mid-job whose lease another takes over."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text

from community_helpers import add_active
from conftest import ROOT, free_port, make_client, site_settings, slice_database_url
from paperboy.http.site import site_of
from paperboy.digest.delivery import deliver
from paperboy.mail.outbox import enqueue
from paperboy.store.db import make_engine, write_transaction
from paperboy.store.schema import job_runs, outbox, papers


def metrics(client_or_url) -> dict[tuple, float]:
    """{(sample name, ((label, value), …)): value} from /metrics."""
    if isinstance(client_or_url, str):
        body = httpx.get(client_or_url + "/metrics", timeout=10).text
    else:
        body = client_or_url.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(body) for s in f.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def route_count(samples, route: str, status: str = "200", method: str = "GET") -> float:
    return value(samples, "paperboy_http_request_duration_seconds_count", method=method, route=route, status=status)


# --- health and readiness ------------------------------------------------------------------------

def test_readyz_is_ready_once_search_has_loaded_and_neither_check_is_cached_or_limited(client):
    site_of(client.app).search.refresh()  # what the start-up warm-up does in the background
    for _ in range(60):  # well past any per-address limit: these are polled by load balancers
        r = client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        h = client.get("/healthz")
        assert h.status_code == 200 and h.json()["status"] == "ok" and h.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"] and body["checks"]["search"]["ok"]
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    assert body["checks"]["search"]["backend"] == ("postgresql" if client.engine.dialect.name == "postgresql" else "embedded")


def test_readyz_names_what_is_not_ready(tmp_path):
    with make_client(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path) as c:  # not migrated
        r = c.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unready" and "migrations" in body["failed"] and "database" not in body["failed"]
        assert body["checks"]["migrations"]["current"] is None and body["checks"]["migrations"]["head"]
        assert c.get("/healthz").status_code == 200  # alive all the same: restarting it would not help
    with make_client(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none", tmp_path) as c:  # gone
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["failed"] == ["database", "migrations", "search"], r.text
        assert r.json()["checks"]["database"]["error"]
        assert c.get("/healthz").status_code == 200


def test_readyz_says_unready_when_the_database_host_stops_answering(tmp_path, monkeypatch):
    """A server that takes the connection and never answers (a hung host, a dropped route): without
    a connect timeout /readyz would wait for TCP to give up (minutes) instead of saying so."""
    from paperboy.store import db

    monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as stalled:
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(16)  # the kernel completes the handshakes; nothing ever reads or writes
        port = stalled.getsockname()[1]
        answer: dict = {}
        with make_client(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none", tmp_path) as c:  # hung
            probe = threading.Thread(target=lambda: answer.update(r=c.get("/readyz")), daemon=True)
            probe.start()
            probe.join(timeout=60)  # a failure bound, far above the 1 s connect timeout
            assert "r" in answer, "/readyz did not answer"
            assert answer["r"].status_code == 503 and "database" in answer["r"].json()["failed"]


def _lock_waiters(watch, condition: str) -> int:
    """How many other PostgreSQL sessions wait on a lock (``condition``: more SQL on pg_stat_activity)."""
    found = watch.execute(text(f"SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND {condition} "
                               "AND pid <> pg_backend_pid()")).scalar()  # fmt: skip
    watch.rollback()  # a transaction sees one snapshot of pg_stat_activity
    return found


# --- metrics in one process ----------------------------------------------------------------------

def test_metrics_count_requests_by_route_template_cache_search_mail_and_the_queue(client, smtp, tmp_path):
    before = metrics(client)
    for path in ("/papers/2606.30212", "/papers/2606.30212", "/papers/2606.30212", "/papers/date/2026-06-30"):
        assert client.get(path).status_code == 200
    assert client.get("/search", params={"q": "codes"}).status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = metrics(client)
    delta = lambda *args, **kw: value(after, *args, **kw) - value(before, *args, **kw)  # noqa: E731
    assert route_count(after, "/papers/{arxiv_id:arxiv_new}") - route_count(before, "/papers/{arxiv_id:arxiv_new}") == 3
    assert route_count(after, "/papers/date/{day:period}") - route_count(before, "/papers/date/{day:period}") == 1
    assert not any("2606.30212" in str(k) for k in after)  # never a raw path as a label
    assert route_count(after, "<unmatched>", "404") - route_count(before, "<unmatched>", "404") == 1
    assert delta("paperboy_page_cache_requests_total", result="hit") == 2  # the paper page, twice more
    assert delta("paperboy_page_cache_requests_total", result="miss") >= 2  # its first rendering, the day's
    assert delta("paperboy_search_duration_seconds_count", operation="search") >= 1
    # The queue is read from the database when scraped; mail outcomes are counted as they happen.
    engine = client.engine
    with write_transaction(engine) as conn:
        enqueue(conn, key="ops-test:1", to="reader@example.org", subject="Hello", text="Hi")
    assert value(metrics(client), "paperboy_outbox_messages", status="queued") == 1
    settings = replace(client.settings, smtp_host="127.0.0.1", smtp_port=smtp.port)
    sent_before = value(metrics(client), "paperboy_mail_total", outcome="sent")
    assert deliver(engine, settings).sent == 1
    final = metrics(client)
    assert value(final, "paperboy_outbox_messages", status="queued") == 0
    assert value(final, "paperboy_mail_total", outcome="sent") - sent_before == 1
    assert value(final, "paperboy_jobs_running", lease="live") == 0


# --- real processes ------------------------------------------------------------------------------

def _env(url: str, data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(PAPERBOY_DATABASE_URL=url, PAPERBOY_DATA_DIR=str(data_dir), PAPERBOY_SECRET_KEY="ops-secret",
               PYTHONPATH=str(ROOT / "src"), **{k: str(v) for k, v in extra.items()})  # fmt: skip
    return env


def _wait(condition, timeout: float, what: str, proc=None):
    """Poll ``condition()`` until it is true (returning it) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited ({proc.returncode}) first")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Served:
    """``paperboy serve --no-worker`` as a real process on a loopback port."""

    def __init__(self, env: dict, tmp: Path, *args: str, name: str = "serve"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out, self.err = tmp / f"{name}.out", tmp / f"{name}.err"
        cmd = [sys.executable, "-m", "paperboy.cli", "serve", "--no-worker", "--port", str(self.port), *args]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _wait(self._healthy, 90, f"{cmd} to answer", self.proc)

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def accepting(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def logs(self) -> str:
        return self.err.read_text() + self.out.read_text()


def test_two_web_workers_report_summed_metrics_log_json_and_clean_up(tmp_path, request):
    url = slice_database_url("sqlite", tmp_path, request)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = _env(url, tmp_path, PAPERBOY_LOG_FORMAT="json", TMPDIR=scratch)
    server = Served(env, tmp_path, "--workers", "2")
    try:
        folder = _wait(lambda: list(scratch.glob("paperboy-metrics-*")), 10, "the metrics folder")[0]
        sent = 0

        def both_workers_counted() -> bool:
            nonlocal sent
            with httpx.Client() as c:  # a new connection each: the two processes share the listening socket
                assert c.get(server.url + "/papers/2606.30212").status_code == 200
            sent += 1
            # Each process renders the page once for its own cache: two misses, two processes.
            return value(metrics(server.url), "paperboy_page_cache_requests_total", result="miss") >= 2

        _wait(both_workers_counted, 60, "both web processes to have answered", server.proc)
        assert len(list(folder.glob("histogram_*.db"))) >= 2  # a file per process
        samples = metrics(server.url)
        assert route_count(samples, "/papers/{arxiv_id:arxiv_new}") == sent  # every process's requests, added up
        hits = value(samples, "paperboy_page_cache_requests_total", result="hit")
        misses = value(samples, "paperboy_page_cache_requests_total", result="miss")
        assert hits + misses == sent and misses == 2
    finally:
        assert server.stop() == 0, server.logs()
    assert not list(scratch.glob("paperboy-metrics-*"))  # the folder goes with the server
    access = [json.loads(line) for line in server.out.read_text().splitlines() if line.startswith("{")]
    papers_seen = [e for e in access if e.get("path") == "/papers/2606.30212"]
    assert len(papers_seen) == sent and all(e["status"] == 200 and e["method"] == "GET" and e["level"] == "info" for e in papers_seen)
    assert all({"time", "level", "logger", "message"} <= set(e) for e in access)
    for line in server.err.read_text().splitlines():  # uvicorn's and Paperboy's own lines are JSON too
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry), line


def test_sigterm_lets_a_request_in_flight_finish(tmp_path, postgres):
    """The request is held inside the server by a table lock the test holds; SIGTERM; once the
    server has stopped accepting, the lock goes — and the request is still answered."""
    url = postgres.create_database("graceful")
    engine = make_engine(url)
    from paperboy.store.db import upgrade

    upgrade(engine)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = Served(_env(url, tmp_path, PAPERBOY_GRACEFUL_SHUTDOWN_SECONDS=60, TMPDIR=scratch), tmp_path)
    assert list(scratch.glob("paperboy-metrics-*"))
    answer = {}
    try:
        # Alive at once; ready once search has warmed up (the model loads in the background).
        _wait(lambda: httpx.get(server.url + "/readyz", timeout=10).status_code == 200, 120, "/readyz to say ready", server.proc)
        with engine.connect() as lock:
            lock.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))

            def ask():
                try:
                    answer["response"] = httpx.get(server.url + "/readyz", timeout=60)
                except Exception as e:
                    answer["error"] = e

            asking = threading.Thread(target=ask)
            asking.start()
            with engine.connect() as watch:
                _wait(lambda: _lock_waiters(watch, "query LIKE '%alembic_version%'"), 30, "the request to wait on the lock", server.proc)
            server.proc.send_signal(signal.SIGTERM)
            _wait(lambda: not server.accepting(), 30, "the server to stop accepting")
            assert server.proc.poll() is None and "response" not in answer  # still waiting for the request
            lock.rollback()
        asking.join(timeout=60)
        assert answer.get("response") is not None, answer
        assert answer["response"].status_code == 200, answer["response"].text
        assert server.proc.wait(timeout=60) == 0, server.logs()  # a requested stop, cleaned up after
        assert not list(scratch.glob("paperboy-metrics-*"))
    finally:
        server.stop()
        engine.dispose()


# --- the worker: SIGTERM, racing workers, a killed worker ------------------------------------------

from fake_arxiv import Fault, serve_fake_arxiv  # noqa: E402
from paperboy.store.db import upgrade  # noqa: E402

LISTING_PATH = "/rss/cs.LG+cs.AI+cs.CL+stat.ML"


@pytest.fixture
def fake():
    with serve_fake_arxiv() as f:
        yield f


def _worker_env(url: str, tmp: Path, fake, smtp_port: int = 9, **extra) -> dict:
    return _env(url, tmp, PAPERBOY_ARXIV_RSS_URL=fake.url, PAPERBOY_HF_URL=fake.url, PAPERBOY_ARXIV_API_URL=fake.api_url,
                PAPERBOY_ARXIV_OAI_URL=fake.oai_url, PAPERBOY_ARXIV_INTERVAL="0.01", PAPERBOY_HF_INTERVAL="0",
                PAPERBOY_DAILY_CATEGORIES="cs.LG,cs.AI,cs.CL,stat.ML", PAPERBOY_BACKFILL_DAYS="0", PAPERBOY_SMTP_HOST="127.0.0.1",
                PAPERBOY_SMTP_PORT=smtp_port, PAPERBOY_MAIL_RETRY_SECONDS="0", PAPERBOY_MAIL_LEASE_SECONDS="5",
                PAPERBOY_BASE_URL="https://papers.example.org", PAPERBOY_MAIL_FROM="Paperboy <digest@papers.example.org>",
                PAPERBOY_EMBEDDING_THREADS="1", **extra)  # fmt: skip


def _worker(env: dict, tmp: Path, name: str, *args: str):
    out, err = open(tmp / f"{name}.out", "wb"), open(tmp / f"{name}.err", "wb")
    with out, err:
        return subprocess.Popen([sys.executable, "-m", "paperboy.cli", "worker", *args], env=env, stdout=out, stderr=err)


def _runs(engine, prefix: str) -> list:
    with engine.connect() as conn:
        return conn.execute(select(job_runs).where(job_runs.c.run_key.startswith(prefix))).all()


def _listing_requests(fake) -> int:
    return sum(1 for r in fake.requests if r["path"] == LISTING_PATH)


def test_sigterm_lets_the_worker_finish_its_job_and_start_no_other(tmp_path, fake):
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    engine = make_engine(url)
    upgrade(engine)
    release = threading.Event()
    fake.always = Fault(hold=release)  # the daily run's first request waits until the test lets it go
    proc = _worker(_worker_env(url, tmp_path, fake, PAPERBOY_LOG_FORMAT="json"), tmp_path, "worker")
    try:
        _wait(lambda: _listing_requests(fake) >= 1, 60, "the daily run to be under way", proc)
        assert [r.status for r in _runs(engine, "daily-ingest:")] == ["running"]
        proc.send_signal(signal.SIGTERM)  # without a handler the process would die here, its run left 'running'
        fake.always = None
        release.set()
        assert proc.wait(timeout=180) == 0, (tmp_path / "worker.err").read_text()
        runs = _runs(engine, "daily-ingest:")
        assert [r.status for r in runs] == ["done"], runs
        assert _runs(engine, "digest-send:") == [] and _runs(engine, "embed-new:") == []  # nothing begun after the signal
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(papers)).scalar() > 0  # the held listing was ingested
        log = [json.loads(line) for line in (tmp_path / "worker.err").read_text().splitlines()]  # JSON logs: every line an object
        assert any(e["logger"] == "paperboy.jobs.leases" and e["message"].startswith("job done run_key=daily-ingest:") for e in log)
        assert all({"time", "level", "logger", "message"} <= set(e) for e in log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.dispose()


def _subscribers(engine, url: str, tmp_path: Path, n: int) -> list[str]:
    """``n`` confirmed subscribers, half daily and half weekly."""
    settings = site_settings(url, tmp_path, secret_key="ops-secret", base_url="https://papers.example.org")
    daily = [f"daily{i}@example.org" for i in range(n // 2)]
    weekly = [f"weekly{i}@example.org" for i in range(n - n // 2)]
    add_active(engine, settings, daily, frequency="daily")
    add_active(engine, settings, weekly, frequency="weekly")
    return daily + weekly


def test_three_workers_started_together_run_the_daily_ingest_once_and_mail_each_reader_once(tmp_path, postgres, fake, smtp):
    url = postgres.create_database("three_workers")
    engine = make_engine(url)
    upgrade(engine)
    readers = _subscribers(engine, url, tmp_path, 20)
    env = _worker_env(url, tmp_path, fake, smtp.port)
    procs = [_worker(env, tmp_path, f"worker{i}", "--once") for i in range(3)]
    try:
        for i, p in enumerate(procs):
            assert p.wait(timeout=300) == 0, (tmp_path / f"worker{i}.err").read_text()
        daily = _runs(engine, "daily-ingest:")
        assert len(daily) == 1 and daily[0].status == "done", daily
        assert _listing_requests(fake) == 1  # the listing was fetched by one worker, once
        digests = _runs(engine, "digest-send:")
        # One daily and one weekly edition were due (the worker catches up with the latest of each), each sent once.
        assert sorted("weekly" if "-W" in r.run_key else "daily" for r in digests) == ["daily", "weekly"], digests
        assert {r.status for r in digests} == {"done"}
        copies = Counter(rcpt for e in smtp.handler.envelopes for rcpt in e.rcpt_tos)
        assert copies == Counter({r: 1 for r in readers}), copies  # every reader, once
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(outbox).where(outbox.c.status == "sent")).scalar() == len(readers)
        # Every worker went for each run; one claimed it, the other two were told it was taken.
        logs = [(tmp_path / f"worker{i}.err").read_text() for i in range(3)]
        for key in [daily[0].run_key] + [r.run_key for r in digests]:
            assert sum(f"job claimed run_key={key} " in log for log in logs) == 1, key
            assert sum(f"job skipped run_key={key}:" in log for log in logs) == 2, key
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        engine.dispose()


def test_a_worker_killed_in_mid_job_has_its_run_taken_over_when_the_lease_runs_out(tmp_path, postgres, fake):
    """The first worker is held in mid-run by a lock the test holds on ``papers`` (it has fetched
    the listing and waits to write it: no request slot of the shared rate limiter is held, so the
    kill stalls nobody but itself), then SIGKILLed; a second worker takes the run over once the
    3-second lease has run out, and finishes it."""
    url = postgres.create_database("killed_worker")
    engine = make_engine(url)
    upgrade(engine)
    env = _worker_env(url, tmp_path, fake, PAPERBOY_JOB_LEASE_SECONDS="3", PAPERBOY_WORKER_POLL_SECONDS="1")
    first = second = None
    try:
        with engine.connect() as lock:
            lock.execute(text("LOCK TABLE papers IN EXCLUSIVE MODE"))  # reads go on; the ingest's writes wait
            first = _worker(env, tmp_path, "first", "--once")
            with engine.connect() as watch:
                _wait(lambda: _lock_waiters(watch, "datname = current_database()"), 90, "the first worker's ingest to wait on the lock", first)
            (run,) = _runs(engine, "daily-ingest:")
            assert run.status == "running" and _listing_requests(fake) == 1
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=30) == -signal.SIGKILL
            lock.rollback()
        second = _worker(env, tmp_path, "second")  # a long-running worker: it looks again when the lease would end
        _wait(lambda: [r.status for r in _runs(engine, "daily-ingest:")] == ["done"], 180, "the second worker to finish the run", second)
        (done,) = _runs(engine, "daily-ingest:")
        assert done.run_key == run.run_key and done.holder != run.holder
        assert done.started_at >= run.lease_until  # taken over only once the dead worker's lease had run out
        assert _listing_requests(fake) == 2  # the killed worker's fetch, then the second worker's
        log = (tmp_path / "second.err").read_text()
        assert f"job taken over run_key={run.run_key} from={run.holder} (expired lease)" in log, log
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(papers)).scalar() > 0
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=120) == 0, (tmp_path / "second.err").read_text()
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        engine.dispose()


# --- votes through two web processes on one PostgreSQL database --------------------------------------

def test_fifty_members_voting_at_once_through_two_web_processes_leave_exact_counts(tmp_path, request):
    """Two ``paperboy serve`` processes on one PostgreSQL database; 50 logged-in members (sessions
    made in the database: 50 log-ins from one address would meet the log-in limit), each with the
    CSRF token its page gave it, vote at once, every request to the other server than the last:
    an upvote twice on A (counted once), up-down-up on B for half of them and up-down for the
    rest, up-down on C. Counts: A +50, B +25, C +0, and the rows agree."""
    from paperboy.accounts.sessions import create_session
    from paperboy.accounts.users import create_user
    from paperboy.store.schema import users, votes

    url = slice_database_url("postgresql", tmp_path, request)
    engine = make_engine(url)
    ids = ["2606.30212"]
    with engine.connect() as conn:
        ids += conn.execute(select(papers.c.arxiv_id).where(papers.c.hidden_at.is_(None), papers.c.arxiv_id != ids[0])
                            .order_by(papers.c.id).limit(2)).scalars().all()  # fmt: skip
        before = dict(conn.execute(select(papers.c.arxiv_id, papers.c.upvotes).where(papers.c.arxiv_id.in_(ids))).all())
    a, b, c = ids

    def vote_rows() -> set[tuple[str, str]]:
        with engine.connect() as conn:
            return set(conn.execute(select(users.c.username, papers.c.arxiv_id).join(votes, votes.c.user_id == users.c.id)
                                    .join(papers, papers.c.id == votes.c.paper_id).where(users.c.username.startswith("voter"))).all())  # fmt: skip

    n = 50
    tokens = []
    with write_transaction(engine) as conn:
        for i in range(n):
            user = create_user(conn, f"voter{i}", f"voter{i}@example.org", "correct horse battery staple")
            tokens.append(create_session(conn, user.id))
    env = _env(url, tmp_path)
    servers = [Served(env, tmp_path, name="web1"), Served(env, tmp_path, name="web2")]
    try:
        start = threading.Barrier(n)
        failures: list = []

        def member(i: int) -> None:
            try:
                with httpx.Client(cookies={"pb_session": tokens[i]}, timeout=60) as client:
                    page = client.get(f"{servers[i % 2].url}/papers/{a}")
                    assert page.status_code == 200 and f"voter{i}" in page.text
                    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
                    plan = [(a, "1"), (a, "1"), (b, "1"), (b, "0")] + ([(b, "1")] if i % 2 == 0 else []) + [(c, "1"), (c, "0")]
                    start.wait(timeout=120)
                    for k, (paper, up) in enumerate(plan):
                        server = servers[(i + k) % 2]
                        r = client.post(f"{server.url}/papers/{paper}/vote", data={"up": up, "csrf_token": csrf}, headers={"HX-Request": "true"})
                        assert r.status_code == 200, (r.status_code, r.text[:300])
                        assert ('aria-pressed="true"' in r.text) == (up == "1"), r.text[:300]  # the answer shows the toggle
            except Exception as e:  # reported below
                failures.append((i, e))

        threads = [threading.Thread(target=member, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not failures, failures[:3]
        with engine.connect() as conn:
            after = dict(conn.execute(select(papers.c.arxiv_id, papers.c.upvotes).where(papers.c.arxiv_id.in_(ids))).all())
        assert after[a] - before[a] == n and after[b] - before[b] == n // 2 and after[c] == before[c], (before, after)
        # Every member's final state, row by row: A, B for the even ones, never C.
        assert vote_rows() == {(f"voter{i}", a) for i in range(n)} | {(f"voter{i}", b) for i in range(0, n, 2)}
        # Each member's page on either server says what they did (their fragments are never cached).
        with httpx.Client(cookies={"pb_session": tokens[1]}, timeout=30) as odd:
            for server in servers:
                html = odd.get(f"{server.url}/papers/{b}").text
                button = re.search(r'<button type="submit" class="vote-button[^"]*" aria-pressed="(true|false)">.*?vote-count">(\d+)<', html, re.S)
                assert button.groups() == ("false", str(after[b])), button.groups()  # voter1 ended B not voted, fresh count
    finally:
        for s in servers:
            s.stop()
        engine.dispose()
