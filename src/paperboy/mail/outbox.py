"""The outbox: every mail is a database row first, and is sent later by a deliverer, once.

Why a table and not a direct SMTP call: a web request must never wait on the network, and a mail
must neither get lost when its cause commits nor be sent when its cause rolls back. So the caller
:func:`enqueue` s the mail in its own transaction, and :func:`deliver_pending` (a CLI command, a
timer, a digest run) sends what is queued.

Once per cause: each row has a unique idempotency key ("reset:42:<token-digest>",
"digest:2026-06-30:7"). Enqueueing a key twice adds nothing, so a digest run that crashed halfway
can simply be run again.

Once per row: a deliverer first *claims* rows with a conditional UPDATE (status 'sending', a lease
and a claim id) and sends only the rows that UPDATE gave it, so two deliverers never send the same
row. The lease makes a crash safe: rows left 'sending' by a dead process are taken again once their
lease expires (the holder renews it while it works, so only a dead or stuck holder loses it).

Several SMTP sessions, each reused: :func:`deliver_pending` runs ``connections`` sessions in
parallel threads; each claims a small batch, sends its mails one after the other on its one
session, and records every outcome in its own transaction *as soon as the server has answered*.

What a ``kill -9`` can repeat — the one gap no database can close on its own: a mail the SMTP server
accepted just before the process died, before its 'sent' UPDATE committed, is sent again when its
lease expires. Every other mail of the dead run's batches is either recorded as sent (not sent
again) or was never handed to the server (sent once, later). A session has at most one mail in
flight, so after a crash at most one mail per open SMTP connection can arrive twice, and it
arrives with the same Message-ID (it is derived from the row, or set by its cause: the digest's is
per subscriber and edition), so receiving systems and people can recognise the duplicate.

Outcomes: 'sent'; 'queued' again after a temporary failure (4xx, a dropped session, a timeout),
with a back-off that doubles per attempt; 'failed' when out of attempts; 'bounced' on a permanent
refusal (5xx to the recipient or the data), never retried; 'cancelled' when the mail's cause says,
at claim time, that the recipient no longer wants it (:class:`DeliveryHooks`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, fields

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from paperboy import clock
from paperboy.config import Settings
from paperboy.metrics import mail_outcome
from paperboy.mail.addresses import needs_smtputf8, normalize
from paperboy.mail.message import DkimSigner, address_of, check_header, message_bytes, sender_domain
from paperboy.mail.smtp import MailError, SmtpConnection
from paperboy.store.db import write_transaction
from paperboy.store.schema import outbox, outbox_bodies

__all__ = ["DeliveryHooks", "DeliveryReport", "deliver_pending", "enqueue", "pending_count", "status_counts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver_pending` run did.

    ``sent``: mails the SMTP server accepted. ``failed``: temporary failures (4xx, a dropped
    connection, a timeout; the row is queued again after a back-off, or marked 'failed' once out of
    attempts — ``gave_up`` counts those). ``bounced``: refused for good (5xx), never tried again.
    ``cancelled``: rows whose recipient no longer wants them (unsubscribed after they were queued).
    ``skipped``: rows another deliverer claimed first.
    """

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    bounced: int = 0
    cancelled: int = 0
    gave_up: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class DeliveryHooks:
    """What the mail's cause says about it while it is delivered (the digest's subscribers do).

    ``wanted``: of the rows just claimed, the ids still to send (the rest are cancelled).
    ``delivered`` / ``bounced``: run in the transaction that records the outcome. No-ops here:
    whoever delivers the site's mail passes the hooks of the mail above this module
    (``digest.delivery.deliver``), since mail never imports what sends it.
    """

    def wanted(self, conn: Connection, rows: list) -> set[int]:
        return {row.id for row in rows}

    def delivered(self, conn: Connection, row) -> None:
        pass

    def bounced(self, conn: Connection, row, error: str) -> None:
        pass


