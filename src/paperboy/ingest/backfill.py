"""A first run without a dump: fetch the last few announcement days, then keep up daily.

A new instance with an empty database shows nothing, and a real user has no corpus file. So the
worker (``paperboy serve`` runs one) fills the feed with the last ``PAPERBOY_BACKFILL_DAYS``
announcement days of ``PAPERBOY_DAILY_CATEGORIES`` through arXiv's OAI-PMH interface: one harvest
per archive (``cs`` for ``cs.CL`` …) of the records changed since just before the window, keeping
the papers of the wanted categories first announced within it. OAI-PMH because it is the one arXiv
interface made for this — whole sets, in pages, with v1's submission time, from which the
announcement day is estimated (``ingest.dumps.estimated_announce_day``) — and because a harvest is
resumable page by page (a killed backfill carries on where it stopped: its checkpoint is the
harvest's). After the window, the daily listings take over (``jobs/daily.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy import clock
from paperboy.config import Settings
from paperboy.ingest.clients import client_for
from paperboy.ingest.http import ServiceError
from paperboy.ingest.oai import OaiClient, OaiError, checkpoint_key, harvest
from paperboy.ingest.pages import get_checkpoint
from paperboy.papers.calendar import is_listing_day
from paperboy.papers.model import PaperRecord
from paperboy.store.db import write_transaction
from paperboy.store.schema import backfill_state, papers
from paperboy.store.versions import bump_content_version

__all__ = ["BackfillPlan", "plan_backfill", "backfill", "oai_set", "needs_backfill",
           "first_run_backfill", "first_run_state", "FirstRun", "FIRST_RUN", "BackfillInterrupted"]  # fmt: skip

log = logging.getLogger(__name__)

#: The OAI-PMH set of each arXiv archive whose categories are not a set of their own.
_PHYSICS = frozenset("astro-ph cond-mat gr-qc hep-ex hep-lat hep-ph hep-th math-ph nlin nucl-ex nucl-th physics quant-ph".split())
#: v1 of a paper announced on the window's first day was submitted at most this long before it.
_SUBMITTED_BEFORE = dt.timedelta(days=4)


def oai_set(category: str) -> str:
    """The OAI-PMH set holding ``category``: ``cs`` for cs.CL, ``physics:hep-th`` for hep-th, ``math`` for math.AG."""
    archive = category.split(".", 1)[0]
    return f"physics:{archive}" if archive in _PHYSICS else archive


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    categories: tuple[str, ...]
    first_day: dt.date  # the earliest listing day kept
    from_date: dt.date  # the OAI ``from``: records changed on or after it
    sets: tuple[str, ...]

    def keeps(self, rec: PaperRecord) -> bool:
        return bool(rec.announced and rec.announced >= self.first_day and set(rec.categories) & set(self.categories))

    def key(self, set_spec: str) -> str:
        return checkpoint_key(set_spec, "arXivRaw", self.from_date)


def plan_backfill(categories: list[str], days: int, *, today: dt.date | None = None, holidays=()) -> BackfillPlan:
    """The window of the last ``days`` listing days up to ``today`` (a listing carries the date after
    the announcement evening: :func:`~paperboy.papers.calendar.is_listing_day`) and what to harvest
    for it."""
    today = today or clock.today()
    day, found = today, 0
    while found < days:
        if is_listing_day(day, holidays):
            found += 1
        if found < days:
            day -= dt.timedelta(days=1)
    sets = tuple(dict.fromkeys(oai_set(c) for c in categories))
    return BackfillPlan(tuple(categories), day, day - _SUBMITTED_BEFORE, sets)


@dataclass(slots=True)
class BackfillReport:
    first_day: dt.date
    new: int = 0
    records: int = 0
    pages: int = 0
    sets: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"first_day": self.first_day.isoformat(), "new": self.new, "records": self.records, "pages": self.pages, "sets": self.sets}


def backfill(engine: Engine, settings: Settings, *, today: dt.date | None = None, client: OaiClient | None = None,
             progress: Callable[[int, int | None], None] | None = None, plan: BackfillPlan | None = None) -> BackfillReport:  # fmt: skip
    """Harvest the plan for ``settings`` (resumable: a second call after a crash carries on).

    An expired resumption token (arXiv's expire after a while: a rerun long after a crash) starts
    that set's harvest again from the beginning; papers already stored are a no-op to store again."""
    if plan is None:
        _, _, holidays = settings.daily_schedule()
        plan = plan_backfill(settings.categories, settings.backfill_days, today=today, holidays=holidays)
    report = BackfillReport(plan.first_day, sets=list(plan.sets))
    own = client is None
    client = client or client_for(settings, "arxiv-oai", engine)
    try:
        for set_spec in plan.sets:
            log.info("backfill: harvesting %s since %s for listing days from %s", set_spec, plan.from_date, plan.first_day)
            try:
                summary = harvest(engine, client, set_spec=set_spec, from_date=plan.from_date, keep=plan.keeps, progress=progress)
            except ServiceError as e:
                if not (isinstance(e.__cause__, OaiError) and e.__cause__.code == "badResumptionToken"):
                    raise
                log.warning("backfill: the resumption token of %s expired; harvesting it again from the start", set_spec)
                summary = harvest(engine, client, set_spec=set_spec, from_date=plan.from_date, keep=plan.keeps,
                                  progress=progress, restart=True)  # fmt: skip
            report.new += summary.new
            report.records += summary.records
            report.pages += summary.pages
    finally:
        if own:
            client.close()
    log.info("backfill done: %s", report.as_dict())
    return report


def needs_backfill(engine: Engine, settings: Settings) -> bool:
    """An empty database on an instance that ingests: the first run's backfill is due."""
    if settings.backfill_days <= 0 or not settings.ingest:
        return False
    with engine.connect() as conn:
        return not conn.execute(select(func.count()).select_from(papers)).scalar()


# --- the first run: once per instance, resumable, with progress in the database ---------------------

FIRST_RUN = "first-run"


@dataclass(frozen=True, slots=True)
class FirstRun:
    """The ``backfill_state`` row: the first run's plan and how far it has got."""

    status: str  # running, stopped (a failure: a rerun carries on), done
    first_day: dt.date
    last_day: dt.date
    from_date: dt.date
    days: int
    categories: tuple[str, ...]
    days_done: int
    papers: int
    pages: int
    updated_at: dt.datetime

    @property
    def running(self) -> bool:
        """Not finished: under way, or stopped by a failure and to be carried on."""
        return self.status != "done"

    @property
    def stopped(self) -> bool:
        return self.status == "stopped"

    def plan(self) -> BackfillPlan:
        return BackfillPlan(self.categories, self.first_day, self.from_date, tuple(dict.fromkeys(oai_set(c) for c in self.categories)))


def first_run_state(conn) -> FirstRun | None:
    """The first run's backfill as recorded (``None``: there was none), read in ``conn``."""
    row = conn.execute(select(backfill_state).where(backfill_state.c.key == FIRST_RUN)).first()
    if row is None:
        return None
    return FirstRun(row.status, row.first_day, row.last_day, row.from_date, row.days, tuple(c for c in row.categories.split(",") if c),
                    row.days_done, row.papers, row.pages, row.updated_at)  # fmt: skip


def _window_counts(conn, state: FirstRun) -> tuple[int, int]:
    """(listing days with papers, papers) of the window (the daily run may add later days meanwhile)."""
    papers_n, days_n = conn.execute(
        select(func.count(), func.count(papers.c.announced.distinct()))
        .where(papers.c.announced >= state.first_day, papers.c.announced <= state.last_day)
    ).one()
    return int(days_n or 0), int(papers_n or 0)


def _record_progress(engine: Engine, *, pages: int | None = None, status: str | None = None) -> FirstRun | None:
    """Count what the window holds now and store it in the row (the content version moves with it,
    so the cached empty page that shows the progress is redone)."""
    now = clock.now()
    with write_transaction(engine) as conn:
        state = first_run_state(conn)
        if state is None:
            return None
        days_done, n = _window_counts(conn, state)
        values = {"days_done": min(days_done, state.days), "papers": n, "updated_at": now}
        if pages is not None:
            values["pages"] = pages
        if status is not None:
            values["status"] = status
            values["finished_at"] = now if status != "running" else None
        conn.execute(update(backfill_state).where(backfill_state.c.key == FIRST_RUN).values(**values))
        bump_content_version(conn)
        return first_run_state(conn)


def _start(engine: Engine, settings: Settings, today: dt.date) -> FirstRun | None:
    """The recorded first run, or a new one if the database is empty (``None``: nothing to do)."""
    with engine.connect() as conn:
        state = first_run_state(conn)
    if state is not None:
        return state
    if not needs_backfill(engine, settings):
        return None
    _, _, holidays = settings.daily_schedule()
    plan = plan_backfill(settings.categories, settings.backfill_days, today=today, holidays=holidays)
    now = clock.now()
    try:
        with write_transaction(engine) as conn:
            conn.execute(insert(backfill_state).values(
                key=FIRST_RUN, status="running", first_day=plan.first_day, last_day=today, from_date=plan.from_date,
                days=settings.backfill_days, categories=",".join(plan.categories), started_at=now, updated_at=now))  # fmt: skip
            bump_content_version(conn)
    except IntegrityError:  # another worker recorded it first
        pass
    with engine.connect() as conn:
        return first_run_state(conn)


class BackfillInterrupted(RuntimeError):
    """The worker was asked to stop: the backfill stopped after a page (a rerun carries on)."""


def first_run_backfill(engine: Engine, settings: Settings, *, today: dt.date | None = None, client: OaiClient | None = None,
                       stop=None) -> dict | None:  # fmt: skip
    """The first run's backfill (the worker runs it under a lease, see ``jobs/daily.py``).

    On an empty database of an instance that ingests (``PAPERBOY_INGEST``, ``PAPERBOY_BACKFILL_DAYS``
    > 0), records the plan in ``backfill_state`` and harvests it; a database that already has papers
    (an import) and no such row is left alone. A rerun after a crash or a failure (arXiv away) takes
    the recorded plan and carries on where the harvests stopped; a finished one is a no-op. ``stop``
    (an event) set ends it after the page being stored (:class:`BackfillInterrupted`). Returns
    what was done (``None``: nothing to do)."""
    if not settings.ingest or settings.backfill_days <= 0:  # --no-backfill: not even an unfinished one
        return None
    state = _start(engine, settings, today or clock.today())
    if state is None or not state.running:
        return None
    plan = state.plan()
    log.info("backfill: fetching the last %d announcement days (listings from %s) of %s from arXiv",
             state.days, plan.first_day, ",".join(plan.categories))  # fmt: skip
    def pages_read(set_spec: str) -> int:
        point = get_checkpoint(engine, plan.key(set_spec))
        return point.pages if point is not None else 0

    pages = {s: pages_read(s) for s in plan.sets}
    current: list[str] = []

    def progress(records: int, total: int | None) -> None:
        pages[current[0]] = pages_read(current[0])
        now = _record_progress(engine, pages=sum(pages.values()))
        if now is not None:
            log.info("backfill: %d of %d days, %s papers so far (%s: %d records read)", now.days_done, now.days,
                     f"{now.papers:,}", current[0], records)  # fmt: skip
        if stop is not None and stop.is_set():
            raise BackfillInterrupted("the worker is stopping; the backfill carries on at its next start")

    report = BackfillReport(plan.first_day, sets=list(plan.sets))
    if state.stopped:
        _record_progress(engine, status="running")
    try:
        for set_spec in plan.sets:
            point = get_checkpoint(engine, plan.key(set_spec))
            if point is not None and point.complete:  # harvested before a crash in a later set
                continue
            current[:] = [set_spec]
            part = backfill(engine, settings, client=client, progress=progress,
                            plan=BackfillPlan(plan.categories, plan.first_day, plan.from_date, (set_spec,)))  # fmt: skip
            report.new += part.new
            report.records += part.records
            report.pages += part.pages
    except BackfillInterrupted:
        raise  # the site is going down with its worker: carried on at the next start
    except Exception:
        try:  # the page says it stopped (the worker tries again later), not that it is fetching
            _record_progress(engine, status="stopped")
        except Exception:
            log.exception("backfill: could not record that it stopped")
        raise
    done = _record_progress(engine, status="done")
    log.info("backfill finished: %d of %d days, %s papers", done.days_done, done.days, f"{done.papers:,}")
    return {**report.as_dict(), "days_done": done.days_done, "papers": done.papers}
