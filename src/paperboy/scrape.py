"""What ``/metrics`` answers: the counters of ``metrics.py``, then gauges read from the database.

The gauges are read at scrape time through the owners of their tables (``mail.outbox`` for the
mail queue, ``jobs.leases`` for the runs under way). They live here, not in ``metrics.py``, because
the mail and digest code imports ``metrics.py`` to count: reading their tables from there would
make the two import each other.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine

from paperboy import clock
from paperboy.config import metrics_dir
from paperboy.jobs.leases import running_counts
from paperboy.mail.outbox import status_counts

__all__ = ["DatabaseCollector", "render"]


class DatabaseCollector:
    """Gauges read from the database when scraped: the outbox rows waiting (queued, sending) or
    given up (failed), and the job runs under way (``paperboy_jobs_running``; ``expired`` counts
    those whose holder stopped renewing its lease). Counted over an index; a failing query leaves
    the gauges out rather than failing the scrape."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self):
        try:
            with self.engine.connect() as conn:
                mail = status_counts(conn)
                running, expired = running_counts(conn, clock.now())
        except Exception:
            return
        outbox_gauge = GaugeMetricFamily("paperboy_outbox_messages", "Outbox rows by status (queued and sending: the mail queue).", labels=["status"])
        for status in ("queued", "sending", "failed"):
            outbox_gauge.add_metric([status], mail.get(status, 0))
        yield outbox_gauge
        gauge = GaugeMetricFamily("paperboy_jobs_running", "Job runs under way (lease held), and of them those with an expired lease.", labels=["lease"])
        gauge.add_metric(["live"], running - expired)
        gauge.add_metric(["expired"], expired)
        yield gauge


def render(engine: Engine) -> bytes:
    """The exposition text: the counters (summed over every process in multiprocess mode), then
    the database gauges."""
    folder = metrics_dir()
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
    else:
        registry = REGISTRY
    db = CollectorRegistry()
    db.register(DatabaseCollector(engine))
    return generate_latest(registry) + generate_latest(db)