def enqueue(
    conn: Connection,
    *,
    key: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> bool:
    """Queue a mail in the caller's transaction; False (and nothing added) if ``key`` is already there.

    Headers are checked here (ValueError on injection), and so is the recipient (normalised by
    :mod:`paperboy.mail.addresses`: its domain in IDNA form; an address no mail can reach is an
    :class:`~paperboy.mail.addresses.AddressError`, a ValueError), so a bad mail fails its caller,
    not the deliverer hours later.
    """
    return bool(enqueue_many(conn, [dict(key=key, to=to, subject=subject, text=text, html=html, headers=headers)]))


def enqueue_many(conn: Connection, mails: list[dict]) -> set[str]:
    """Queue many mails in one statement (a digest edition's batch): each dict has :func:`enqueue`'s
    keyword arguments. Returns the keys that went in; a key already there (a rerun, a concurrent
    sender) adds nothing. Checked like :func:`enqueue`."""
    if not mails:
        return set()
    now = clock.now()
    rows, bodies = [], {}
    for m in mails:
        key = m["key"]
        if not key or len(key) > 200:
            raise ValueError("an outbox idempotency key must be 1 to 200 characters")
        to = recipient(m["to"])
        check_header("Subject", m["subject"])
        for name, value in (m.get("headers") or {}).items():
            check_header(name, value)
        rows.append(dict(idempotency_key=key, to_addr=to, subject=m["subject"], status="queued", attempts=0, created_at=now))
        bodies[key] = dict(body_text=m["text"], body_html=m.get("html"), headers=json.dumps(m["headers"]) if m.get("headers") else None)
    # INSERT … ON CONFLICT DO NOTHING … RETURNING: no error and no savepoint for a key already there
    # (with Python's sqlite3 driver a SAVEPOINT opened before any other write starts and RELEASE
    # commits the outer transaction, so the mail would outlive a caller's rollback), and RETURNING
    # says which rows went in (psycopg reports rowcount -1 for INSERT … RETURNING).
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(outbox).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(outbox.c.id, outbox.c.idempotency_key)
    added = conn.execute(stmt, rows).all() if len(rows) > 1 else conn.execute(stmt.values(**rows[0])).all()
    if added:
        conn.execute(insert(outbox_bodies), [dict(outbox_id=row_id, **bodies[key]) for row_id, key in added])
    return {key for _, key in added}


def recipient(to: str) -> str:
    """``to`` (an address, or ``Name <address>``) with its address normalised; ValueError if it is
    not exactly one address mail can be sent to. Non-ASCII local parts pass: whether they can be
    delivered depends on the server (SMTPUTF8), decided at delivery, with the reason recorded."""
    check_header("To", to)
    if "<" not in to:
        return normalize(to, smtputf8=True).address
    display, _, rest = to.rpartition("<")
    if not rest.endswith(">") or any(c in display for c in '<>@,;"'):
        raise ValueError(f"not a single e-mail address: {to!r}")
    return f"{display}<{normalize(rest[:-1], smtputf8=True).address}>"


def deliver_pending(
    engine: Engine,
    settings: Settings,
    *,
    limit: int | None = 100,
    connections: int = 1,
    lease_seconds: int | None = None,
    max_attempts: int | None = None,
    retry_seconds: int | None = None,
    key_prefix: str | None = None,
    hooks: DeliveryHooks | None = None,
    batch: int = 20,
    progress: Callable[[str], None] | None = None,
) -> DeliveryReport:
    """Send up to ``limit`` due mails (``None``: all), oldest first, over ``connections`` SMTP
    sessions in parallel, each reused for many mails.

    Each session's thread claims ``batch`` rows at a time (one conditional UPDATE: a lease and its
    claim id), then sends them one by one and records each outcome in its own transaction right
    after the server answered — so if the process dies, only the mail in flight on each session can
    be sent again (see the module docstring). Temporary failures wait
    ``retry_seconds * 2**(attempts-1)``; permanent ones (5xx) are marked bounced and never retried;
    when the server cannot be reached at all a session stops rather than fail every mail the same
    way. ``key_prefix`` restricts the run to one kind of mail ("digest:2026-06-30:"). ``progress`` is
    called with each outcome ("sent", "failed", "bounced", "cancelled"). Safe in several processes.
    Unset numbers come from the settings (``PAPERBOY_MAIL_*``).
    """
    lease_seconds = lease_seconds or settings.mail_lease_seconds
    max_attempts = max_attempts or settings.mail_max_attempts
    retry_seconds = settings.mail_retry_seconds if retry_seconds is None else retry_seconds
    hooks = hooks or DeliveryHooks()
    signer = DkimSigner.from_settings(settings)  # None when mail is not signed
    _give_up_on_abandoned(engine, max_attempts)
    budget = _Budget(limit)
    stop = threading.Event()
    writes = threading.Lock()
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []

    def session() -> None:
        try:
            reports.append(_Session(engine, settings, hooks, signer, lease_seconds, max_attempts, retry_seconds,
                                    key_prefix, batch, budget, stop, progress, writes).run())  # fmt: skip
        except BaseException as e:  # pragma: no cover - a database outage: reported by the caller
            errors.append(e)
            stop.set()

    n = max(1, min(connections, limit or connections))
    if n == 1:
        session()
    else:
        threads = [threading.Thread(target=session, name=f"smtp-{i}", daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return sum(reports, DeliveryReport())


def pending_count(engine: Engine, key_prefix: str) -> tuple[int, dt.datetime | None]:
    """(rows with ``key_prefix`` not yet final, the earliest time one of them may be taken)."""
    with engine.connect() as conn:
        count, earliest = conn.execute(
            select(func.count(), func.min(outbox.c.lease_until))
            .where(outbox.c.idempotency_key.startswith(key_prefix, autoescape=True), outbox.c.status.in_(("queued", "sending")))
        ).one()  # fmt: skip
    return count, earliest


def status_counts(conn: Connection) -> dict[str, int]:
    """Rows waiting (queued, sending) or given up (failed), by status: the mail queue as the
    metrics scrape shows it. Counted over the status index; a status with no rows is absent."""
    rows = conn.execute(select(outbox.c.status, func.count()).where(outbox.c.status.in_(("queued", "sending", "failed")))
                        .group_by(outbox.c.status))  # fmt: skip
    return dict(rows.all())


class _Budget:
    """How many more rows this run may take (shared by its sessions)."""

    def __init__(self, limit: int | None):
        self.left = limit
        self.lock = threading.Lock()

    def take(self, n: int) -> int:
        with self.lock:
            if self.left is None:
                return n
            n = min(n, self.left)
            self.left -= n
            return n

    def give_back(self, n: int) -> None:
        with self.lock:
            if self.left is not None:
                self.left += n


class _Session:
    """One SMTP session's share of a delivery run: claim a batch, send it, record each outcome."""

    def __init__(self, engine: Engine, settings: Settings, hooks, signer, lease_seconds, max_attempts, retry_seconds, key_prefix,
                 batch, budget, stop, progress, writes):  # fmt: skip
        self.engine, self.settings, self.hooks, self.signer = engine, settings, hooks, signer
        self.lease_seconds, self.max_attempts, self.retry_seconds = lease_seconds, max_attempts, retry_seconds
        self.key_prefix, self.batch, self.budget, self.stop, self.progress = key_prefix, batch, budget, stop, progress
        self.writes = writes  # one writer at a time in this process: SQLite's busy wait sleeps for milliseconds
        self.smtp = SmtpConnection(settings)
        self.sender = address_of(settings.mail_from)
        self.counts = dict(sent=0, failed=0, skipped=0, bounced=0, cancelled=0, gave_up=0)

    @contextmanager
    def _write(self):
        with self.writes, write_transaction(self.engine) as conn:
            yield conn

    def _count(self, what: str) -> None:
        self.counts[what] += 1
        mail_outcome(what)
        if self.progress is not None and what != "skipped":
            self.progress(what)

    def run(self) -> DeliveryReport:
        try:
            while not self.stop.is_set():
                want = self.budget.take(self.batch)
                if not want:
                    break
                claim, rows = self._claim(want)
                self.budget.give_back(want - len(rows))
                if not rows:
                    if claim is None:
                        break  # nothing due
                    continue
                self._send_batch(claim, rows)
        finally:
            self.smtp.close()
        return DeliveryReport(**self.counts)

    def _claim(self, n: int):
        """Take up to ``n`` due rows for this session: (claim id, rows), or (None, []) when none is due.

        The UPDATE is the lock: its WHERE re-checks that each row is due, so of two processes racing
        for a row exactly one gets it (PostgreSQL skips rows another claimer has locked). Attempts
        are counted here, not after sending, so a mail whose sending keeps killing the process still
        runs out of attempts.
        """
        now = clock.now()
        claim = uuid.uuid4().hex
        with self._write() as conn:
            query = (select(outbox.c.id).where(_due(now), outbox.c.attempts < self.max_attempts)
                     .order_by(outbox.c.created_at, outbox.c.id).limit(n))  # fmt: skip
            if self.key_prefix:
                query = query.where(outbox.c.idempotency_key.startswith(self.key_prefix, autoescape=True))
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = conn.execute(query).scalars().all()
            if not ids:
                return None, []
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids), _due(now), outbox.c.attempts < self.max_attempts)
                .values(status="sending", lease_until=now + dt.timedelta(seconds=self.lease_seconds),
                        attempts=outbox.c.attempts + 1, claimed_by=claim)
            )  # fmt: skip
            rows = conn.execute(
                select(outbox, outbox_bodies.c.body_text, outbox_bodies.c.body_html, outbox_bodies.c.headers)
                .join(outbox_bodies, outbox_bodies.c.outbox_id == outbox.c.id)
                .where(outbox.c.claimed_by == claim, outbox.c.status == "sending").order_by(outbox.c.created_at, outbox.c.id)
            ).all()  # fmt: skip
            for _ in range(len(ids) - len(rows)):
                self._count("skipped")
            wanted = self.hooks.wanted(conn, rows) if rows else set()
            unwanted = [r.id for r in rows if r.id not in wanted]
            if unwanted:
                conn.execute(update(outbox).where(outbox.c.id.in_(unwanted))
                             .values(status="cancelled", lease_until=None, claimed_by=None,
                                     last_error="not sent: the recipient no longer wants it"))  # fmt: skip
                for _ in unwanted:
                    self._count("cancelled")
        return claim, [r for r in rows if r.id in wanted]

    def _send_batch(self, claim: str, rows: list) -> None:
        lease_until = rows[0].lease_until if rows else None
        for i, row in enumerate(rows):
            if self.stop.is_set():
                self._release(claim, rows[i:])
                return
            if lease_until is not None and (lease_until - clock.now()).total_seconds() < self.lease_seconds / 2:
                lease_until = self._renew(claim)
            try:
                extra = {"Message-ID": _message_id(self.settings, row), **json.loads(row.headers or "{}")}
                to = address_of(row.to_addr)
                utf8 = needs_smtputf8(to)
                eight_bit = self.smtp.eight_bit
                if utf8:
                    self.smtp.require_smtputf8(to)
                data = message_bytes(self.settings, row.to_addr, row.subject, row.body_text, row.body_html, extra, signer=self.signer,
                                     eight_bit=eight_bit, utf8=utf8)  # fmt: skip
                self.smtp.send(self.sender, to, data, eight_bit=eight_bit and b"Transfer-Encoding: 8bit" in data, utf8=utf8)
            except MailError as e:
                if e.permanent:
                    self._bounce(claim, row, str(e))
                    continue
                self._failure(claim, row, f"{type(e).__name__}: {e}")
                if e.connection_failed:
                    self.stop.set()  # the server is away: every other mail would fail the same way
                    self._release(claim, rows[i + 1 :])
                    return
                continue
            except UnicodeError as e:  # a character that cannot go over SMTP: say so, no retry will fix it
                self._failure(claim, row, f"cannot encode the mail for SMTP ({type(e).__name__}: {e}); an address with "
                                          "non-ASCII letters before the @ needs a server with SMTPUTF8", final=True)  # fmt: skip
                continue
            except ValueError as e:  # a header that cannot be sent: no retry will fix it
                self._failure(claim, row, f"{type(e).__name__}: {e}", final=True)
                continue
            with self._write() as conn:
                conn.execute(update(outbox).where(outbox.c.id == row.id, outbox.c.claimed_by == claim)
                             .values(status="sent", sent_at=clock.now(), lease_until=None, claimed_by=None))  # fmt: skip
                self.hooks.delivered(conn, row)
            self._count("sent")

    def _renew(self, claim: str) -> dt.datetime:
        until = clock.now() + dt.timedelta(seconds=self.lease_seconds)
        with self._write() as conn:
            conn.execute(update(outbox).where(outbox.c.claimed_by == claim, outbox.c.status == "sending").values(lease_until=until))
        return until

    def _release(self, claim: str, rows: list) -> None:
        """Hand back claimed rows this session will not try (their attempt is not counted)."""
        if not rows:
            return
        with self._write() as conn:
            conn.execute(update(outbox).where(outbox.c.id.in_([r.id for r in rows]), outbox.c.claimed_by == claim)
                         .values(status="queued", lease_until=None, claimed_by=None, attempts=outbox.c.attempts - 1))  # fmt: skip
        self.budget.give_back(len(rows))

    def _bounce(self, claim: str, row, error: str) -> None:
        log.warning("mail %s (%s) refused for good: %s", row.id, row.idempotency_key, error)
        with self._write() as conn:
            moved = conn.execute(update(outbox).where(outbox.c.id == row.id, outbox.c.claimed_by == claim)
                                 .values(status="bounced", last_error=error[:2000], lease_until=None, claimed_by=None)).rowcount  # fmt: skip
            if moved:
                self.hooks.bounced(conn, row, error)
        self._count("bounced")

    def _failure(self, claim: str, row, error: str, *, final: bool = False) -> None:
        """Queue the row again after a back-off, or mark it failed once out of attempts — only while
        this claim still holds it (if its lease ran out and another deliverer took the row, that
        deliverer's outcome is the one that counts)."""
        log.warning("mail %s (%s) failed, attempt %d: %s", row.id, row.idempotency_key, row.attempts, error)
        give_up = final or row.attempts >= self.max_attempts
        retry_at = clock.now() + dt.timedelta(seconds=self.retry_seconds * 2 ** (row.attempts - 1))
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id, outbox.c.claimed_by == claim, outbox.c.status == "sending")
                .values(status="failed" if give_up else "queued", last_error=error[:2000],
                        lease_until=None if give_up else retry_at, claimed_by=None)
            )  # fmt: skip
        self._count("failed")
        if give_up:
            self._count("gave_up")


def _due(now: dt.datetime):
    """Rows nobody holds: queued ones past their back-off, and 'sending' ones whose lease ran out."""
    return and_(
        outbox.c.status.in_(("queued", "sending")),
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )


def _give_up_on_abandoned(engine: Engine, max_attempts: int) -> None:
    """Mark failed the rows whose last allowed attempt died mid-send (lease expired, no attempts left)."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.status == "sending", outbox.c.lease_until < clock.now(), outbox.c.attempts >= max_attempts)
            .values(status="failed", lease_until=None, claimed_by=None,
                    last_error="the deliverer stopped during the last attempt (lease expired)")
        )  # fmt: skip


def _message_id(settings: Settings, row) -> str:
    """The same Message-ID on every try of a row, so a duplicate (see the module docstring) is recognisable."""
    digest = hashlib.sha256(f"{row.id}:{row.idempotency_key}".encode()).hexdigest()[:32]
    return f"<{digest}@{sender_domain(settings)}>"
