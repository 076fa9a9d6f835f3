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

from sqlalchemy import Engine, func, select

from paperboy import clock
from paperboy.ingest.http import limiter_for, pace, user_agent
from paperboy.ingest.oai import OaiClient, checkpoint_key, get_checkpoint, harvest
from paperboy.jobs.scheduler import is_announcement_day
from paperboy.papers.model import PaperRecord
from paperboy.store.schema import papers

__all__ = ["BackfillPlan", "plan_backfill", "backfill", "backfill_progress", "oai_set", "needs_backfill"]

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
    the announcement evening, see ``jobs/scheduler``) and what to harvest for it."""
    today = today or clock.today()
    day, found = today, 0
    while found < days:
        if is_announcement_day(day - dt.timedelta(days=1), holidays):
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


def backfill(engine: Engine, settings, *, today: dt.date | None = None, client: OaiClient | None = None,
             progress: Callable[[int, int | None], None] | None = None) -> BackfillReport:  # fmt: skip
    """Harvest the plan for ``settings`` (resumable: a second call after a crash carries on)."""
    _, _, holidays = settings.daily_schedule()
    plan = plan_backfill(settings.categories, settings.backfill_days, today=today, holidays=holidays)
    report = BackfillReport(plan.first_day, sets=list(plan.sets))
    own = client is None
    client = client or OaiClient(settings.arxiv_oai_url, user_agent=user_agent(settings.contact_email),
                                 limiter=limiter_for(engine, "arxiv-oai", pace(settings, "arxiv-oai")))  # fmt: skip
    try:
        for set_spec in plan.sets:
            log.info("backfill: harvesting %s since %s for listing days from %s", set_spec, plan.from_date, plan.first_day)
            summary = harvest(engine, client, set_spec=set_spec, from_date=plan.from_date, keep=plan.keeps, progress=progress)
            report.new += summary.new
            report.records += summary.records
            report.pages += summary.pages
    finally:
        if own:
            client.close()
    log.info("backfill done: %s", report.as_dict())
    return report


def backfill_progress(engine: Engine, settings, *, today: dt.date | None = None) -> dict | None:
    """How far today's backfill has got (for the empty home page): records read, pages, done or not."""
    if settings.backfill_days <= 0:
        return None
    _, _, holidays = settings.daily_schedule()
    plan = plan_backfill(settings.categories, settings.backfill_days, today=today, holidays=holidays)
    points = [get_checkpoint(engine, plan.key(s)) for s in plan.sets]
    return {
        "first_day": plan.first_day,
        "categories": list(plan.categories),
        "records": sum(p.records for p in points if p),
        "pages": sum(p.pages for p in points if p),
        "started": any(points),
        "complete": all(p is not None and p.complete for p in points),
    }


def needs_backfill(engine: Engine, settings) -> bool:
    """An empty database on an instance that ingests: the first run's backfill is due."""
    if settings.backfill_days <= 0 or not settings.ingest:
        return False
    with engine.connect() as conn:
        return not conn.execute(select(func.count()).select_from(papers)).scalar()
