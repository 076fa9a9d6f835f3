"""What the worker does each announcement evening, in order (indexing for search follows, see
:func:`paperboy.jobs.scheduler.search_index_step`), and the worker built from the settings.

1. arXiv's daily listings for ``PAPERBOY_DAILY_CATEGORIES``: new papers land on the day's feed,
   replacements update versions, withdrawals are marked;
2. Hugging Face's Daily Papers picks for the day: their upvote counts, kept apart from ours.

Later in the evening (``PAPERBOY_DIGEST_AT``) the worker sends the e-mail digest of the day (and
of the week, on ``PAPERBOY_DIGEST_WEEKDAY``): :func:`digest_schedule`.

Both go through the instance-wide request limiter, so several workers stay polite together.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from paperboy.jobs.leases import RunResult
from paperboy.jobs.scheduler import Job, Scheduled, embedder_loader, run_worker

__all__ = ["daily_jobs", "run_worker_from_settings"]


def daily_jobs(engine: Engine, settings) -> list[Job]:
    """The daily run's ingest steps, each ``job(day)``."""
    from paperboy.ingest.hf import mirror_hf_day
    from paperboy.ingest.http import limiter_for, pace
    from paperboy.ingest.listings import ingest_from_feed

    contact = settings.contact_email or None

    def arxiv_listings(day):
        return ingest_from_feed(engine, settings.categories, base_url=settings.arxiv_rss_url,
                                limiter=limiter_for(engine, "arxiv-rss", pace(settings, "arxiv-rss")), contact_email=contact)  # fmt: skip

    def hugging_face_picks(day):
        return mirror_hf_day(engine, day, base_url=settings.hf_base_url,
                             limiter=limiter_for(engine, "hf", pace(settings, "hf")), contact_email=contact)  # fmt: skip

    return [arxiv_listings, hugging_face_picks]


def digest_schedule(engine: Engine, settings) -> Scheduled:
    """The digests, at ``PAPERBOY_DIGEST_AT`` (see :mod:`paperboy.digest.schedule`): each due edition
    is sent under the lease ``digest-send:<edition>``, so several workers send it once."""
    from paperboy.digest.schedule import due_editions, next_digest_time

    search = []

    def send(edition):
        def body():
            from paperboy.digest.send import send_edition
            from paperboy.search.service import SearchService

            if not search:
                search.append(SearchService(engine, settings.data_dir, embedder_loader=embedder_loader(settings)))
            return send_edition(engine, settings, edition, search=search[0])

        return body

    return Scheduled(
        due=lambda now: [(f"digest-send:{e.key}", send(e)) for e in due_editions(now, settings)],
        next_at=lambda now: next_digest_time(now, settings),
    )


def run_worker_from_settings(engine: Engine, settings, *, once: bool = False, stop: threading.Event | None = None) -> list[RunResult]:
    """:func:`~paperboy.jobs.scheduler.run_worker` with the daily jobs and every interval from ``settings``."""
    at, tz, holidays = settings.daily_schedule()
    return run_worker(
        engine, settings, once=once, jobs=daily_jobs(engine, settings), at=at, tz=tz, holidays=holidays,
        lease_seconds=settings.job_lease_seconds, retry_delay=settings.job_retry_seconds,
        sleep_step=settings.worker_poll_seconds, stop=stop, scheduled=[digest_schedule(engine, settings)],
    )  # fmt: skip
