"""An edition run: ``paperboy digest send`` and the worker's scheduled digest.

1. **Enqueue.** The edition's shared part is prepared once (:func:`~paperboy.digest.editions.prepare`),
   then active subscribers of the edition's frequency are taken in batches; each reader's mail is
   rendered and queued as one outbox row keyed ``digest:<edition>:<subscriber id>``, together with
   the (subscriber, paper) rows that keep later editions from repeating a paper — one transaction
   per batch. The key makes this idempotent: a rerun, or a second sender racing this one, queues
   nothing twice, and readers already queued are not even rendered again.
2. **Deliver.** The outbox delivers this edition's rows over ``PAPERBOY_SMTP_CONNECTIONS`` parallel
   SMTP sessions, each reused for many mails (:func:`~paperboy.digest.delivery.deliver`), and
   the run waits until every row of the edition is final — sent, bounced, cancelled or out of
   attempts — retrying temporary failures after their back-off, and taking over rows a crashed
   sender left once their lease runs out.

After a ``kill -9`` a rerun finishes the edition: readers not yet queued are queued, rows that were
claimed but not sent are sent, and the only mail that can arrive twice is one that was in flight
on an SMTP connection at the kill — at most one per connection, with the same Message-ID.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, select

from paperboy import clock
from paperboy.config import Settings
from paperboy.digest.compose import Renderer
from paperboy.digest.delivery import deliver
from paperboy.digest.editions import Edition, Prepared, delivered_before, picks, prepare
from paperboy.digest.subscriptions import (MAX_TRENDING, Subscriber, get_subscribers, record_bounce, subscriber_by_key,
                                           subscriber_for_user)  # fmt: skip
from paperboy.errors import NotFound
from paperboy.mail.addresses import normalize
from paperboy.mail.outbox import DeliveryReport, enqueue_many, pending_count, recipient
from paperboy.metrics import EDITIONS
from paperboy.processes import die_with_parent
from paperboy.store.db import write_transaction
from paperboy.store.schema import digest_deliveries, outbox, subscribers

__all__ = ["SendReport", "edition_key_prefix", "enqueue_edition", "preview", "send_edition"]

BATCH = 500


@dataclass
class SendReport:
    edition: str
    queued: int = 0  # outbox rows this run added
    undeliverable: int = 0  # readers whose stored address no mail can reach (disabled, with the reason)
    already_queued: int = 0  # readers a previous (or concurrent) run had queued
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    still_pending: int = 0  # rows not final when the run stopped waiting
    trending_rule: str = ""

    def as_dict(self) -> dict:
        d = self.delivery
        return {"edition": self.edition, "queued": self.queued, "already_queued": self.already_queued, "sent": d.sent,
                "retried": d.failed - d.gave_up, "failed": d.gave_up, "bounced": d.bounced, "skipped": d.cancelled + d.skipped,
                "still_pending": self.still_pending}  # fmt: skip


def edition_key_prefix(edition: Edition) -> str:
    return f"digest:{edition.key}:"


def _prepare(engine: Engine, settings: Settings, edition: Edition, search) -> tuple[Prepared, Renderer]:
    with engine.connect() as conn:
        prepared = prepare(conn, settings, edition, search=search, trending_max=MAX_TRENDING)
    return prepared, Renderer(settings, prepared)


def enqueue_edition(engine: Engine, settings: Settings, edition: Edition, *, search=None, progress: Callable[[int, int], None] | None = None,
                    prepared: tuple[Prepared, Renderer] | None = None) -> SendReport:  # fmt: skip
    """Queue the edition for every active subscriber of its frequency not queued yet (see the module)."""
    prepared, renderer = prepared or _prepare(engine, settings, edition, search)
    report = SendReport(edition.key, trending_rule=prepared.trending_rule)
    prefix = edition_key_prefix(edition)
    with engine.connect() as conn:
        queued_ids = {int(k.rsplit(":", 1)[1]) for k in conn.execute(
            select(outbox.c.idempotency_key).where(outbox.c.idempotency_key.startswith(prefix, autoescape=True))).scalars()}  # fmt: skip
        todo = [sid for sid in conn.execute(
            select(subscribers.c.id).where(subscribers.c.status == "active", subscribers.c.frequency == edition.kind)
            .order_by(subscribers.c.id)).scalars()]  # fmt: skip
    report.already_queued = sum(1 for sid in todo if sid in queued_ids)
    todo = [sid for sid in todo if sid not in queued_ids]
    total = len(todo)
    if progress is not None:
        progress(0, total)
    for start in range(0, total, BATCH):
        ids = todo[start : start + BATCH]
        with engine.connect() as conn:
            subs = get_subscribers(conn, ids)
            already = delivered_before(conn, edition, ids)
            unreachable = _unreachable(subs)
            subs = [sub for sub in subs if sub.id not in unreachable]
            mails = []
            for sub in subs:
                trending, personal = picks(conn, prepared, sub, already[sub.id])
                mails.append((sub, renderer.render(sub, trending, personal)))
        now = clock.now()
        with write_transaction(engine) as conn:
            for sub_id, why in unreachable.items():
                record_bounce(conn, sub_id, why, limit=1)
            report.undeliverable += len(unreachable)
            added = enqueue_many(conn, [dict(key=f"{prefix}{sub.id}", to=sub.email, subject=mail.subject, text=mail.text,
                                             html=mail.html, headers=mail.headers) for sub, mail in mails])  # fmt: skip
            # Only for the rows this run added: a concurrent sender that queued a reader first
            # records what its own mail holds.
            _insert_deliveries(conn, [{"subscriber_id": sub.id, "paper_id": pid, "edition": edition.key, "created_at": now}
                                      for sub, mail in mails if f"{prefix}{sub.id}" in added for pid in mail.paper_ids])  # fmt: skip
        report.queued += len(added)
        report.already_queued += len(mails) - len(added)
        if progress is not None:
            progress(len(ids), total)
    return report


def _insert_deliveries(conn: Connection, rows: list[dict]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(digest_deliveries).on_conflict_do_nothing(), rows)


def send_edition(
    engine: Engine,
    settings: Settings,
    edition: Edition,
    *,
    search=None,
    connections: int | None = None,
    wait_seconds: float | None = None,
    on_queue: Callable[[int, int], None] | None = None,
    on_outcome: Callable[[str], None] | None = None,
    separate_process: bool = True,
) -> SendReport:
    """Queue the edition and deliver it, waiting (at most ``wait_seconds``; default: long enough for
    every retry and an expired lease) until each of its rows is final. See the module.

    Rendering and delivery overlap, on both cores: this process renders and queues readers in
    batches while a delivery process (``separate_process``; else a thread) sends what is already
    queued over the SMTP sessions. The delivery process dies with this one (Linux's parent-death
    signal), so a ``kill -9`` stops both at once and the at-most-one-per-connection rule holds.
    """
    prefix = edition_key_prefix(edition)
    connections = connections or settings.smtp_connections
    if wait_seconds is None:
        wait_seconds = settings.mail_lease_seconds + sum(settings.mail_retry_seconds * 2**i for i in range(settings.mail_max_attempts)) + 60
    if separate_process:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked locks or model threads
        queued, batch_ready, outcomes = context.Event(), context.Event(), context.Queue()
        worker = context.Process(target=_delivery_process, name=f"digest-deliver:{edition.key}", daemon=True,
                                 args=(settings, prefix, connections, queued, batch_ready, outcomes, wait_seconds))  # fmt: skip
    else:
        queued, batch_ready, outcomes = threading.Event(), threading.Event(), queue.SimpleQueue()
        worker = threading.Thread(target=_delivery_worker, name=f"digest-deliver:{edition.key}", daemon=True,
                                  args=(engine, settings, prefix, connections, queued, batch_ready, outcomes, wait_seconds))  # fmt: skip
    worker.start()
    finished: dict = {}
    reader = threading.Thread(target=_read_outcomes, args=(outcomes, on_outcome, finished, worker), daemon=True)
    reader.start()

    def on_batch(done: int, total: int) -> None:
        batch_ready.set()
        if on_queue is not None:
            on_queue(done, total)

    try:
        report = enqueue_edition(engine, settings, edition, search=search, progress=on_batch)
    except BaseException:
        _stop(worker)
        raise
    finally:
        queued.set()
        batch_ready.set()
    reader.join()
    worker.join()
    if "error" in finished or "report" not in finished:
        EDITIONS.labels("failed").inc()
        raise RuntimeError(f"the delivery of edition {edition.key} failed: {finished.get('error', 'it stopped without a report')}")
    report.delivery, report.still_pending = finished["report"], finished["left"]
    EDITIONS.labels("done").inc()
    return report


def _stop(worker) -> None:
    if isinstance(worker, threading.Thread):
        return  # it sees `queued` set and stops after its current pass
    worker.kill()
    worker.join()


def _read_outcomes(outcomes, on_outcome, finished: dict, worker) -> None:
    """Pass the delivery's outcomes to ``on_outcome`` (the progress bar) until its final report."""
    while True:
        try:
            item = outcomes.get(timeout=1.0)
        except queue.Empty:
            if not worker.is_alive():
                finished["error"] = f"the delivery stopped ({getattr(worker, 'exitcode', None)})"
                return
            continue
        if isinstance(item, str):
            if on_outcome is not None:
                on_outcome(item)
        elif item[0] == "done":
            finished["report"], finished["left"] = DeliveryReport(**item[1]), item[2]
            return
        else:
            finished["error"] = item[1]
            return


