"""Every request Paperboy sends to the services it harvests from, and how it behaves towards them.

arXiv's terms for automated access: **one request every 3 seconds, one connection at a time, per
service**, and a User-Agent that says who is asking (arXiv blocks anonymous or abusive clients; a
contact lets them write instead). Hugging Face gets the same manners at its own pace. So that each
client (:mod:`~paperboy.ingest.arxiv_api`, :mod:`~paperboy.ingest.oai`,
:mod:`~paperboy.ingest.listings`, :mod:`~paperboy.ingest.hf`) is polite in the same way, the pieces
live here once:

* :func:`user_agent` and :func:`make_client`: the one :class:`httpx.Client` set-up (timeout, the
  User-Agent with the deployment's contact, Accept, redirects followed, a single connection);
  :class:`ServiceClient` is the base of all four clients (arXiv API, OAI-PMH, listings, Hugging
  Face), and :func:`paperboy.ingest.clients.client_for` makes any of them from the settings.
* :class:`RateLimiter` paces one process; :class:`SharedRateLimiter` paces every process that shares
  the database (the ``request_slots`` table, one row per service), so a worker, a ``paperboy
  ingest`` run and a second machine on the same PostgreSQL all queue behind each other.
  :func:`limiter_for` is the one way to get a service's instance-wide limiter (:func:`pace`).
* :func:`get_with_retries` is the one retry loop: timeouts, refused connections, HTTP 429 and 5xx
  and bodies that turn out to be cut short are tried again with exponential backoff and jitter,
  waiting at least what ``Retry-After`` asks for.
* :class:`ServiceError` and :class:`ServiceUnavailable` are the one pair of errors every client
  raises: "the service answered, but not usably" and "no answer could be had".
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TypeVar

import httpx
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy import __version__, clock
from paperboy.config import Settings
from paperboy.store.db import write_transaction
from paperboy.store.schema import request_slots

__all__ = [
    "DEFAULT_PACE",
    "SERVICES",
    "pace",
    "RateLimiter",
    "RetryPolicy",
    "ServiceClient",
    "ServiceError",
    "ServiceUnavailable",
    "SharedRateLimiter",
    "get_with_retries",
    "limiter_for",
    "make_client",
    "retry_after_seconds",
    "user_agent",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The project's public address for the User-Agent; ``None`` leaves it out.
PROJECT_URL: str | None = None
#: The services paced instance-wide (each a row in ``request_slots``). Their paces are settings
#: (:func:`pace`); a client made without a limiter gets a private one at the settings' default pace
#: (arXiv's published rule, one request every 3 s per service, and our own restraint towards HF).
SERVICES = ("arxiv-api", "arxiv-oai", "arxiv-rss", "hf")
_DEFAULTS = Settings()
DEFAULT_PACE: dict[str, float] = {**dict.fromkeys(SERVICES[:3], _DEFAULTS.arxiv_interval), "hf": _DEFAULTS.hf_interval}
#: The largest body any client reads (a full arXiv API page of 2,000 results is ~6 MB).
MAX_BODY_BYTES = 64 * 1024 * 1024

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_COURTESY = 0.05  # seconds a limiter that just had the slot lets others go first


# --- errors --------------------------------------------------------------------------------------

class ServiceError(Exception):
    """A service gave no usable answer; ``str(error)`` names the service and says why, in words a
    person can act on.

    Raised as such, the service *did* answer — with a refusal (an HTTP 4xx, its own error document)
    or with something we will not use (a body over the size limit, XML declaring entities) — and
    asking again would get the same, so it is never retried. ``status`` and ``url`` are the
    answer's, when there was one. Services whose refusals say more have a subclass that keeps it
    (:class:`~paperboy.ingest.arxiv_api.ArxivErrorFeed`, :class:`~paperboy.ingest.oai.OaiError`).
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url


class ServiceUnavailable(ServiceError):
    """No answer could be had: a timeout, a refused connection, HTTP 429 or 5xx, a body cut short.

    :func:`get_with_retries` tries again after these; one that reaches the caller outlasted the
    retries and its message ends in "(after N tries)". A subclass of :class:`ServiceError`, so
    ``except ServiceError`` is "this source gave nothing" either way.
    """


