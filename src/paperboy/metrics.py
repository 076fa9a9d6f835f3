"""Prometheus metrics (``/metrics``), with the official ``prometheus_client``.

What is counted where it happens (cheap: one lock and an addition):

* ``paperboy_http_request_duration_seconds{method,route,status}`` — every request, labelled by the
  route's *template* (``/papers/{arxiv_id:path}``), never the raw path, so the label set stays small;
* ``paperboy_page_cache_requests_total{result="hit|miss"}`` — the shared page cache (``web/cache.py``);
  the hit ratio is ``rate(hit) / rate(hit + miss)``;
* ``paperboy_search_duration_seconds{operation="search|related"}`` — the search backend's observer hook;
* ``paperboy_mail_total{outcome="sent|failed|bounced|cancelled"}`` — each outbox delivery outcome
  (``mail/outbox.py``), and ``paperboy_digest_editions_total{outcome}`` for each edition run.

What is read at scrape time from the database (a few indexed counts) lives in ``scrape.py``, which
asks the tables' owners; this module stays below the mail and digest code that counts here.

Several web processes (``paperboy serve --workers N``): ``serve`` makes a fresh folder, names it in
``PROMETHEUS_MULTIPROC_DIR`` before any worker starts (the variable ``prometheus_client`` reads
when it is imported), and removes it on exit. Each process — the web workers, the background
worker and its delivery processes — then writes its counts to files there, and a scrape of any web
process adds them all up.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram

__all__ = ["CONTENT_TYPE_LATEST", "MetricsMiddleware", "observe_search", "mail_outcome"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Histogram("paperboy_http_request_duration_seconds", "Time to answer a request, by route template.",
                     ("method", "route", "status"), buckets=_BUCKETS)  # fmt: skip
CACHE = Counter("paperboy_page_cache_requests_total", "Page cache look-ups, by result (hit or miss).", ("result",))
SEARCH = Histogram("paperboy_search_duration_seconds", "Time a search or related-papers lookup took.", ("operation",), buckets=_BUCKETS)
MAIL = Counter("paperboy_mail_total", "Outbox delivery outcomes (sent, failed: a try that failed, bounced, cancelled).", ("outcome",))
EDITIONS = Counter("paperboy_digest_editions_total", "Digest edition runs, by outcome (done or failed).", ("outcome",))

CACHE_HIT = CACHE.labels("hit")
CACHE_MISS = CACHE.labels("miss")
_mail = {o: MAIL.labels(o) for o in ("sent", "failed", "bounced", "cancelled")}
UNMATCHED = "<unmatched>"


def mail_outcome(outcome: str) -> None:
    counter = _mail.get(outcome)
    if counter is not None:
        counter.inc()


def observe_search(operation: str, seconds: float) -> None:
    """The search backends' ``observer`` (see ``search/backend.py``)."""
    SEARCH.labels(operation).observe(seconds)


class MetricsMiddleware:
    """Times each HTTP request (ASGI; wraps the FastAPI app itself, where the router records the
    matched route in the scope). Children of one (method, route, status) are kept, so the hot
    path is a dictionary look-up and one histogram observation."""

    def __init__(self, app):
        self.app = app
        self.state = getattr(app, "state", None)
        self._children: dict[tuple, object] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            key = (scope["method"], getattr(route, "path", None) or UNMATCHED, status)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = REQUESTS.labels(key[0], key[1], str(status))
            child.observe(time.perf_counter() - started)
