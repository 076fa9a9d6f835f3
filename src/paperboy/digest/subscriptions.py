"""What subscribing, confirming, changing preferences and unsubscribing *do*.

Each action is one function over a connection in the caller's write transaction, raising a
:class:`~paperboy.errors.DomainError` when it refuses, with every check made before anything is
written (rate-limit counts excepted, see ``paperboy.errors``). Pages, the CLI and the delivery
hooks call the same functions.

Double opt-in: a new address gets a *pending* row and one mail, its confirmation link; nothing else
is ever queued for it until the link is clicked (editions select active rows only, and the
deliverer re-checks at send time). :func:`subscribe` answers the same whatever the address's
state — new, pending, active, unsubscribed — so the form cannot be used to learn who subscribes.

Accounts: an account is tied to the subscription of its address only once it has *verified* the
address (accounts/verification.py) — before that it can neither see nor change that
subscription, nor subscribe through the account, and the row is never linked to it. Addresses are
normalised by :mod:`paperboy.mail.addresses` (one mailbox, one key, one rate limit).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field, fields
from urllib.parse import quote

from sqlalchemy import Connection, Engine, func, insert, select, update

from paperboy import clock
from paperboy.accounts import ratelimit
from paperboy.accounts.verification import require_verified
from paperboy.config import Settings
from paperboy.digest.tokens import TokenInvalid, fingerprint, make_confirm_token, make_manage_token, read_confirm_token, read_manage_token
from paperboy.errors import Invalid, NotFound
from paperboy.mail.addresses import normalize
from paperboy.papers.normalize import ARXIV_ARCHIVES, ARXIV_CATEGORY
from paperboy.store.db import write_transaction
from paperboy.store.schema import digest_deliveries, outbox, subscribers

__all__ = [
    "FREQUENCIES",
    "MAX_PERSONAL",
    "MAX_TRENDING",
    "ImportReport",
    "Preferences",
    "Subscriber",
    "confirm",
    "export_subscribers",
    "import_subscribers",
    "get_subscriber",
    "get_subscribers",
    "manage_url",
    "record_bounce",
    "subscribe",
    "subscriber_by_key",
    "subscriber_for_token",
    "subscriber_for_user",
    "subscriber_stats",
    "unsubscribe",
    "update_preferences",
]  # fmt: skip

FREQUENCIES = ("daily", "weekly")
MAX_TRENDING = 30
MAX_PERSONAL = 20
MAX_INTERESTS = 10  # keywords, authors, categories: at most this many of each
STATUSES = ("pending", "active", "unsubscribed", "bounced")


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    email_key: str
    name: str | None
    user_id: int | None
    status: str
    frequency: str
    trending_count: int
    personal_count: int
    keywords: str
    authors: str
    categories: str
    more_like_votes: bool
    token_version: int
    bounces: int
    last_error: str | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    unsubscribed_at: dt.datetime | None

    @property
    def keyword_list(self) -> list[str]:
        return [k for k in self.keywords.splitlines() if k.strip()]

    @property
    def author_list(self) -> list[str]:
        return [a for a in self.authors.splitlines() if a.strip()]

    @property
    def category_list(self) -> list[str]:
        return self.categories.split()


_COLUMNS = [f.name for f in fields(Subscriber)]


def _subscriber(row) -> Subscriber:
    return Subscriber(**{name: row._mapping[name] for name in _COLUMNS})


def _get(conn: Connection, condition) -> Subscriber | None:
    row = conn.execute(select(*(subscribers.c[n] for n in _COLUMNS)).where(condition)).first()
    return _subscriber(row) if row is not None else None


def get_subscriber(conn: Connection, subscriber_id: int) -> Subscriber | None:
    return _get(conn, subscribers.c.id == subscriber_id)


def subscriber_by_key(conn: Connection, email_key: str) -> Subscriber | None:
    """The subscription of a mailbox key (see :func:`normalize_email`), whatever its status."""
    return _get(conn, subscribers.c.email_key == email_key)


def get_subscribers(conn: Connection, ids: list[int]) -> list[Subscriber]:
    """These subscribers, by id: one query for a batch of a digest run."""
    rows = conn.execute(select(*(subscribers.c[n] for n in _COLUMNS)).where(subscribers.c.id.in_(ids)).order_by(subscribers.c.id))
    return [_subscriber(r) for r in rows]


def normalize_email(email: str, *, smtputf8: bool = False) -> tuple[str, str]:
    """(the address mail goes to, its mailbox key) or :class:`~paperboy.mail.addresses.AddressError`."""
    box = normalize(email, smtputf8=smtputf8)
    return box.address, box.key


def manage_url(settings: Settings, sub: Subscriber) -> str:
    return f"{settings.base_url}/digest/preferences/{quote(make_manage_token(settings.secret_key, sub))}"


def unsubscribe_url(settings: Settings, sub: Subscriber) -> str:
    return f"{settings.base_url}/digest/unsubscribe/{quote(make_manage_token(settings.secret_key, sub))}"


# --- subscribing ---------------------------------------------------------------------------

def subscribe(conn: Connection, settings: Settings, *, email: str | None = None, ip: str, user=None, name: str | None = None) -> str | None:
    """Ask for the digest at ``email`` (or, for a logged-in ``user``, the account's address).

    Queues at most one mail: a confirmation link for a new, pending or unsubscribed address; for an
    address that is already confirmed, a note with its preferences link (so a reader who lost it
    gets it back). Returns the outbox key of what was queued (the caller delivers it at once), or
    ``None`` — callers answer the same either way. Limited per client address (the only refusal
    anyone sees) and, silently, per mailbox, so nobody can flood an inbox through the form.
    """
    if user is not None:
        require_verified(user)
    address, key = normalize_email(user.email if user is not None else email, smtputf8=settings.smtp_utf8)
    ratelimit.enforce(conn, "digest-subscribe-ip", ip)
    if not ratelimit.hit(conn, "digest-subscribe-address", key).allowed:
        return None
    now = clock.now()
    sub = subscriber_by_key(conn, key)
    if sub is None:
        sub_id = conn.execute(insert(subscribers).values(
            email=address, email_key=key, name=(name or None) and name.strip()[:200], status="pending",
            frequency="daily", trending_count=settings.digest_trending, personal_count=settings.digest_personal,
            created_at=now,
        ).returning(subscribers.c.id)).scalar_one()  # fmt: skip
        sub = get_subscriber(conn, sub_id)
    if user is not None:
        link_verified_account(conn, user)
    if sub.status == "active":
        return _queue_manage_note(conn, settings, sub)
    if sub.status != "pending":
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(status="pending"))
        sub = get_subscriber(conn, sub.id)
    return queue_confirmation(conn, settings, sub)


def queue_confirmation(conn: Connection, settings: Settings, sub: Subscriber) -> str:
    from paperboy.mail.outbox import enqueue

    token = make_confirm_token(settings.secret_key, sub)
    link = f"{settings.base_url}/digest/confirm/{quote(token)}"
    key = f"digest-confirm:{sub.id}:{hashlib.sha256(token.encode()).hexdigest()[:24]}"
    hours = settings.digest_confirm_hours
    enqueue(
        conn, key=key, to=sub.email, subject="Confirm your Paperboy digest subscription",
        text=(
            "Hello,\n\nSomeone (hopefully you) asked for Paperboy's digest of trending research papers at this "
            f"address. To start getting it, confirm within {hours} hours:\n\n{link}\n\n"
            "If you didn't ask for it, ignore this mail: you will not hear from us again.\n"
        ),
    )  # fmt: skip
    return key


def _queue_manage_note(conn: Connection, settings: Settings, sub: Subscriber) -> str:
    from paperboy.mail.outbox import enqueue

    token = make_manage_token(settings.secret_key, sub)
    key = f"digest-manage:{sub.id}:{hashlib.sha256((token + clock.now().isoformat()).encode()).hexdigest()[:24]}"
    enqueue(
        conn, key=key, to=sub.email, subject="Your Paperboy digest subscription",
        text=(
            "Hello,\n\nSomeone (hopefully you) asked to subscribe this address to Paperboy's digest. It is "
            f"subscribed already. Change what you get, or unsubscribe, here:\n\n{manage_url(settings, sub)}\n"
        ),
    )  # fmt: skip
    return key


def _by_token(conn: Connection, sub_id: int, print_: str) -> Subscriber:
    sub = get_subscriber(conn, sub_id)
    if sub is None or fingerprint(sub.id, sub.email_key, sub.token_version) != print_:
        raise TokenInvalid("This link is no longer valid. Subscribe again to get a new one.")
    return sub


def confirm(conn: Connection, settings: Settings, token: str) -> Subscriber:
    """Confirm the subscription a mailed link is for: from now on editions go to it. Clicking
    again changes nothing; the click also proves the mailbox works, so bounces are forgotten."""
    sub = _by_token(conn, *read_confirm_token(settings.secret_key, token, max_age=settings.digest_confirm_hours * 3600))
    if sub.status != "active":
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id)
                     .values(status="active", confirmed_at=clock.now(), unsubscribed_at=None, bounces=0, last_error=None))  # fmt: skip
        sub = get_subscriber(conn, sub.id)
    return sub


def subscriber_for_token(conn: Connection, secret: str, token: str) -> Subscriber:
    """The subscription a manage/unsubscribe link is for, or :class:`TokenInvalid`."""
    return _by_token(conn, *read_manage_token(secret, token))


def subscriber_for_user(conn: Connection, user) -> Subscriber | None:
    """The account's subscription: the row of its address, once the account has verified that
    address (``None`` before: an account made with somebody's address must not see theirs)."""
    return _get(conn, subscribers.c.email_key == user.email_key) if user.verified else None


def link_verified_account(conn: Connection, user) -> None:
    """Tie the subscription of a verified account's address to the account (its "more like my
    upvotes" follows that account's votes), and no other row to it. An earlier link of the row to
    another account is replaced: only the account that proved the mailbox may hold it."""
    require_verified(user)
    conn.execute(update(subscribers).where(subscribers.c.user_id == user.id, subscribers.c.email_key != user.email_key)
                 .values(user_id=None))  # fmt: skip
    conn.execute(update(subscribers).where(subscribers.c.email_key == user.email_key).values(user_id=user.id))


# --- preferences -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Preferences:
    """What a reader chose. The counts have no defaults here: a new subscriber's come from the
    settings (``PAPERBOY_DIGEST_TRENDING``/``_PERSONAL``), a form's from the form."""

    trending_count: int
    personal_count: int
    frequency: str = "daily"
    keywords: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    more_like_votes: bool = False

    @classmethod
    def from_form(cls, form: dict) -> Preferences:
        """From a submitted form's strings (numbers checked by :func:`check_preferences`)."""

        def number(name: str) -> int:
            raw = (form.get(name) or "").strip()
            if not raw.isdigit():
                raise Invalid(f"{name.replace('_count', '').capitalize()} papers must be a whole number.")
            return int(raw)

        return cls(
            frequency=(form.get("frequency") or "").strip(),
            trending_count=number("trending_count"),
            personal_count=number("personal_count"),
            keywords=_lines(form.get("keywords", "")),
            authors=_lines(form.get("authors", "")),
            categories=(form.get("categories") or "").replace(",", " ").split(),
            more_like_votes=form.get("more_like_votes") in ("1", "on", "true"),
        )


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in (text or "").splitlines() if line.strip()]


def check_preferences(prefs: Preferences) -> Preferences:
    if prefs.frequency not in FREQUENCIES:
        raise Invalid("Choose daily or weekly.")
    if not 1 <= prefs.trending_count <= MAX_TRENDING:
        raise Invalid(f"Trending papers: choose 1 to {MAX_TRENDING}.")
    if not 0 <= prefs.personal_count <= MAX_PERSONAL:
        raise Invalid(f"Personal picks: choose 0 to {MAX_PERSONAL}.")
    for label, items in (("keywords", prefs.keywords), ("authors", prefs.authors), ("categories", prefs.categories)):
        if len(items) > MAX_INTERESTS:
            raise Invalid(f"At most {MAX_INTERESTS} {label}.")
        if any(len(item) > 100 for item in items):
            raise Invalid(f"Each of your {label} can be at most 100 characters.")
    bad = [c for c in prefs.categories if not ARXIV_CATEGORY.fullmatch(c) or c.split('.')[0] not in ARXIV_ARCHIVES]
    if bad:
        raise Invalid(f"Not an arXiv category: {bad[0]} (categories look like cs.CL or math.PR).")
    return prefs


def update_preferences(conn: Connection, sub: Subscriber, prefs: Preferences, *, user=None) -> Subscriber:
    """Store ``prefs`` for ``sub`` (reached by its manage link, or by its own logged-in account).

    "More like the papers I upvoted" needs an account: it stays off for a subscription that is not
    linked to one. Limited per subscription.
    """
    check_preferences(prefs)
    if user is not None:
        require_verified(user)
        if sub.email_key != user.email_key:
            raise Invalid("This subscription is for another address than your account's.")
    ratelimit.enforce(conn, "digest-preferences", str(sub.id))
    linked = sub.user_id is not None or user is not None
    values = dict(frequency=prefs.frequency, trending_count=prefs.trending_count, personal_count=prefs.personal_count,
                  keywords="\n".join(prefs.keywords), authors="\n".join(prefs.authors),
                  categories=" ".join(dict.fromkeys(prefs.categories)), more_like_votes=prefs.more_like_votes and linked)  # fmt: skip
    conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(**values))
    if user is not None:
        link_verified_account(conn, user)
    return get_subscriber(conn, sub.id)


