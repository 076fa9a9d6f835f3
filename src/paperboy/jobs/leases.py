"""Each job run happens once, however many workers are running: leases in ``job_runs``.

A run has a key ("daily-ingest:2026-06-30"). A worker *claims* it before doing the work: the claim
is a row written under the database's write lock (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR
UPDATE`` plus the primary key on PostgreSQL), so of several workers racing for a key exactly one
gets it. The claim is a lease: the holder renews it while it works and marks the run ``done`` or
``failed`` at the end.

* ``done`` is final: that run is never claimed again.
* ``running`` with a lease in the future belongs to its holder; once the lease has run out (the
  holder crashed or hangs) another worker may take the run over.
* ``failed`` may be claimed again, so a transient failure is retried by the next attempt.

A holder that lost its lease (it was taken over) can no longer renew or finish the run: its
``renew``/``finish`` return ``False``, and the new holder's outcome is the one that counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy import clock
from paperboy.store.db import write_transaction
from paperboy.store.schema import job_runs

__all__ = ["JobRun", "RunResult", "claim_run", "renew", "finish", "get_run", "run_once", "default_holder", "running_counts"]

log = logging.getLogger(__name__)

STATUSES = ("running", "done", "failed")


@dataclass(slots=True)
class JobRun:
    run_key: str
    holder: str
    lease_until: dt.datetime
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    detail: str | None


@dataclass(slots=True)
class RunResult:
    """What :func:`run_once` did: ``claimed`` False means another worker has (or had) the run."""

    run_key: str
    claimed: bool
    status: str | None = None  # done or failed, when claimed
    value: Any = None  # what the body returned
    error: str | None = None


def default_holder() -> str:
    """A name for this worker that no other process shares: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:200]


def claim_run(engine: Engine, run_key: str, holder: str, lease_seconds: float, *, now: dt.datetime | None = None) -> bool:
    """Try to become the one worker doing ``run_key``; ``True`` if this holder now has it.

    Succeeds for a new key, a ``failed`` run, a ``running`` run whose lease has expired (taken
    over), or one this holder already has (its lease is extended). ``done`` runs are never claimed.
    """
    now = now or clock.now()
    lease_until = now + dt.timedelta(seconds=lease_seconds)
    with write_transaction(engine) as conn:
        row = conn.execute(select(job_runs).where(job_runs.c.run_key == run_key).with_for_update()).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(job_runs).values(run_key=run_key, holder=holder, lease_until=lease_until,
                                                         status="running", started_at=now))  # fmt: skip
            except IntegrityError:  # PostgreSQL: another worker inserted it first
                return False
            log.info("job claimed run_key=%s holder=%s", run_key, holder)
            return True
        if row.status == "done":
            return False
        if row.status == "running" and row.holder != holder and row.lease_until > now:
            return False
        detail = row.detail
        if row.holder != holder:
            how = "expired lease" if row.status == "running" else row.status
            detail = f"taken over from {row.holder} ({how})"
            log.warning("job taken over run_key=%s from=%s (%s) holder=%s", run_key, row.holder, how, holder)
        conn.execute(
            update(job_runs)
            .where(job_runs.c.run_key == run_key)
            .values(holder=holder, lease_until=lease_until, status="running", started_at=now, finished_at=None,
                    detail=detail)  # fmt: skip
        )
        return True


def renew(engine: Engine, run_key: str, holder: str, lease_seconds: float, *, now: dt.datetime | None = None) -> bool:
    """Extend this holder's lease; ``False`` if the run is no longer this holder's to renew."""
    now = now or clock.now()
    with write_transaction(engine) as conn:
        moved = conn.execute(
            update(job_runs)
            .where(job_runs.c.run_key == run_key, job_runs.c.holder == holder, job_runs.c.status == "running")
            .values(lease_until=now + dt.timedelta(seconds=lease_seconds))
        ).rowcount
    return moved == 1


def finish(engine: Engine, run_key: str, holder: str, status: str, detail: str | None = None, *,
           now: dt.datetime | None = None) -> bool:  # fmt: skip
    """Mark the run ``done`` or ``failed``; ``False`` (and nothing written) if it is not this holder's."""
    if status not in ("done", "failed"):
        raise ValueError("status must be 'done' or 'failed'")
    now = now or clock.now()
    with write_transaction(engine) as conn:
        moved = conn.execute(
            update(job_runs)
            .where(job_runs.c.run_key == run_key, job_runs.c.holder == holder, job_runs.c.status == "running")
            .values(status=status, finished_at=now, lease_until=now, detail=detail)
        ).rowcount
    if moved != 1:
        log.warning("job result dropped run_key=%s holder=%s status=%s: the lease was lost", run_key, holder, status)
    return moved == 1


def get_run(engine: Engine, run_key: str) -> JobRun | None:
    with engine.connect() as conn:
        row = conn.execute(select(job_runs).where(job_runs.c.run_key == run_key)).first()
    if row is None:
        return None
    return JobRun(row.run_key, row.holder, row.lease_until, row.status, row.started_at, row.finished_at, row.detail)


def running_counts(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    """(runs under way, of them those whose lease ran out at ``now``): a holder that stopped
    renewing shows as expired until another worker takes the run over."""
    total, expired = conn.execute(select(func.count(), func.count().filter(job_runs.c.lease_until < now))
                                  .where(job_runs.c.status == "running")).one()  # fmt: skip
    return total, expired


def run_once(
    engine: Engine,
    run_key: str,
    body: Callable[[], Any],
    *,
    holder: str | None = None,
    lease_seconds: float,
    renew_every: float | None = None,
    describe: Callable[[Any], str | None] = lambda value: None,
) -> RunResult:
    """Claim ``run_key`` and, if this worker got it, run ``body`` while renewing the lease in the
    background (every ``renew_every`` seconds, a third of the lease by default); then mark the run
    done (``detail=describe(value)``) or failed (the exception's ``detail`` attribute if it has one,
    else its type and message). Never raises for the body's errors."""
    holder = holder or default_holder()
    if not claim_run(engine, run_key, holder, lease_seconds):
        log.info("job skipped run_key=%s: done or held by another worker", run_key)
        return RunResult(run_key, claimed=False)
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(renew_every or lease_seconds / 3):
            try:
                if not renew(engine, run_key, holder, lease_seconds):
                    log.warning("job lease lost run_key=%s holder=%s", run_key, holder)
                    return
            except Exception:
                log.exception("job lease renewal failed run_key=%s", run_key)

    renewer = threading.Thread(target=keep_alive, name=f"lease:{run_key}", daemon=True)
    renewer.start()
    try:
        value = body()
    except Exception as e:
        log.exception("job failed run_key=%s holder=%s", run_key, holder)
        error = f"{type(e).__name__}: {e}"[:2000]
        stop.set()
        renewer.join()
        finish(engine, run_key, holder, "failed", getattr(e, "detail", None) or error)
        return RunResult(run_key, claimed=True, status="failed", error=error)
    stop.set()
    renewer.join()
    finish(engine, run_key, holder, "done", describe(value))
    log.info("job done run_key=%s holder=%s", run_key, holder)
    return RunResult(run_key, claimed=True, status="done", value=value)
