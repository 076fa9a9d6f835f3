"""Submitting a paper to today's feed by arXiv id or URL ("submit a paper", as on hf.co/papers).

The rules, each with its own message, in the order they are checked:

0. the user is within the ``submit-user`` rate limit (admins exempt);
1. the text is an arXiv id or an arxiv.org abs/pdf URL (versioned and old-style ids too);
2. the paper is not already on a feed here (anyone, admins included: a paper has one day);
3. the user has submitted fewer than ``submit_daily_cap`` papers today (admins exempt);
4. arXiv knows the paper (metadata from the arXiv API, ``id_list`` query);
5. its first version is at most ``submit_max_age_days`` old (admins exempt).

A submitted paper's feed day is the day it was submitted (UTC), with "submitted by" on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select

from paperboy import clock
from paperboy.accounts import ratelimit
from paperboy.accounts.users import User
from paperboy.config import Settings
from paperboy.errors import DomainError, Kind
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.store.db import write_transaction
from paperboy.store.repo import get_paper, mark_submitted, upsert_papers
from paperboy.store.schema import papers
from paperboy.store.versions import bump_content_version

__all__ = ["SubmitError", "Submitted", "submit_paper"]


class SubmitError(DomainError):
    """A refusal, of the kind given (invalid by default); ``context["paper"]`` is the paper already
    on a feed, when that is why."""


@dataclass(frozen=True, slots=True)
class Submitted:
    arxiv_id: str
    title: str


def submitted_today(conn: Connection, user_id: int, now: dt.datetime) -> int:
    start = dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.timezone.utc)
    return conn.execute(
        select(func.count()).select_from(papers).where(papers.c.submitted_by == user_id, papers.c.submitted_at >= start)
    ).scalar_one()


def submit_paper(engine: Engine, client, settings: Settings, user: User, text: str, *, now: dt.datetime | None = None) -> Submitted:
    """Run the rules above and put the paper on today's feed, or raise :class:`SubmitError`.

    ``client`` is an :class:`~paperboy.ingest.arxiv_api.ArxivApiClient`. The arXiv request happens
    outside any database transaction, so a slow arXiv never holds a lock.
    """
    from paperboy.ingest.arxiv_api import ArxivErrorFeed
    from paperboy.ingest.http import ServiceUnavailable

    now = now or clock.now()
    if not user.is_admin:
        with write_transaction(engine) as conn:
            ratelimit.enforce(conn, "submit-user", str(user.id))
    try:
        arxiv = parse_arxiv_id(text)
    except InvalidArxivId as e:
        raise SubmitError(str(e)) from None

    with engine.connect() as conn:
        existing = get_paper(conn, arxiv.id)
        if existing and existing.announced and not existing.hidden_at:
            raise SubmitError(f"arXiv:{arxiv.id} is already on the feed of {existing.announced.day} {existing.announced:%B %Y}.",
                              kind=Kind.CONFLICT, paper=existing)
        if existing and existing.hidden_at:
            raise SubmitError(f"arXiv:{arxiv.id} can't be submitted.", kind=Kind.CONFLICT)
        if not user.is_admin and submitted_today(conn, user.id, now) >= settings.submit_daily_cap:
            raise SubmitError(f"You can submit {settings.submit_daily_cap} papers a day; try again tomorrow.", kind=Kind.RATE_LIMITED)

    try:
        records = client.fetch_ids([arxiv.id])
    except ArxivErrorFeed as e:
        raise SubmitError(f"arXiv refused the request: {e}", kind=Kind.UNPROCESSABLE) from None
    except ServiceUnavailable as e:
        raise SubmitError(f"arXiv can't be reached right now ({e}). Try again in a few minutes.", kind=Kind.UNAVAILABLE) from None
    record = next((r for r in records if r.arxiv_id == arxiv.id), None)
    if record is None:
        raise SubmitError(f"arXiv has no paper {arxiv.id}.", kind=Kind.NOT_FOUND)
    first = record.published
    if not user.is_admin and first and first < now.date() - dt.timedelta(days=settings.submit_max_age_days):
        raise SubmitError(
            f"Only papers first published in the last {settings.submit_max_age_days} days can be submitted; "
            f"arXiv:{arxiv.id} is from {first.day} {first:%B %Y}."
        )

    record.announced = now.date()
    with write_transaction(engine) as conn:
        current = get_paper(conn, arxiv.id)  # re-checked inside the transaction: two people may race
        if current and current.announced:
            raise SubmitError(f"arXiv:{arxiv.id} is already on the feed of {current.announced.day} {current.announced:%B %Y}.",
                              kind=Kind.CONFLICT, paper=current)
        upsert_papers(conn, [record])
        mark_submitted(conn, arxiv.id, user.id, now)
        bump_content_version(conn)
    return Submitted(arxiv.id, record.title)
