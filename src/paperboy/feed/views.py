"""What a feed page, the trending page and a paper page show, as plain data.

One function per page, shared by the HTML pages and their JSON twins: the rules — which papers a
period shows and in what order, how many pages there are, who may see a hidden paper — live here,
not in the routes. Nothing here depends on who is asking beyond ``moderator`` (admins see hidden
things); per-visitor state (your votes, your name) is added by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import Connection

from paperboy.accounts.users import User, get_user, get_user_by_name
from paperboy.community.claims import VerifiedAuthor, verified_authors, verified_authors_of
from paperboy.community.comments import PAGE_SIZE as COMMENT_PAGE
from paperboy.community.comments import Comment, count_visible, list_comments
from paperboy.errors import NotFound
from paperboy.feed.periods import Period, period_of
from paperboy.feed.trending import trending
from paperboy.store import repo

__all__ = ["FeedView", "feed_view", "period_papers", "TrendingView", "trending_view", "PaperView", "paper_view", "DailyList", "daily_list",
           "DAILY_SORTS", "paper_details", "DayPlace", "day_place"]  # fmt: skip


@dataclass(slots=True)
class FeedView:
    """One page of a day, week or month. ``period`` is None only for an empty site's home page."""

    period: Period | None
    papers: list[repo.Paper] = field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 1
    offset: int = 0
    category: str | None = None
    categories: list[tuple[str, int]] = field(default_factory=list)  # (code, papers) in the whole period
    previous: Period | None = None  # the nearest earlier period with papers (in the category)
    next: Period | None = None


def feed_view(conn: Connection, period: Period | None, *, category: str | None = None, page: int = 1, size: int = 50) -> FeedView:
    """Papers of ``period`` (the latest day with papers when None), best first, ``size`` a page.

    Best first is :data:`paperboy.store.repo.FEED_RANK`: most upvotes here; ties by Hugging Face's
    upvotes where mirrored (papers HF does not list after those it does); then newest first — the
    later announcement day, then the later arXiv id. So a week or month with few votes opens with
    what HF readers liked and the latest work, never with the oldest arXiv ids. Ranks shown on cards
    are ``offset + 1, offset + 2, …`` of this order.

    :class:`NotFound` for a page past the last one.
    """
    if period is None:
        latest = repo.latest_day(conn)
        if latest is None:
            return FeedView(None)
        period = period_of("day", latest)
    offset = (page - 1) * size
    result = repo.feed_page(conn, period.start, period.end, category=category, limit=size, offset=offset)
    pages = max(1, math.ceil(result.total / size))
    if page > pages:
        raise NotFound(f"This {period.kind} has {pages} page{'s' if pages > 1 else ''} of papers.")
    before = repo.day_before(conn, period.start, category)
    after = repo.day_after(conn, period.end, category)
    return FeedView(
        period=period,
        papers=result.papers,
        total=result.total,
        page=page,
        pages=pages,
        offset=offset,
        category=category,
        categories=repo.category_counts(conn, period.start, period.end),
        previous=period_of(period.kind, before) if before else None,
        next=period_of(period.kind, after) if after else None,
    )


def period_papers(conn: Connection, period: Period, *, category: str | None = None, limit: int = 50) -> list[repo.Paper]:
    """The first ``limit`` papers of ``period`` in :func:`feed_view`'s order, and nothing else: what a
    period's citation files list (a month's 2,000 papers; the page's counts and neighbours would add
    a fifth to building one)."""
    where = repo.feed_conditions(period.start, period.end)
    return repo.get_papers(conn, repo.feed_ids(conn, where, category=category, limit=limit))


@dataclass(slots=True)
class TrendingView:
    papers: list[repo.Paper]
    scores: dict[int, float]  # paper id -> trending score
    page: int
    offset: int
    has_next: bool


def trending_view(conn: Connection, *, page: int = 1, size: int = 50) -> TrendingView:
    """One page of :func:`~paperboy.feed.trending.trending`."""
    offset = (page - 1) * size
    ranked = trending(conn, limit=size + 1, offset=offset)
    shown = ranked[:size]
    papers = repo.get_papers(conn, [pid for pid, _ in shown])
    return TrendingView(papers, dict(shown), page, offset, len(ranked) > size)


@dataclass(slots=True)
class PaperView:
    paper: repo.Paper
    comments: list[Comment]
    total_comments: int
    comment_page: int
    comment_pages: int
    verified: dict[int, str]  # author position -> username of the verified author
    submitter: User | None

    @property
    def claimable(self) -> list[tuple[int, str]]:
        """(position, name) of the authors nobody is verified as yet: what "claim authorship" offers."""
        return [(i, name) for i, name in enumerate(self.paper.authors) if i not in self.verified]


