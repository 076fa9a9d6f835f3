"""The one way a fetched page of papers reaches the store, whichever source fetched it.

Every source — an OAI-PMH ``ListRecords`` page, a page of arXiv API results, a day's listing, a
day of Hugging Face's picks — ends the same way: what it read is written through
:mod:`paperboy.store.repo` in **one transaction** (:func:`store_page`), so a run killed at any
moment keeps every page it finished and nothing of the page it had not. Each source says *what*
a page does to the store (its ``apply``: plain upserts, or a listing's announce-type rules, or
HF's upvote counts); the transaction, the dry run and the resume mark are written here once:

* ``dry_run``: the page is applied exactly as it would be, then rolled back, so the counts a
  preview prints are the counts a real run would have (and no resume mark moves);
* a :class:`PageMark` (a resumable source's checkpoint after this page, ``harvest_checkpoints``)
  is written in the page's own transaction: the papers and "where to carry on" are stored together
  or not at all. A mark that moved under us (another run of the same harvest) stops this run with
  :class:`HarvestConflict` instead of interleaving.

Bulk imports of dump files (:mod:`paperboy.ingest.dumps`) are not pages of a service and keep
their own batched, parallel path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import TypeVar

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy import clock
from paperboy.papers.model import PaperRecord
from paperboy.store.db import write_transaction
from paperboy.store.repo import UpsertCounts, upsert_papers
from paperboy.store.schema import harvest_checkpoints

__all__ = [
    "Checkpoint",
    "HarvestConflict",
    "PageMark",
    "clear_checkpoint",
    "get_checkpoint",
    "store_page",
    "store_records",
]

P = TypeVar("P")
T = TypeVar("T")


class HarvestConflict(Exception):
    """Another harvest with the same parameters moved the checkpoint while this one ran: this one
    stops rather than interleave (nothing of it is lost; the other carries on)."""


@dataclass(slots=True)
class Checkpoint:
    """Where a resumable harvest stands: the token of the next page to fetch (``None`` once
    ``complete``), and the pages and records stored so far."""

    key: str
    resumption_token: str | None
    pages: int
    records: int
    complete: bool
    updated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PageMark:
    """The checkpoint to store with a page: after it, ``pages`` pages and ``records`` records are
    done and ``token`` fetches the next one (``None``: this was the last page).

    ``expected`` is ``(pages, complete)`` as the checkpoint held them when this run last looked,
    ``None`` when there was none: the write only succeeds if that is still so (compare and set), so
    two runs of one harvest cannot both advance it.
    """

    key: str
    token: str | None
    pages: int
    records: int
    expected: tuple[int, bool] | None

    def save(self, conn: Connection) -> None:
        values = {
            "resumption_token": self.token,
            "pages": self.pages,
            "records": self.records,
            "complete": self.token is None,
            "updated_at": clock.now(),
        }
        if self.expected is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(harvest_checkpoints).values(key=self.key, **values))
            except IntegrityError:
                raise _concurrent(self.key) from None
            return
        pages, complete = self.expected
        moved = conn.execute(
            update(harvest_checkpoints)
            .where(harvest_checkpoints.c.key == self.key, harvest_checkpoints.c.pages == pages,
                   harvest_checkpoints.c.complete == complete)  # fmt: skip
            .values(**values)
        ).rowcount
        if moved != 1:
            raise _concurrent(self.key)


def store_page(engine: Engine, page: P, apply: Callable[[Connection, P], T], *, dry_run: bool = False,
               mark: PageMark | None = None) -> T:  # fmt: skip
    """Apply one fetched ``page`` to the store in one transaction and return what ``apply`` counted.

    ``apply(conn, page)`` makes the source's changes through :mod:`paperboy.store.repo`. ``mark``,
    for a resumable source, is committed with them. With ``dry_run`` everything is done and rolled
    back (the mark is not even written), so the result says exactly what a real run would change.
    """
    with write_transaction(engine, dry_run=dry_run) as conn:
        result = apply(conn, page)
        if mark is not None and not dry_run:
            mark.save(conn)
        return result


def store_records(engine: Engine, records: list[PaperRecord], *, dry_run: bool = False, mark: PageMark | None = None) -> UpsertCounts:
    """:func:`store_page` for a page that is plain paper records (OAI-PMH, the arXiv API)."""
    return store_page(engine, records, upsert_papers, dry_run=dry_run, mark=mark)


def get_checkpoint(engine: Engine, key: str) -> Checkpoint | None:
    """The checkpoint stored under ``key``, or ``None`` when that harvest never stored a page."""
    with engine.connect() as conn:
        row = conn.execute(select(harvest_checkpoints).where(harvest_checkpoints.c.key == key)).first()
    if row is None:
        return None
    return Checkpoint(row.key, row.resumption_token, row.pages, row.records, bool(row.complete), row.updated_at)


def clear_checkpoint(engine: Engine, key: str) -> bool:
    """Forget where a harvest stopped (``--restart``); ``True`` if there was a checkpoint."""
    with write_transaction(engine) as conn:
        return conn.execute(delete(harvest_checkpoints).where(harvest_checkpoints.c.key == key)).rowcount > 0


def _concurrent(key: str) -> HarvestConflict:
    return HarvestConflict(
        f"the checkpoint of harvest {key} changed while this run was going: another harvest with the same "
        "parameters is running. This run stops (its last page is not stored); the other carries on."
    )


class DayReport:
    """What a day's ingest from one source reports (its ``day``, its counts, ``changed_ids``), as
    JSON-ready data: the listings' and Hugging Face's summaries share it. A mixin for slotted dataclasses."""

    __slots__ = ()

    def as_dict(self) -> dict:
        """The summary as JSON-ready data (``changed_ids`` left out: the CLI prints the first few)."""
        data = {f.name: getattr(self, f.name) for f in dataclass_fields(self) if f.name != "changed_ids"}
        return {**data, "day": self.day.isoformat()}
