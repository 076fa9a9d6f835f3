"""What the outbox asks the digest while it delivers: is this mail still wanted, and what a
delivery or a bounce means for its subscriber.

Digest mail is keyed ``digest:<edition>:<subscriber id>`` (an edition), ``digest-confirm:<id>:…``
(a confirmation link) and ``digest-manage:<id>:…`` (the note to an address already subscribed).
At claim time an edition or note goes only to an *active* subscription and a confirmation only to
a *pending* one; anything else is cancelled, so an address that unsubscribed, bounced or never
confirmed is never mailed, even by a run queued before the change.

:func:`deliver` is how the site sends its outbox: the outbox's delivery with these hooks. It is
here, not in ``mail/``, because the mail layer knows nothing of the digest above it.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select

from paperboy.config import Settings
from paperboy.digest.subscriptions import record_bounce, record_delivery
from paperboy.mail.outbox import DeliveryHooks, DeliveryReport, deliver_pending
from paperboy.store.schema import subscribers

__all__ = ["DigestHooks", "deliver", "hooks", "subscriber_of"]

_WANTED = {"digest": "active", "digest-manage": "active", "digest-confirm": "pending"}


def subscriber_of(key: str) -> tuple[str, int] | None:
    """(kind, subscriber id) of a digest mail's outbox key; ``None`` for other mail."""
    kind, _, rest = key.partition(":")
    if kind not in _WANTED:
        return None
    part = rest.rsplit(":", 1)[-1] if kind == "digest" else rest.split(":", 1)[0]
    return (kind, int(part)) if part.isdigit() else None


class DigestHooks(DeliveryHooks):
    def __init__(self, bounce_limit: int):
        self.bounce_limit = bounce_limit
        self.bouncing: set[int] = set()  # subscribers of claimed rows with refusals on record

    def wanted(self, conn: Connection, rows: list) -> set[int]:
        ours = {row.id: subscriber_of(row.idempotency_key) for row in rows}
        ids = {s[1] for s in ours.values() if s}
        query = select(subscribers.c.id, subscribers.c.status, subscribers.c.bounces).where(subscribers.c.id.in_(ids))
        found = conn.execute(query).all() if ids else []
        states = {sid: status for sid, status, _ in found}
        self.bouncing.update(sid for sid, _, bounces in found if bounces)
        return {row_id for row_id, s in ours.items() if s is None or states.get(s[1]) == _WANTED[s[0]]}

    def delivered(self, conn: Connection, row) -> None:
        ours = subscriber_of(row.idempotency_key)
        if ours and ours[1] in self.bouncing:  # only then is there a count to reset (no write per mail)
            record_delivery(conn, ours[1])
            self.bouncing.discard(ours[1])

    def bounced(self, conn: Connection, row, error: str) -> None:
        ours = subscriber_of(row.idempotency_key)
        if ours:
            record_bounce(conn, ours[1], error, self.bounce_limit)


def hooks(settings: Settings) -> DigestHooks:
    return DigestHooks(settings.mail_bounce_limit)


def deliver(engine: Engine, settings: Settings, **options) -> DeliveryReport:
    """Send the due mail of every kind the site queues, the digest's included: :func:`~paperboy.mail.outbox.deliver_pending`
    (``options`` are its own) with the digest's hooks, so an unsubscribed or bounced reader is not mailed."""
    return deliver_pending(engine, settings, hooks=hooks(settings), **options)