def settings_for_user(conn: Connection, settings: Settings, user, prefs: Preferences) -> Subscriber:
    """A logged-in reader's preferences form: their subscription's, or — with none yet — a pending
    one for the account's address whose confirmation mail is queued (double opt-in still holds).
    Only for an account that has verified its address."""
    require_verified(user)
    check_preferences(prefs)
    sub = subscriber_for_user(conn, user)
    if sub is None:
        raise NotFound("You have no digest subscription yet: subscribe first.")
    return update_preferences(conn, sub, prefs, user=user)


def unsubscribe(conn: Connection, sub: Subscriber) -> Subscriber:
    """Stop every mail to ``sub`` at once (queued editions are cancelled at send time).

    Not rate-limited, on purpose: it must always work (RFC 8058 one-click), it is reached only by a
    signed link or the reader's own session, and doing it twice changes nothing.
    """
    if sub.status != "unsubscribed":
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(status="unsubscribed", unsubscribed_at=clock.now()))
    return get_subscriber(conn, sub.id)


def resubscribe(conn: Connection, sub: Subscriber) -> Subscriber:
    """Undo an unsubscribe from the same manage link (the address was confirmed before)."""
    if sub.status == "unsubscribed" and sub.confirmed_at is not None:
        ratelimit.enforce(conn, "digest-preferences", str(sub.id))
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(status="active", unsubscribed_at=None))
    return get_subscriber(conn, sub.id)