def _delivery_process(settings: Settings, prefix, connections, queued, batch_ready, outcomes, wait_seconds) -> None:
    """The delivery process's body: its own engine, the same loop as the thread."""
    die_with_parent()
    from paperboy.store.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        _delivery_worker(engine, settings, prefix, connections, queued, batch_ready, outcomes, wait_seconds)
    finally:
        engine.dispose()


def _delivery_worker(engine: Engine, settings: Settings, prefix, connections, queued, batch_ready, outcomes, wait_seconds) -> None:
    """Deliver the edition's rows as they are queued; once all are queued, until each is final."""
    try:
        delivery, left = DeliveryReport(), 0
        deadline = None
        while True:
            delivery += deliver(engine, settings, limit=None, connections=connections, key_prefix=prefix, progress=outcomes.put)
            if not queued.is_set():
                batch_ready.wait(timeout=1.0)
                batch_ready.clear()
                continue
            deadline = deadline or time.monotonic() + wait_seconds
            left, earliest = pending_count(engine, prefix)
            if not left or time.monotonic() >= deadline:
                break
            # Rows backing off after a 4xx, or held by another (live or dead) sender: look again
            # when the earliest of them may be taken.
            pause = (earliest - clock.now()).total_seconds() if earliest else 1.0
            time.sleep(min(max(pause, 0.05) + 0.05, max(0.0, deadline - time.monotonic()), 5.0))
        outcomes.put(("done", dataclasses.asdict(delivery), left))
    except BaseException as e:
        outcomes.put(("error", f"{type(e).__name__}: {e}"))
        raise


