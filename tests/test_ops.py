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
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text

from conftest import ROOT, free_port, slice_database_url
from paperboy.config import Settings
from paperboy.mail.outbox import deliver_pending, enqueue
from paperboy.store.db import make_engine, write_transaction
from paperboy.store.schema import job_runs, outbox, papers
from paperboy.web.app import create_app
from test_mail import Recorder


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
    client.app.state.search.refresh()  # what the start-up warm-up does in the background
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
    unmigrated = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", data_dir=str(tmp_path), secret_key="s").resolved()
    with TestClient(create_app(unmigrated)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unready" and "migrations" in body["failed"] and "database" not in body["failed"]
        assert body["checks"]["migrations"]["current"] is None and body["checks"]["migrations"]["head"]
        assert c.get("/healthz").status_code == 200  # alive all the same: restarting it would not help
    gone = Settings(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none", data_dir=str(tmp_path), secret_key="s").resolved()
    with TestClient(create_app(gone)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["failed"] == ["database", "migrations", "search"], r.text
        assert r.json()["checks"]["database"]["error"]
        assert c.get("/healthz").status_code == 200


# --- metrics in one process ----------------------------------------------------------------------

@pytest.fixture
def smtp():
    controller = Controller(Recorder(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


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
    settings = Settings(database_url=str(engine.url.render_as_string(hide_password=False)), data_dir=str(tmp_path), secret_key="s",
                        smtp_host="127.0.0.1", smtp_port=smtp.port).resolved()  # fmt: skip
    sent_before = value(metrics(client), "paperboy_mail_total", outcome="sent")
    assert deliver_pending(engine, settings).sent == 1
    final = metrics(client)
    assert value(final, "paperboy_outbox_messages", status="queued") == 0
    assert value(final, "paperboy_mail_total", outcome="sent") - sent_before == 1
    assert value(final, "paperboy_jobs_running", lease="live") == 0