# --- bounces (called by the deliverer, see digest/delivery.py) ---------------------------------

def record_bounce(conn: Connection, subscriber_id: int, error: str, limit: int) -> None:
    """A permanent refusal of the address: count it, and disable the address at ``limit``."""
    conn.execute(
        update(subscribers).where(subscribers.c.id == subscriber_id)
        .values(bounces=subscribers.c.bounces + 1, last_error=error[:500])
    )  # fmt: skip
    conn.execute(
        update(subscribers).where(subscribers.c.id == subscriber_id, subscribers.c.bounces >= limit,
                                  subscribers.c.status.in_(("active", "pending")))
        .values(status="bounced")
    )  # fmt: skip


def record_delivery(conn: Connection, subscriber_id: int) -> None:
    """A mail got through: earlier refusals were passing (bounces count refusals in a row)."""
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id, subscribers.c.bounces > 0).values(bounces=0))


# --- admin: import, export, statistics ---------------------------------------------------------

@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0  # already there: frequency/name taken from the file, state kept (never re-activated)
    confirmations: int = 0  # confirmation mails queued (without --confirmed)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


def parse_subscriber_csv(text: str, *, smtputf8: bool = False) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """Rows of a CSV with a header naming its columns (``email`` required; ``name``, ``frequency``
    optional): ([(line number, row)], [(line number, why it was skipped)])."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise Invalid("The first line must name the columns, one of them 'email' (optional: name, frequency).")
    unknown = [h for h in header if h not in ("email", "name", "frequency")]
    if unknown:
        raise Invalid(f"Unknown column {unknown[0]!r}: the columns are email, name and frequency.")
    reader.fieldnames = header
    good, bad, seen = [], [], set()
    for record in reader:
        line = reader.line_num
        if None in record:
            bad.append((line, "more fields than the header has"))
            continue
        try:
            email, key = normalize_email(record.get("email") or "", smtputf8=smtputf8)
        except Invalid as e:
            bad.append((line, f"not an e-mail address: {(record.get('email') or '').strip()[:80]!r} ({e})"))
            continue
        frequency = (record.get("frequency") or "daily").strip().lower() or "daily"
        if frequency not in FREQUENCIES:
            bad.append((line, f"frequency must be daily or weekly, not {frequency[:20]!r}"))
            continue
        if key in seen:
            bad.append((line, f"{email} is already on an earlier line"))
            continue
        seen.add(key)
        good.append((line, {"email": email, "email_key": key, "name": (record.get("name") or "").strip()[:200] or None,
                            "frequency": frequency}))  # fmt: skip
    return good, bad


def import_subscribers(engine: Engine, settings: Settings, text: str, *, confirmed: bool, batch: int = 1000, progress=None) -> ImportReport:
    """Add the CSV's addresses. With ``confirmed`` (a list moved from another service, already
    opted in) they are active at once; otherwise each new one is pending and gets a confirmation
    mail. Existing subscriptions keep their state. Bad rows are reported by line and skipped; a
    rerun adds nothing twice (one transaction per ``batch`` rows, keyed by address)."""
    good, bad = parse_subscriber_csv(text, smtputf8=settings.smtp_utf8)
    report = ImportReport(bad=bad)
    now = clock.now()
    for start in range(0, len(good), batch):
        chunk = good[start : start + batch]
        with write_transaction(engine) as conn:
            existing = dict(conn.execute(select(subscribers.c.email_key, subscribers.c.id)
                                         .where(subscribers.c.email_key.in_([r["email_key"] for _, r in chunk]))).all())  # fmt: skip
            new = [r for _, r in chunk if r["email_key"] not in existing]
            for _, r in chunk:
                if r["email_key"] in existing:
                    values = {"frequency": r["frequency"], **({"name": r["name"]} if r["name"] else {})}
                    conn.execute(update(subscribers).where(subscribers.c.id == existing[r["email_key"]]).values(**values))
                    report.updated += 1
            if new:
                conn.execute(insert(subscribers), [dict(
                    r, status="active" if confirmed else "pending", trending_count=settings.digest_trending,
                    personal_count=settings.digest_personal, created_at=now, confirmed_at=now if confirmed else None,
                ) for r in new])  # fmt: skip
                report.added += len(new)
                if not confirmed:
                    for sub_id in conn.execute(select(subscribers.c.id).where(subscribers.c.email_key.in_([r["email_key"] for r in new]))).scalars():
                        queue_confirmation(conn, settings, get_subscriber(conn, sub_id))
                        report.confirmations += 1
        if progress is not None:
            progress(len(chunk))
    return report


def export_subscribers(conn: Connection) -> str:
    """Every subscription as CSV (the import's columns, then state and dates), oldest first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "frequency", "status", "confirmed_at", "bounces"])
    rows = conn.execute(select(subscribers.c.email, subscribers.c.name, subscribers.c.frequency, subscribers.c.status,
                               subscribers.c.confirmed_at, subscribers.c.bounces).order_by(subscribers.c.id))  # fmt: skip
    for r in rows:
        writer.writerow([_csv_safe(r.email), _csv_safe(r.name or ""), r.frequency, r.status,
                         r.confirmed_at.isoformat() if r.confirmed_at else "", r.bounces])  # fmt: skip
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def subscriber_stats(conn: Connection) -> dict:
    """Counts by state and frequency, mail sent, and the outbox's digest rows by state."""
    by_state = {s: 0 for s in STATUSES}
    by_frequency = {f: 0 for f in FREQUENCIES}
    for status, frequency, n in conn.execute(select(subscribers.c.status, subscribers.c.frequency, func.count())
                                             .group_by(subscribers.c.status, subscribers.c.frequency)):  # fmt: skip
        by_state[status] = by_state.get(status, 0) + n
        if status == "active":
            by_frequency[frequency] = by_frequency.get(frequency, 0) + n
    mail = dict(conn.execute(select(outbox.c.status, func.count()).where(outbox.c.idempotency_key.startswith("digest:"))
                             .group_by(outbox.c.status)).all())  # fmt: skip
    papers_sent = conn.execute(select(func.count()).select_from(digest_deliveries)).scalar()
    return {"subscribers": by_state, "active_by_frequency": by_frequency, "digest_mail": mail, "papers_sent": papers_sent}