def _unreachable(subs: list[Subscriber]) -> dict[int, str]:
    """{subscriber id: why} for addresses stored before addresses were checked (``a@b.c(1)``, an
    invisible character) that no mail can reach: they are disabled with the reason, instead of
    failing the edition for everyone (enqueueing refuses them)."""
    out = {}
    for sub in subs:
        try:
            recipient(sub.email)
        except ValueError as e:  # an AddressError, mostly
            out[sub.id] = f"not an address mail can be sent to: {e}"
    return out


def preview(engine: Engine, settings: Settings, edition: Edition, *, search=None, email: str | None = None, user=None):
    """The mail one reader would get (``email``'s subscription, or ``user``'s; with neither, a reader
    with the default settings), as (rendered mail, subscriber). Nothing is queued or recorded."""
    with engine.connect() as conn:
        if user is not None:
            sub = subscriber_for_user(conn, user) or _default_subscriber(settings, user.email, user_id=user.id)
        elif email:
            key = normalize(email, smtputf8=True).key  # a look-up: any address the site could have stored
            sub = subscriber_by_key(conn, key)
            if sub is None:
                raise NotFound(f"No subscriber with the address {email}.")
        else:
            sub = _default_subscriber(settings, "reader@example.org")
        prepared = prepare(conn, settings, edition, search=search, trending_max=MAX_TRENDING)
        already = delivered_before(conn, edition, [sub.id]).get(sub.id, set()) if sub.id else set()
        trending, personal = picks(conn, prepared, sub, already)
    return Renderer(settings, prepared).render(sub, trending, personal), sub


def _default_subscriber(settings: Settings, email: str, user_id: int | None = None) -> Subscriber:
    now = clock.now()
    return Subscriber(id=0, email=email, email_key=email.lower(), name=None, user_id=user_id, status="active", frequency="daily",
                      trending_count=settings.digest_trending, personal_count=settings.digest_personal, keywords="", authors="",
                      categories="", more_like_votes=False, token_version=0, bounces=0, last_error=None, created_at=now,
                      confirmed_at=now, unsubscribed_at=None)  # fmt: skip


