"""The outbox: every mail is a database row first, and is sent later by a deliverer, once.

Why a table and not a direct SMTP call: a web request must never wait on the network, and a mail
must neither get lost when its cause commits nor be sent when its cause rolls back. So the caller
:func:`enqueue` s the mail in its own transaction, and :func:`deliver_pending` (a CLI command, a
timer, a digest run) sends what is queued.

Once per cause: each row has a unique idempotency key ("reset:42:<token-digest>",
"digest:2026-06-30:user:7"). Enqueueing a key twice adds nothing, so a digest run that crashed
halfway can simply be run again.

Once per row: a deliverer first *claims* a row with a conditional UPDATE (status 'sending' and a
lease) and sends only if that UPDATE changed the row, so two deliverers never send the same row.
The lease makes a crash safe: a row left 'sending' by a dead process is taken again only after
its lease expires.

The one gap, which no database can close on its own: if the process dies (or loses the database)
after the SMTP server accepted a mail but before the 'sent' UPDATE commits, the row is sent again
when its lease expires. So delivery is exactly-once except in that narrow window, where it is
at-least-once at the SMTP level. The Message-ID stays the same on every try, so receiving systems
can recognise such a duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from paperboy import clock
from paperboy.mail.message import check_address, check_header, compose, sender_domain
from paperboy.mail.smtp import MailError, send_message
from paperboy.store.db import write_transaction
from paperboy.store.schema import outbox

__all__ = ["enqueue", "deliver_pending", "DeliveryReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver_pending` run did.

    ``sent``: mails the SMTP server accepted. ``failed``: send attempts that failed (the row is
    queued again for later, or marked 'failed' once out of attempts). ``skipped``: rows another
    deliverer claimed first.
    """

    sent: int = 0
    failed: int = 0
    skipped: int = 0


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

    Headers are checked here (ValueError on injection), so a bad mail fails its caller, not the
    deliverer hours later.
    """
    if not key or len(key) > 200:
        raise ValueError("an outbox idempotency key must be 1 to 200 characters")
    check_address(to)
    check_header("Subject", subject)
    for name, value in (headers or {}).items():
        check_header(name, value)
    row = dict(
        idempotency_key=key, to_addr=to, subject=subject, body_text=text, body_html=html,
        headers=json.dumps(headers) if headers else None,
        status="queued", attempts=0, created_at=clock.now(),
    )  # fmt: skip
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        # INSERT ... ON CONFLICT DO NOTHING: no error, no savepoint. (A SAVEPOINT would be the generic
        # way, but with Python's sqlite3 driver a SAVEPOINT opened before any other write starts and
        # RELEASE commits the outer transaction, so the mail would outlive a caller's rollback.)
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(outbox).values(**row).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(outbox.c.id)
        # RETURNING says whether a row went in (psycopg reports rowcount -1 for INSERT … RETURNING)
        return conn.execute(stmt).first() is not None
    try:
        with conn.begin_nested():
            conn.execute(outbox.insert().values(**row))
    except IntegrityError:
        return False
    return True


def deliver_pending(
    engine: Engine,
    settings,
    *,
    limit: int = 100,
    lease_seconds: int = 300,
    max_attempts: int = 5,
    retry_seconds: int = 60,
    sender=send_message,
) -> DeliveryReport:
    """Send up to ``limit`` due mails, oldest first, each in its own claim-send-record cycle.

    ``lease_seconds`` must comfortably exceed how long one send can take (the SMTP timeout is 30 s
    per operation). A failed try waits ``retry_seconds * 2**(attempts-1)`` before the next, so a short
    SMTP outage does not use up a mail's ``max_attempts``; when the server cannot be reached at all,
    the run stops rather than fail every other mail the same way. Safe to run in several processes.
    """
    sent = failed = skipped = 0
    _give_up_on_abandoned(engine, max_attempts)
    now = clock.now()
    with engine.connect() as conn:
        due = conn.execute(
            select(outbox.c.id).where(_due(now), outbox.c.attempts < max_attempts)
            .order_by(outbox.c.created_at, outbox.c.id).limit(limit)
        ).scalars().all()  # fmt: skip
    for row_id in due:
        row = _claim(engine, row_id, lease_seconds, max_attempts)
        if row is None:
            skipped += 1
            continue
        try:
            extra = {"Message-ID": _message_id(settings, row), **json.loads(row.headers or "{}")}
            msg = compose(settings, row.to_addr, row.subject, row.body_text, row.body_html, extra)
            sender(settings, msg)
        except Exception as e:
            failed += 1
            log.warning("mail %s (%s) failed, attempt %d: %s", row.id, row.idempotency_key, row.attempts, e)
            _record_failure(engine, row, f"{type(e).__name__}: {e}", max_attempts, retry_seconds)
            if isinstance(e, MailError) and e.connection_failed:
                break
            continue
        with write_transaction(engine) as conn:
            conn.execute(update(outbox).where(outbox.c.id == row.id)
                         .values(status="sent", sent_at=clock.now(), lease_until=None))  # fmt: skip
        sent += 1
    return DeliveryReport(sent, failed, skipped)


def _due(now: dt.datetime):
    """Rows nobody holds: queued ones past their back-off, and 'sending' ones whose lease ran out."""
    return and_(
        outbox.c.status.in_(("queued", "sending")),
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )


def _claim(engine: Engine, row_id: int, lease_seconds: int, max_attempts: int):
    """Take the row for this process, or return None if another deliverer has it.

    The UPDATE is the lock: its WHERE re-checks that the row is due, so of two processes racing for
    it exactly one sees rowcount 1. Attempts are counted here, not after sending, so a mail whose
    sending keeps killing the process still runs out of attempts.
    """
    now = clock.now()
    with write_transaction(engine) as conn:
        claimed = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, _due(now), outbox.c.attempts < max_attempts)
            .values(status="sending", lease_until=now + dt.timedelta(seconds=lease_seconds),
                    attempts=outbox.c.attempts + 1)
        ).rowcount  # fmt: skip
        if claimed != 1:
            return None
        return conn.execute(select(outbox).where(outbox.c.id == row_id)).one()


def _record_failure(engine: Engine, row, error: str, max_attempts: int, retry_seconds: int) -> None:
    """Queue the row again after a back-off, or mark it failed once out of attempts.

    Only while we still hold the lease (same lease_until): if it ran out and another deliverer took
    the row, that deliverer's outcome is the one that counts.
    """
    give_up = row.attempts >= max_attempts
    retry_at = clock.now() + dt.timedelta(seconds=retry_seconds * 2 ** (row.attempts - 1))
    with write_transaction(engine) as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id, outbox.c.status == "sending", outbox.c.lease_until == row.lease_until)
            .values(status="failed" if give_up else "queued", last_error=error[:2000],
                    lease_until=None if give_up else retry_at)
        )  # fmt: skip


def _give_up_on_abandoned(engine: Engine, max_attempts: int) -> None:
    """Mark failed the rows whose last allowed attempt died mid-send (lease expired, no attempts left)."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.status == "sending", outbox.c.lease_until < clock.now(), outbox.c.attempts >= max_attempts)
            .values(status="failed", lease_until=None,
                    last_error="the deliverer stopped during the last attempt (lease expired)")
        )  # fmt: skip


def _message_id(settings, row) -> str:
    """The same Message-ID on every try of a row, so a duplicate (see the module docstring) is recognisable."""
    digest = hashlib.sha256(f"{row.id}:{row.idempotency_key}".encode()).hexdigest()[:32]
    return f"<{digest}@{sender_domain(settings)}>"