def paper_view(conn: Connection, arxiv_id: str, *, moderator: bool = False, comment_page: int = 1,
               comments_per_page: int = COMMENT_PAGE) -> PaperView:  # fmt: skip
    """A paper with a page of its comments (oldest first). Hidden papers and comments are shown to
    moderators only; :class:`NotFound` otherwise, with a message that says why."""
    paper = repo.get_paper(conn, arxiv_id)
    if paper is None:
        raise NotFound(f"Paperboy has no paper {arxiv_id} yet.")
    if paper.hidden_at and not moderator:
        raise NotFound(f"arXiv:{arxiv_id} has been hidden by the moderators.")
    total = count_visible(conn, paper.id, include_hidden=moderator)
    comments = list_comments(conn, paper.id, include_hidden=moderator, limit=comments_per_page,
                             offset=(comment_page - 1) * comments_per_page)  # fmt: skip
    return PaperView(
        paper=paper,
        comments=comments,
        total_comments=total,
        comment_page=comment_page,
        comment_pages=max(1, math.ceil(total / comments_per_page)),
        verified=verified_authors(conn, paper.id),
        submitter=get_user(conn, paper.submitted_by) if paper.submitted_by else None,
    )


@dataclass(slots=True)
class DayPlace:
    """Where a paper stands on its day's feed (all categories, the feed's order): its 1-based rank,
    the feed page that shows it, and its neighbours there — for the paper page's "back to the day"
    (the right page, at the paper's card) and previous/next paper links."""

    rank: int
    page: int
    previous: repo.Paper | None = None
    next: repo.Paper | None = None


def day_place(conn: Connection, paper: repo.Paper, size: int = 50) -> DayPlace | None:
    """:class:`DayPlace` of ``paper`` on the day it was announced; None for a paper on no feed."""
    if paper.announced is None or paper.hidden_at is not None:
        return None
    before, previous, after = repo.feed_neighbours(conn, paper)
    rank = before + 1
    by_id = {p.id: p for p in repo.get_papers(conn, [pid for pid in (previous, after) if pid is not None])}
    return DayPlace(rank, (rank - 1) // size + 1, by_id.get(previous), by_id.get(after))


# --- the list behind Hugging Face's /api/daily_papers ---------------------------------------------

DAILY_SORTS = ("publishedAt", "trending")


@dataclass(slots=True)
class DailyList:
    """A page of a daily list with what its JSON shows beside each paper (verified authors)."""

    papers: list[repo.Paper]
    verified: dict[int, dict[int, VerifiedAuthor]]  # paper id -> author position -> verified author


def paper_details(conn: Connection, papers: list[repo.Paper]) -> DailyList:
    """Papers with their verified authors (one query for all of them)."""
    return DailyList(papers, verified_authors_of(conn, [p.id for p in papers]))


def daily_list(conn: Connection, period: Period | None, *, submitter: str | None = None, sort: str = "publishedAt",
               limit: int = 50, offset: int = 0) -> DailyList:  # fmt: skip
    """Hugging Face's Daily Papers list, over our feed.

    * which papers: those of ``period``; without one, the latest day with papers — or, given a
      ``submitter``, every paper that user put on the feed (an unknown or suspended user has none);
    * ``sort="publishedAt"``: the latest feed day first, then the latest submitted (arXiv id) first;
      ``sort="trending"``: by the trending score (:mod:`paperboy.feed.trending`), ties in the feed's
      order (most upvoted first);
    * ``limit`` papers from ``offset``: a page past the end is empty, not an error.
    """
    if sort not in DAILY_SORTS:
        raise ValueError(f"sort is one of {DAILY_SORTS}")
    user_id = None
    if submitter is not None:
        person = get_user_by_name(conn, submitter)
        if person is None or person.suspended:
            return DailyList([], {})
        user_id = person.id
    elif period is None:
        latest = repo.latest_day(conn)
        if latest is None:
            return DailyList([], {})
        period = period_of("day", latest)
    start, end = (period.start, period.end) if period else (None, None)
    where = repo.feed_conditions(start, end, submitted_by=user_id)
    if limit <= 0:
        return DailyList([], {})
    if sort == "publishedAt":
        ids = repo.feed_ids(conn, where, order="newest", limit=limit, offset=offset)
    else:
        scores = dict(trending(conn, limit=10**9))
        ids = repo.feed_ids(conn, where, order="feed")
        ids.sort(key=lambda pid: -scores.get(pid, 0.0))  # stable: ties stay in feed order
        ids = ids[offset : offset + limit]
    return paper_details(conn, repo.get_papers(conn, ids))