# --- the client set-up -----------------------------------------------------------------------------

def user_agent(contact_email: str | None = None, *, project_url: str | None = PROJECT_URL) -> str:
    """A descriptive User-Agent, e.g. ``Paperboy/0.1.0 (+https://…; mailto:admin@example.org)``.

    arXiv asks automated clients to identify themselves so they can get in touch rather than
    block; the contact is the deployment's ``PAPERBOY_CONTACT_EMAIL``.
    """
    details = []
    if project_url:
        details.append(f"+{project_url}")
    contact = (contact_email or "").strip()
    if contact:
        details.append(f"mailto:{contact}")
    return f"Paperboy/{__version__}" + (f" ({'; '.join(details)})" if details else "")


def make_client(user_agent: str, *, accept: str, timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The one outbound client set-up: ``timeout`` for every phase, our User-Agent, the formats we
    read, redirects followed, and a single connection (arXiv's "one connection at a time").
    ``transport`` is for tests (``httpx.MockTransport``)."""
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": user_agent, "Accept": accept},
        follow_redirects=True,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


# --- pace ----------------------------------------------------------------------------------------

class RateLimiter:
    """One request at a time, and request *starts* at least ``min_interval`` seconds apart, in this
    process (a lock and a monotonic clock).

    A request holds the slot from start to finish, so concurrent callers queue up rather than open
    parallel connections. For a whole deployment use :class:`SharedRateLimiter`, which offers the
    same ``slot()`` context manager.
    """

    def __init__(self, min_interval: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):  # fmt: skip
        if min_interval < 0:
            raise ValueError("min_interval cannot be negative")
        self.min_interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = float("-inf")

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            wait = self._next_start - self._clock()
            if wait > 0:
                self._sleep(wait)
            self._next_start = self._clock() + self.min_interval
            yield


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

    def __init__(self, engine: Engine, service: str, min_interval: float, *, hold: float = 300.0, poll: float | None = None,
                 clock: Callable[[], dt.datetime] = clock.now, sleep: Callable[[float], None] = time.sleep):  # fmt: skip
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


def pace(settings: Settings, service: str) -> float:
    """Seconds between request starts to ``service``: ``PAPERBOY_ARXIV_INTERVAL`` for each arXiv
    service (arXiv asks for 3), ``PAPERBOY_HF_INTERVAL`` for Hugging Face (our own restraint)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    return settings.hf_interval if service == "hf" else settings.arxiv_interval


def limiter_for(engine: Engine, service: str, interval: float) -> SharedRateLimiter:
    """The instance-wide limiter of ``service`` on this database: every process of the deployment
    shares its pace (``interval`` seconds, usually :func:`pace`)."""
    return SharedRateLimiter(engine, service, interval)


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
    params: Mapping[str, str] | None = None,
    *,
    parse: Callable[[bytes], T],
    name: str,
    refused: Callable[[int, bytes], str | None] | None = None,
    limiter=None,
    policy: RetryPolicy = RetryPolicy(),
    max_bytes: int = MAX_BODY_BYTES,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """GET ``url`` politely until it gives an answer, and ``parse`` the body of a 200.

    Each try runs inside ``limiter.slot()`` (the whole request, body included). Timeouts,
    connection errors, HTTP 429/5xx and ``parse`` raising :class:`ServiceUnavailable` (a body cut
    short) are tried again as ``policy`` says; after the last try that failure is raised, its
    message ending in "(after N tries)". Any other status is a refusal, not retried:
    ``refused(status, body)`` raises the service's own error when the body carries one (arXiv's
    error feed, an OAI-PMH error) or returns words to add to "``name`` answered HTTP nnn". Any
    :class:`ServiceError` from ``parse`` or ``refused`` carries the answer's status and URL; a body
    over ``max_bytes`` is a :class:`ServiceError`.
    """
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            status, headers, body, final_url = _request(http, url, params or {}, limiter, max_bytes)
        except httpx.TimeoutException as e:
            failure = ServiceUnavailable(f"{name} did not answer in time ({type(e).__name__})")
        except httpx.RequestError as e:
            failure = ServiceUnavailable(f"could not reach {name}: {e or type(e).__name__}")
        else:
            if status == 429 or status >= 500:
                failure = ServiceUnavailable(f"{name} answered HTTP {status}", status=status, url=final_url)
                retry_after = retry_after_seconds(headers.get("Retry-After"))
            else:
                try:
                    return _judge(status, body, final_url, parse, refused, name)
                except ServiceUnavailable as e:
                    failure = e
        if attempt >= policy.retries:
            if attempt:
                failure.message = f"{failure.message} (after {attempt + 1} tries)"
                failure.args = (failure.message,)
            raise failure
        delay = policy.delay(attempt, retry_after)
        attempt += 1
        log.info("%s: %s; try %d of %d in %.1f s", name, failure, attempt + 1, policy.retries + 1, delay)
        sleep(delay)


def _judge(status: int, body: bytes, url: str, parse: Callable[[bytes], T], refused, name: str) -> T:
    """The result of an answer that is not worth retrying as such: ``parse``'s, or the refusal."""
    try:
        if status == 200:
            return parse(body)
        detail = refused(status, body) if refused else None
        raise ServiceError(f"{name} answered HTTP {status}" + (f": {detail}" if detail else ""))
    except ServiceError as e:
        e.status, e.url = status, url
        raise


def _request(http: httpx.Client, url: str, params, limiter, max_bytes: int) -> tuple[int, httpx.Headers, bytes, str]:
    with limiter.slot() if limiter is not None else _no_limit(), http.stream("GET", url, params=params) as response:
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ServiceError(f"the response is larger than {max_bytes // 2**20} MB",
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
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


# --- a client of one service ---------------------------------------------------------------------

class ServiceClient:
    """A polite client of one service, for subclasses to fill in (the arXiv API, OAI-PMH, listings
    and Hugging Face clients): the one style every source is fetched with.

    One connection with our User-Agent (:func:`make_client`; without ``user_agent``, one with no
    contact); every request through :func:`get_with_retries` with the client's ``limiter``
    (anything with a ``slot()`` context manager), retry ``policy`` (``retries`` alone replaces its
    number of retries) and :attr:`max_bytes`. Without a limiter, a client whose service has a
    :attr:`default_pace` gets a private :class:`RateLimiter` at that pace; one without (OAI-PMH)
    paces nothing: tests and one-off scripts only. The deployment's clients share the
    instance-wide limiter instead (:func:`paperboy.ingest.clients.client_for`). Subclasses set
    :attr:`name` (how messages call the service), :attr:`accept` and their defaults. Use it as a
    context manager, or call :meth:`close`.
    """

    name = "the service"
    accept = "*/*"
    max_bytes = MAX_BODY_BYTES
    default_url = ""
    default_pace: float | None = None
    timeout = 30.0
    policy = RetryPolicy()

    def __init__(
        self,
        base_url: str | None = None,
        *,
        user_agent: str | None = None,
        limiter=None,
        timeout: float | None = None,
        policy: RetryPolicy | None = None,
        retries: int | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url or self.default_url
        if limiter is None and self.default_pace is not None:
            limiter = RateLimiter(self.default_pace)
        self.limiter = limiter
        if policy is not None:
            self.policy = policy
        if retries is not None:
            self.policy = replace(self.policy, retries=retries)
        self._sleep = sleep
        self._http = make_client(user_agent or _anonymous_agent(), accept=self.accept,
                                 timeout=self.timeout if timeout is None else timeout, transport=transport)  # fmt: skip

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _get(self, params: Mapping[str, str], parse: Callable[[bytes], T], refused=None, *, path: str = "") -> T:
        """GET ``path`` under the base URL (the base itself when empty) with ``params``."""
        url = f"{self.base_url.rstrip('/')}/{path}" if path else self.base_url
        return get_with_retries(self._http, url, params, parse=parse, name=self.name, refused=refused,
                                limiter=self.limiter, policy=self.policy, max_bytes=self.max_bytes, sleep=self._sleep)  # fmt: skip


def _anonymous_agent() -> str:
    return user_agent()
