"""What the worker does each announcement evening, in order (indexing for search follows, see
:func:`paperboy.jobs.scheduler.search_index_step`), and the worker built from the settings.

1. arXiv's daily listings for ``PAPERBOY_DAILY_CATEGORIES``: new papers land on the day's feed,
   replacements update versions, withdrawals are marked;
2. Hugging Face's Daily Papers picks for the day: their upvote counts, kept apart from ours.

Later in the evening (``PAPERBOY_DIGEST_AT``) the worker sends the e-mail digest of the day (and
of the week, on ``PAPERBOY_DIGEST_WEEKDAY``): :func:`digest_schedule`.

Both go through the instance-wide request limiter, so several workers stay polite together.

Besides, the worker built from the settings (what ``paperboy worker`` and ``paperboy serve`` run):

* on an empty database, first backfills the last ``PAPERBOY_BACKFILL_DAYS`` announcement days
  (:func:`first_run_schedule`, ``ingest/backfill.py``), resumably, under the lease
  ``first-run-backfill``;
* sends the mail waiting in the outbox at every poll (:func:`mail_step`): sign-up, reset and
  confirmation mail go out within ``PAPERBOY_WORKER_POLL_SECONDS`` without ``paperboy mail deliver``;
* runs the daily ingest only when ``PAPERBOY_INGEST`` is on;
* embeds papers that have no vector yet (``jobs/scheduler.py``).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from paperboy.config import Settings
from paperboy.jobs.leases import RunResult
from paperboy.jobs.scheduler import Job, Scheduled, run_worker

log = logging.getLogger(__name__)

__all__ = ["daily_jobs", "digest_schedule", "first_run_schedule", "mail_step", "run_worker_from_settings", "FIRST_RUN_KEY"]

FIRST_RUN_KEY = "first-run-backfill"


def daily_jobs(engine: Engine, settings: Settings) -> list[Job]:
    """The daily run's ingest steps, each ``job(day)``."""
    from paperboy.ingest.clients import client_for
    from paperboy.ingest.hf import mirror_hf_day
    from paperboy.ingest.listings import ingest_from_feed

    def arxiv_listings(day):
        with client_for(settings, "arxiv-rss", engine) as client:
            return ingest_from_feed(engine, client, settings.categories)

    def hugging_face_picks(day):
        with client_for(settings, "hf", engine) as client:
            return mirror_hf_day(engine, client, day)

    return [arxiv_listings, hugging_face_picks]


def digest_schedule(engine: Engine, settings: Settings) -> Scheduled:
    """The digests, at ``PAPERBOY_DIGEST_AT`` (see :mod:`paperboy.digest.schedule`): each due edition
    is sent under the lease ``digest-send:<edition>``, so several workers send it once."""
    from paperboy.digest.schedule import due_editions, next_digest_time

    search = []

    def send(edition):
        def body():
            from paperboy.digest.send import send_edition
            from paperboy.search.embed import embedder_loader
            from paperboy.search.factory import site_search

            if not search:
                search.append(site_search(engine, settings, embedder_loader(settings)))
            return send_edition(engine, settings, edition, search=search[0])

        return body

    return Scheduled(
        due=lambda now: [(f"digest-send:{e.key}", send(e)) for e in due_editions(now, settings)],
        next_at=lambda now: next_digest_time(now, settings),
    )


def first_run_schedule(engine: Engine, settings: Settings, *, client=None, stop: threading.Event | None = None) -> Scheduled:
    """The first run's backfill as a run of the worker's own: due at every pass until it is done
    (by this worker or another), once across workers (lease ``first-run-backfill``); a failed one
    (arXiv away) is tried again ``PAPERBOY_JOB_RETRY_SECONDS`` later and carries on where it stopped.
    ``client``: an OAI-PMH client to use instead of one made from the settings (tests); ``stop``: the
    worker's stop event, which ends the backfill after the page it is storing."""
    import datetime as dt

    from paperboy.ingest.backfill import first_run_backfill

    def due(now):
        def body():
            return first_run_backfill(engine, settings, today=now.astimezone(dt.timezone.utc).date(), client=client, stop=stop)

        return [(FIRST_RUN_KEY, body)]

    return Scheduled(due=due, next_at=lambda now: now + dt.timedelta(days=1))


def mail_step(engine: Engine, settings: Settings):
    """Send the mail waiting in the outbox, as ``paperboy mail deliver`` does; one cheap count when
    there is none."""
    from paperboy.digest.delivery import deliver
    from paperboy.mail.outbox import pending_count

    def deliver_mail():
        waiting, _ = pending_count(engine, "")
        if not waiting:
            return None
        report = deliver(engine, settings, limit=None, connections=settings.smtp_connections)
        if report.sent or report.failed or report.bounced:
            log.info("mail: sent %d, failed %d, bounced %d", report.sent, report.failed, report.bounced)
        return report

    deliver_mail.__name__ = "mail"
    return deliver_mail


def run_worker_from_settings(engine: Engine, settings: Settings, *, once: bool = False, stop: threading.Event | None = None,
                             now=None, oai_client=None, embedder=None) -> list[RunResult]:  # fmt: skip
    """:func:`~paperboy.jobs.scheduler.run_worker` with the daily jobs and every interval from ``settings``:
    the first run's backfill (when ingesting), the daily ingest (when ingesting), digests, mail at
    every poll, embedding. ``now``, ``oai_client`` and ``embedder`` replace the clock, the OAI-PMH
    client and the embedding model (tests)."""
    ingest = settings.ingest
    stop = stop or threading.Event()
    first = [first_run_schedule(engine, settings, client=oai_client, stop=stop)] if ingest and settings.backfill_days > 0 else []
    extra = {"now": now} if now is not None else {}
    if embedder is not None:
        from paperboy.jobs.scheduler import embed_new_papers_step, search_index_step

        extra["index"] = search_index_step(engine, settings, lambda: embedder)
        extra["embed_new"] = embed_new_papers_step(engine, lambda: embedder, settings.data_dir)
    return run_worker(
        engine, settings, once=once, jobs=daily_jobs(engine, settings) if ingest else [], daily=ingest, stop=stop,
        scheduled=[digest_schedule(engine, settings)], first=first, each_poll=[mail_step(engine, settings)], **extra,
    )  # fmt: skip
