"""When the daily ingest runs, and the worker loop that runs it: ``paperboy worker``.

The daily run starts a little after arXiv's announcement (20:30 America/New_York by default), on
announcement evenings only (:func:`~paperboy.papers.calendar.is_announcement_day`: the calendar
itself lives with the papers, since ingest and the digest need it too), and is keyed by that
evening's local date: ``daily-ingest:2026-06-30`` fetches the listing dated 2026-07-01.

The scheduling math is pure (:func:`next_daily_run`, :func:`latest_due_run`), computed in the
schedule's time zone so daylight-saving changes keep the run at 20:30 local time.
:func:`run_worker` is the loop: it runs the most recent due run if no worker has done it yet (so a
worker started late, or restarted after a crash, catches up), then sleeps until the next one.
Several workers may run at once: the run key is claimed with a lease (:mod:`paperboy.jobs.leases`),
so each run happens once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from paperboy import clock
from paperboy.config import Settings
from paperboy.jobs.leases import RunResult, default_holder, get_run, run_once
from paperboy.papers.calendar import is_announcement_day
from paperboy.store.repo import newest_paper_id

__all__ = [
    "DEFAULT_AT",
    "DEFAULT_TZ",
    "next_daily_run",
    "latest_due_run",
    "daily_run_key",
    "run_daily",
    "run_worker",
    "search_index_step",
    "embed_new_papers_step",
]

log = logging.getLogger(__name__)

DEFAULT_AT, DEFAULT_TZ, _ = Settings().daily_schedule()  # PAPERBOY_DAILY_AT and _TZ's defaults, defined there

Job = Callable[[dt.date], Any]


@dataclass(frozen=True)
class Scheduled:
    """Runs the worker does at times of their own: ``due(now)`` gives the (run key, body) pairs due
    now, ``next_at(now)`` the next time one may be (the worker wakes then)."""

    due: Callable[[dt.datetime], list[tuple[str, Callable[[], Any]]]]
    next_at: Callable[[dt.datetime], dt.datetime]


def _zone(tz: str | dt.tzinfo) -> dt.tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _check_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _local_instant(day: dt.date, at: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """``at`` on ``day`` in ``zone``. A time skipped by a spring-forward change lands an hour later
    (02:30 becomes 03:30); a time that happens twice in the autumn is the first of the two."""
    local = dt.datetime.combine(day, at.replace(tzinfo=None, fold=0)).replace(tzinfo=zone)
    return local.astimezone(dt.timezone.utc).astimezone(zone)


def next_daily_run(
    now: dt.datetime,
    at: dt.time = DEFAULT_AT,
    tz: str | dt.tzinfo = DEFAULT_TZ,
    *,
    announcement_days_only: bool = False,
    holidays: Iterable[dt.date] = (),
) -> dt.datetime:
    """The first time after ``now`` (strictly) that it is ``at`` o'clock in ``tz``; aware, in ``tz``.

    With ``announcement_days_only``, days without an announcement (see
    :func:`~paperboy.papers.calendar.is_announcement_day`) are skipped.
    """
    _check_aware(now)
    zone = _zone(tz)
    holidays = set(holidays)
    now = now.astimezone(dt.timezone.utc)  # compare instants: same-zone comparisons use wall time
    day = now.astimezone(zone).date() - dt.timedelta(days=1)
    for _ in range(400):
        candidate = _local_instant(day, at, zone)
        if candidate.astimezone(dt.timezone.utc) > now and (not announcement_days_only or is_announcement_day(day, holidays)):
            return candidate
        day += dt.timedelta(days=1)
    raise ValueError("no announcement day in the next year (check the holidays)")


def latest_due_run(
    now: dt.datetime,
    at: dt.time = DEFAULT_AT,
    tz: str | dt.tzinfo = DEFAULT_TZ,
    *,
    holidays: Iterable[dt.date] = (),
) -> tuple[dt.date, dt.datetime] | None:
    """(local date, instant) of the most recent scheduled run at or before ``now`` on an
    announcement day, looking back at most two weeks; ``None`` if there is none."""
    _check_aware(now)
    zone = _zone(tz)
    holidays = set(holidays)
    now = now.astimezone(dt.timezone.utc)
    day = now.astimezone(zone).date() + dt.timedelta(days=1)
    for _ in range(16):
        candidate = _local_instant(day, at, zone)
        if candidate.astimezone(dt.timezone.utc) <= now and is_announcement_day(day, holidays):
            return day, candidate
        day -= dt.timedelta(days=1)
    return None


def daily_run_key(day: dt.date) -> str:
    return f"daily-ingest:{day.isoformat()}"


class JobsFailed(RuntimeError):
    """One or more jobs of a run failed (the others, and indexing, still ran); ``detail`` is the
    JSON record of every step that :func:`run_once` stores."""

    def __init__(self, message: str, detail: str):
        super().__init__(message)
        self.detail = detail


def _name(job: Callable) -> str:
    return getattr(job, "__name__", None) or type(job).__name__


def run_daily(
    engine: Engine,
    day: dt.date,
    *,
    jobs: Sequence[Job],
    index: Callable[[], Any] | None = None,
    holder: str | None = None,
    lease_seconds: float,
) -> RunResult:
    """The run for ``day``, once across all workers: each ``job(day)`` in order, then ``index()``.

    A failing job does not stop the others or the indexing (what did arrive should be searchable);
    the run is then marked failed, with every job's outcome in ``job_runs.detail`` (JSON).
    """
    outcomes: list[dict] = []

    def body():
        failed = []
        for job in jobs:
            started = time.perf_counter()
            try:
                value = job(day)
            except Exception as e:
                log.exception("job step failed step=%s day=%s", _name(job), day)
                failed.append(_name(job))
                outcomes.append({"step": _name(job), "ok": False, "error": f"{type(e).__name__}: {e}"[:500]})
            else:
                outcomes.append({"step": _name(job), "ok": True, "result": _short(value),
                                 "seconds": round(time.perf_counter() - started, 1)})  # fmt: skip
                log.info("job step done step=%s day=%s result=%s", _name(job), day, _short(value))
        if index is not None:
            started = time.perf_counter()
            try:
                value = index()
            except Exception as e:
                log.exception("job step failed step=index day=%s", day)
                failed.append("index")
                outcomes.append({"step": "index", "ok": False, "error": f"{type(e).__name__}: {e}"[:500]})
            else:
                outcomes.append({"step": "index", "ok": True, "result": _short(value),
                                 "seconds": round(time.perf_counter() - started, 1)})  # fmt: skip
        if failed:
            raise JobsFailed(f"failed steps: {', '.join(failed)}", json.dumps({"failed": failed, "steps": outcomes}))
        return outcomes

    return run_once(engine, daily_run_key(day), body, holder=holder, lease_seconds=lease_seconds,
                    describe=lambda steps: json.dumps({"steps": steps}))  # fmt: skip


def _short(value: Any) -> str | None:
    if value is None:
        return None
    as_dict = getattr(value, "as_dict", None)
    text = json.dumps(as_dict(), default=str) if callable(as_dict) else str(value)
    return text[:500]


def search_index_step(engine: Engine, settings: Settings, embedder: Callable[[], Any] | None = None) -> Callable[[], dict]:
    """The indexing step after an ingest: :func:`paperboy.search.indexer.update_indexes`, the same
    steps as ``paperboy index``."""
    if embedder is None:
        from paperboy.search.embed import embedder_loader

        embedder = embedder_loader(settings)

    def index() -> dict:
        from paperboy.search.indexer import update_indexes

        run = update_indexes(engine, settings.data_dir, embedder)
        return {"keyword_papers": run.keyword_papers, "embedded": run.embedding.embedded,
                "up_to_date": run.embedding.up_to_date, "graph": run.graph}  # fmt: skip

    index.__name__ = "index"
    return index


def embed_new_papers_step(engine: Engine, embedder: Callable[[], Any], data_dir=None) -> Callable[[], dict]:
    """Embed papers that have no vector yet (:func:`paperboy.search.indexer.embed_new`): what the
    worker does between daily runs, so papers from an import, a manual ingest or a submission get
    their vectors within a minute (keyword search sees them at once already)."""

    def embed_new() -> dict:
        from paperboy.search.indexer import embed_new

        report, _ = embed_new(engine, embedder(), data_dir)
        return {"embedded": report.embedded, "up_to_date": report.up_to_date}

    embed_new.__name__ = "embed-new"
    return embed_new


class Retries:
    """This worker's bookkeeping of keyed runs (the daily run, the first runs, the digests): per key,
    how many times it tried and when to look again, so a failed run is tried again later (a few
    times, not at every pass), a run another worker holds is looked at again when that worker's
    lease would run out (it may have crashed), and a run done by anyone is left alone.

    The state lives in this worker only; which run happens once across workers is the lease's job
    (:func:`~paperboy.jobs.leases.run_once`)."""

    def __init__(self, engine: Engine, *, max_attempts: int, retry_delay: float, clock: Callable[[], dt.datetime]):
        self.engine, self.max_attempts, self.retry_delay, self.clock = engine, max_attempts, retry_delay, clock
        self.attempts: dict[str, int] = {}
        self.retry_at: dict[str, dt.datetime] = {}

    def run(self, key: str, leased: Callable[[], RunResult], current: dt.datetime) -> RunResult | None:
        """``leased()`` (the body of ``key`` run under its lease) unless this worker has given up on
        ``key`` or it is not yet time to try it again; ``None`` when it did not run."""
        tries = self.attempts.get(key, 0)
        if tries >= self.max_attempts or current < self.retry_at.get(key, current):
            return None
        self.attempts[key] = tries + 1
        result = leased()
        if result.status == "failed":
            self.retry_at[key] = self.clock() + dt.timedelta(seconds=self.retry_delay)
        elif result.claimed:
            self.attempts[key] = self.max_attempts  # done: nothing more to do for this key here
        else:
            run = get_run(self.engine, key)
            if run is not None and run.status == "running":
                # Another worker has it: look again when its lease would run out (it may crash).
                self.attempts[key] = tries
                self.retry_at[key] = run.lease_until + dt.timedelta(seconds=1)
            else:
                self.attempts[key] = self.max_attempts
        return result

    def wake(self, key: str, wake: dt.datetime) -> dt.datetime:
        """``wake``, or earlier if ``key`` is to be tried again before it."""
        if key in self.retry_at and self.attempts[key] < self.max_attempts:
            return min(wake, self.retry_at[key])
        return wake


class NewPapers:
    """Embedding papers newer than this worker has seen, between daily runs: one cheap ``max(id)``
    per look, and when it grew, ``embed_new`` under a lease keyed by that id, so one worker does it.

    Unlike :class:`Retries`, a run another worker has (done or under way) counts as seen (it will
    embed them), and a failure (e.g. no model installed) pauses every look for ``retry_delay``,
    whatever the newest paper, rather than being counted per key."""

    def __init__(self, engine: Engine, embed_new: Callable[[], Any], *, holder: str, lease_seconds: float,
                 retry_delay: float, clock: Callable[[], dt.datetime]):  # fmt: skip
        self.engine, self.embed_new, self.holder, self.lease_seconds = engine, embed_new, holder, lease_seconds
        self.retry_delay, self.clock = retry_delay, clock
        self.seen_paper_id = 0  # newest paper whose embedding this worker has made sure of
        self.retry_at: dt.datetime | None = None

    def look(self) -> RunResult | None:
        """The embedding run if this worker made one now, else ``None``."""
        if self.retry_at is not None and self.clock() < self.retry_at:
            return None
        try:
            with self.engine.connect() as conn:
                newest = newest_paper_id(conn)
        except Exception:  # the database is away for a moment: look again at the next step
            log.exception("could not look for new papers")
            return None
        if newest <= self.seen_paper_id:
            return None
        result = run_once(self.engine, f"embed-new:{newest}", self.embed_new, holder=self.holder,
                          lease_seconds=self.lease_seconds, describe=lambda value: json.dumps(value))  # fmt: skip
        if result.status == "failed":
            self.retry_at = self.clock() + dt.timedelta(seconds=self.retry_delay)
        else:  # done here, or by another worker (done or under way)
            self.seen_paper_id, self.retry_at = newest, None
        return result if result.claimed else None


def run_worker(
    engine: Engine,
    settings: Settings | None = None,
    *,
    once: bool = False,
    now: Callable[[], dt.datetime] = clock.now,
    jobs: Sequence[Job] = (),
    index: Callable[[], Any] | None = None,
    holder: str | None = None,
    max_attempts: int = 3,
    stop: threading.Event | None = None,
    sleep_step: float | None = None,
    embed_new: Callable[[], Any] | None = None,
    scheduled: Sequence["Scheduled"] = (),
    first: Sequence["Scheduled"] = (),
    daily: bool = True,
    each_poll: Sequence[Callable[[], Any]] = (),
) -> list[RunResult]:
    """Run the daily jobs at the scheduled time, for ever (or one pass with ``once``).

    Each pass runs the most recent due run (:func:`latest_due_run`) unless a worker has done it —
    catching up after a late start — and then sleeps until the next scheduled time, waking every
    ``sleep_step`` seconds to notice ``stop`` and clock changes. A failed run is tried again
    ``PAPERBOY_JOB_RETRY_SECONDS`` later, ``max_attempts`` times in all by this worker
    (:class:`Retries`). ``index`` defaults to :func:`search_index_step` when ``settings`` is given.
    Between runs, every ``sleep_step`` seconds, it looks for papers newer than it has seen and, if
    there are, runs ``embed_new`` (default :func:`embed_new_papers_step`) once across workers
    (:class:`NewPapers`). ``scheduled`` adds runs at their own times (the digests): each pass runs
    what they say is due, once across workers, and wakes for the next. With ``once``: one pass
    (daily run, scheduled runs, then new papers), then return (suits cron). Returns what each
    attempt did.

    ``first`` are :class:`Scheduled` runs done before the daily run of each pass (the first run's
    backfill: it must see the empty database before any listing fills it). Without ``daily`` there
    is no daily run (``PAPERBOY_INGEST`` off). ``each_poll`` are called every pass and at every
    wake-up (every ``sleep_step`` seconds): cheap looks for work such as mail waiting in the outbox;
    their errors are logged and the loop goes on.

    The daily time, time zone and holidays, the lease, the retry delay and the polling step are the
    settings' (``PAPERBOY_DAILY_AT``… ``PAPERBOY_WORKER_POLL_SECONDS``), or their defaults without
    ``settings``: each is defined once, in :class:`~paperboy.config.Settings`; ``sleep_step`` may be
    shortened (tests).
    """
    config = settings if settings is not None else Settings()
    at, tz, holidays = config.daily_schedule()
    if settings is not None:
        from paperboy.search.embed import embedder_loader

        embedder = embedder_loader(settings)  # one model in memory for both steps
        index = index or search_index_step(engine, settings, embedder)
        embed_new = embed_new or embed_new_papers_step(engine, embedder, settings.data_dir)
    worker = _Worker(engine, config, holder=holder or default_holder(), stop=stop or threading.Event(), now=now,
                     max_attempts=max_attempts, embed_new=embed_new, each_poll=each_poll)  # fmt: skip
    sleep_step = config.worker_poll_seconds if sleep_step is None else sleep_step
    log.info("worker started holder=%s at=%s tz=%s", worker.holder, at.isoformat(), tz)
    while not worker.stop.is_set():
        current = worker.clock()
        worker.poll()
        wake = next_daily_run(current, at, tz, announcement_days_only=True, holidays=holidays).astimezone(dt.timezone.utc)
        wake = worker.run_scheduled(first, current, wake)
        if first and worker.stop.is_set():  # asked to stop during the first runs (a backfill): not the daily run too
            break
        due = latest_due_run(current, at, tz, holidays=holidays) if daily else None
        if due is not None:
            wake = worker.run_daily(due[0], jobs, index, current, wake)
        wake = worker.run_scheduled(scheduled, current, wake)
        if worker.stop.is_set():
            break
        worker.look_for_new_papers()
        worker.poll()  # mail the runs above queued goes out now, not a poll later
        if once:
            break
        worker.sleep_until(wake, sleep_step)
    log.info("worker stopped holder=%s", worker.holder)
    return worker.results


class _Worker:
    """What one pass of :func:`run_worker` does, step by step, and what this worker keeps between
    passes: its :class:`Retries`, its :class:`NewPapers` and the results it returns."""

    def __init__(self, engine: Engine, config: Settings, *, holder: str, stop: threading.Event, now: Callable[[], dt.datetime],
                 max_attempts: int, embed_new: Callable[[], Any] | None, each_poll: Sequence[Callable[[], Any]]):  # fmt: skip
        self.engine, self.holder, self.stop, self.now, self.each_poll = engine, holder, stop, now, each_poll
        self.lease_seconds = config.job_lease_seconds
        self.retries = Retries(engine, max_attempts=max_attempts, retry_delay=config.job_retry_seconds, clock=self.clock)
        self.new_papers = None if embed_new is None else NewPapers(
            engine, embed_new, holder=holder, lease_seconds=self.lease_seconds, retry_delay=config.job_retry_seconds,
            clock=self.clock)  # fmt: skip
        self.results: list[RunResult] = []

    def clock(self) -> dt.datetime:
        return self.now().astimezone(dt.timezone.utc)  # all arithmetic on instants (wall-clock differences lie on DST days)

    def poll(self) -> None:
        for step in self.each_poll:
            try:
                step()
            except Exception:  # the database or the mail server is away: look again at the next step
                log.exception("worker step failed step=%s", _name(step))

    def look_for_new_papers(self) -> None:
        if self.new_papers is not None and (result := self.new_papers.look()) is not None:
            self.results.append(result)

    def run_daily(self, day: dt.date, jobs: Sequence[Job], index: Callable[[], Any] | None, current: dt.datetime,
                  wake: dt.datetime) -> dt.datetime:  # fmt: skip
        """The daily run for ``day`` if due here; the time to wake, brought forward for its retry."""
        key = daily_run_key(day)
        leased = partial(run_daily, self.engine, day, jobs=jobs, index=index, holder=self.holder, lease_seconds=self.lease_seconds)
        if (result := self.retries.run(key, leased, current)) is not None:
            self.results.append(result)  # done by another worker too: ``--once`` says so
        return self.retries.wake(key, wake)

    def run_scheduled(self, items: Sequence[Scheduled], current: dt.datetime, wake: dt.datetime) -> dt.datetime:
        """The runs ``items`` say are due; the time to wake, brought forward for their retries and next times."""
        for extra in items:
            for key, body in extra.due(current):
                if self.stop.is_set():  # SIGTERM during the run before: start nothing new
                    break
                leased = partial(run_once, self.engine, key, body, holder=self.holder, lease_seconds=self.lease_seconds,
                                 describe=_short)  # fmt: skip
                if (result := self.retries.run(key, leased, current)) is not None and result.claimed:
                    self.results.append(result)
                wake = self.retries.wake(key, wake)
            wake = min(wake, extra.next_at(current).astimezone(dt.timezone.utc))
        return wake

    def sleep_until(self, wake: dt.datetime, sleep_step: float) -> None:
        """Until ``wake`` or ``stop``, polling every ``sleep_step`` seconds."""
        while not self.stop.is_set() and (remaining := (wake - self.clock()).total_seconds()) > 0:
            self.stop.wait(min(remaining, sleep_step))
            if not self.stop.is_set():
                self.poll()
                self.look_for_new_papers()
