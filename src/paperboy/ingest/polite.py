"""Politeness towards the services Paperboy harvests from, shared by every client and process.

arXiv's terms for automated access: **one request every 3 seconds, one connection at a time, per
service**, and a User-Agent with a contact (:func:`paperboy.ingest.arxiv_api.user_agent`). Two
pieces make that hold for a whole instance, not just one process:

* :class:`SharedRateLimiter` keeps the earliest start of the next request to a service in the
  ``request_slots`` table and takes it under the database's write lock, so a worker, a
  ``paperboy ingest`` run and a second machine on the same PostgreSQL all queue behind each other.
  It offers the same ``slot()`` context manager as the per-process
  :class:`~paperboy.ingest.arxiv_api.RateLimiter`, so any client takes either.
* :func:`get_with_retries` is the retry loop: timeouts, refused connections, HTTP 429 and 5xx and
  bodies that turn out to be cut short are tried again with exponential backoff and jitter,
  waiting at least what ``Retry-After`` asks for; everything else is the caller's to judge.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy import clock
from paperboy.store.db import write_transaction
from paperboy.store.schema import request_slots

__all__ = ["SharedRateLimiter", "RetryPolicy", "get_with_retries", "retry_after_seconds"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_COURTESY = 0.05  # seconds a limiter that just had the slot lets others go first


class SharedRateLimiter:
    """One request at a time to ``service``, starts at least ``min_interval`` seconds apart, for
    every process that shares the database.

    ``slot()`` takes the service's row in ``request_slots`` inside a write transaction
    (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL; the row is created on
    first use). If its ``next_at`` lies in the future the caller sleeps — outside the transaction,
    so the lock is never held while waiting — and looks again. Otherwise it claims the slot by
    setting ``next_at`` to ``now + hold`` and the request runs; when the request finishes,
    ``next_at`` becomes ``finish + min_interval``. Holding the slot for the length of the request
    is what makes it "one connection at a time", also when a request is slower than
    ``min_interval``.

    ``hold`` bounds how long a request can keep others out: a process killed mid-request leaves
    the slot held, and the others go on once ``hold`` seconds have passed since its claim. Choose
    it above the client's longest request. Threads of one process queue on a lock before touching
    the database. Waiters poll every ``poll`` seconds while a request is in flight, then wait for
    exactly the spacing; the process whose request just finished queues a moment behind them, so
    processes take turns rather than the busiest one keeping the slot.
    """

    def __init__(
        self,
        engine: Engine,
        service: str,
        min_interval: float = 3.0,
        *,
        hold: float = 300.0,
        poll: float | None = None,
        clock: Callable[[], dt.datetime] = clock.now,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if min_interval < 0 or hold <= 0:
            raise ValueError("min_interval cannot be negative and hold must be positive")
        if not service or len(service) > 32:
            raise ValueError("service must be a name of 1 to 32 characters")
        self.engine = engine
        self.service = service
        self.min_interval = min_interval
        self.hold = max(hold, min_interval)
        self.poll = poll if poll is not None else max(0.02, min(0.5, min_interval / 2))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._released: dt.datetime | None = None  # the next_at this limiter set when it last let go

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            claimed = self._claim()
            try:
                yield
            finally:
                self._release(claimed)

    def _claim(self) -> dt.datetime:
        while True:
            with write_transaction(self.engine) as conn:
                next_at = self._locked_next_at(conn)
                now = self._clock()
                if next_at <= now:
                    held = now + dt.timedelta(seconds=self.hold)
                    self._set(conn, held)
                    return held
            wait = (next_at - now).total_seconds()
            if wait > self.min_interval:
                # A request is in flight (or a crashed one's hold runs out): look again soon.
                self._sleep(min(wait, self.poll))
            elif next_at == self._released:
                # The spacing after our own request: arrive a moment late, so that a process that
                # has been waiting meanwhile (and wakes exactly at next_at) goes first. Without it
                # the last holder wins every tie and a busy harvest starves everyone else.
                self._sleep(wait + min(self.poll, _COURTESY))
            else:
                self._sleep(wait)  # the spacing after someone else's request: exactly that

    def _release(self, claimed: dt.datetime) -> None:
        try:
            with write_transaction(self.engine) as conn:
                current = self._locked_next_at(conn)
                after = self._clock() + dt.timedelta(seconds=self.min_interval)
                # Still ours: hand the slot back. Not ours (our hold ran out and someone else took
                # it): only ever push the next start later, never earlier.
                self._released = after if current == claimed else max(current, after)
                self._set(conn, self._released)
        except Exception:
            log.exception("could not release the %s request slot; it frees itself at %s", self.service, claimed)

    def _locked_next_at(self, conn) -> dt.datetime:
        stmt = select(request_slots.c.next_at).where(request_slots.c.service == self.service).with_for_update()
        value = conn.execute(stmt).scalar()
        if value is None:
            # First use of this service: create the row, then lock it. A concurrent creator on
            # PostgreSQL makes our insert fail; its row is the one we then lock.
            try:
                with conn.begin_nested():
                    conn.execute(insert(request_slots).values(service=self.service, next_at=_EPOCH))
            except IntegrityError:
                pass
            value = conn.execute(stmt).scalar_one()
        return value

    def _set(self, conn, value: dt.datetime) -> None:
        conn.execute(update(request_slots).where(request_slots.c.service == self.service).values(next_at=value))


# --- retries -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` more tries after a transient failure, waiting ``backoff * 2**n`` seconds scaled by
    a random 0.5–1 (jitter, so clients that failed together do not return together), at most
    ``max_backoff``, or what ``Retry-After`` asks for (at most ``max_retry_after``) if longer."""

    retries: int = 2
    backoff: float = 2.0
    max_backoff: float = 60.0
    max_retry_after: float = 120.0

    def __post_init__(self):
        if self.retries < 0:
            raise ValueError("retries cannot be negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 2`` (``attempt`` counts from 0)."""
        delay = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay


def get_with_retries(
    http: httpx.Client,
    url: str,
    params: Mapping[str, str],
    *,
    handle: Callable[[int, httpx.Headers, bytes, str], T],
    unavailable: type[Exception],
    error: type[Exception],
    limiter=None,
    policy: RetryPolicy = RetryPolicy(),
    max_bytes: int = 64 * 1024 * 1024,
    sleep: Callable[[float], None] = time.sleep,
    name: str = "arXiv",
) -> T:
    """GET ``url`` politely until it gives an answer; ``handle`` turns the answer into a result.

    Each try runs inside ``limiter.slot()`` (the whole request, body included). Timeouts,
    connection errors and HTTP 429/5xx are retried; any other response goes to
    ``handle(status, headers, body, final_url)``, which returns the result or raises — an
    ``unavailable`` instance (a body cut short, say) is retried, anything else is raised at once.
    ``unavailable`` and ``error`` are the caller's exception classes, built as
    ``cls(message, status=…, url=…)``: the first for "could not get an answer" (raised after the
    last try, its message ending in "(after N tries)"), the second for a body over ``max_bytes``.
    """
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            status, headers, body, final_url = _request(http, url, params, limiter, max_bytes, error)
        except httpx.TimeoutException as e:
            failure = unavailable(f"{name} did not answer in time ({type(e).__name__})")
        except httpx.RequestError as e:
            failure = unavailable(f"could not reach {name}: {e or type(e).__name__}")
        else:
            if status == 429 or status >= 500:
                failure = unavailable(f"{name} answered HTTP {status}", status=status, url=final_url)
                retry_after = retry_after_seconds(headers.get("Retry-After"))
            else:
                try:
                    return handle(status, headers, body, final_url)
                except unavailable as e:
                    failure = e
        if attempt >= policy.retries:
            if attempt:
                message = f"{failure} (after {attempt + 1} tries)"
                if hasattr(failure, "message"):
                    failure.message = message
                failure.args = (message,)
            raise failure
        delay = policy.delay(attempt, retry_after)
        attempt += 1
        log.info("%s: %s; try %d of %d in %.1f s", name, failure, attempt + 1, policy.retries + 1, delay)
        sleep(delay)


def _request(http: httpx.Client, url, params, limiter, max_bytes: int, error) -> tuple[int, httpx.Headers, bytes, str]:
    with limiter.slot() if limiter is not None else _no_limit():
        with http.stream("GET", url, params=params) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise error(f"the response is larger than {max_bytes // 2**20} MB",
                                status=response.status_code, url=str(response.url))  # fmt: skip
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks), str(response.url)


@contextmanager
def _no_limit() -> Iterator[None]:
    yield


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number of seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - clock.now()).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
