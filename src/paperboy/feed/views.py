"""What a feed, trending, a paper and a profile show, as plain data: one view per resource.

One function per resource, shared by every door that shows it — the HTML page, ``/api/v1``, the
Hugging Face–compatible API, Atom, BibTeX/RIS and Markdown: the rules — which papers a period shows
and in what order, how many pages there are, who may see a hidden paper — live here, not in the
routes. Each view takes its parameters as the door received them (text from a URL, or nothing) and
checks them through :mod:`paperboy.params`, so a bad value is refused with the same message
whichever door it came in by; a door only passes on what it got. Nothing here depends on who is
asking beyond ``moderator`` (admins see hidden things); per-visitor state (your votes, your name)
is added by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import Connection

from paperboy import params
from paperboy.accounts.users import User, get_user, get_user_by_name
from paperboy.community.claims import Claim, VerifiedAuthor, claimed_papers, verified_authors_of
from paperboy.community.comments import PAGE_SIZE as COMMENT_PAGE
from paperboy.community.comments import Comment, count_visible, list_comments
from paperboy.community.profiles import PROFILE_PAPERS, submitted_ids, upvoted_ids
from paperboy.errors import Invalid, NotFound
from paperboy.feed.periods import Period, period_of
from paperboy.feed.trending import trending
from paperboy.store import feeds, repo

__all__ = ["FeedView", "feed_view", "period_papers", "TrendingView", "trending_view", "PaperView", "paper_view", "DailyList", "daily_list",
           "DAILY_SORTS", "paper_details", "DayPlace", "day_place", "ProfileView", "profile_view"]  # fmt: skip

#: A raw parameter as a door received it: text from a URL, a number from a typed caller, or nothing.
Raw = str | int | None


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


def feed_view(conn: Connection, period: Period | None, *, category: str | None = None, page: Raw = None, size: int = 50) -> FeedView:
    """Papers of ``period`` (the latest day with papers when None), best first, ``size`` a page.

    Best first is :data:`paperboy.store.feeds.FEED_RANK`: most upvotes here; ties by Hugging Face's
    upvotes where mirrored (papers HF does not list after those it does); then newest first — the
    later announcement day, then the later arXiv id. So a week or month with few votes opens with
    what HF readers liked and the latest work, never with the oldest arXiv ids. Ranks shown on cards
    are ``offset + 1, offset + 2, …`` of this order.

    ``category`` and ``page`` are checked here (:class:`~paperboy.errors.Invalid`); ``period`` comes
    parsed, as a period in a path (404) and one in a parameter (400) are refused differently
    (:func:`paperboy.params.period_in_path`, :func:`paperboy.params.period_param`).
    :class:`NotFound` for a page past the last one.
    """
    category = params.category(category)
    page = params.page_number(page)
    if period is None:
        latest = feeds.latest_day(conn)
        if latest is None:
            return FeedView(None)
        period = period_of("day", latest)
    offset = (page - 1) * size
    result = feeds.feed_page(conn, period.start, period.end, category=category, limit=size, offset=offset)
    pages = max(1, math.ceil(result.total / size))
    if page > pages:
        raise NotFound(f"This {period.kind} has {pages} page{'s' if pages > 1 else ''} of papers.")
    before = feeds.day_before(conn, period.start, category)
    after = feeds.day_after(conn, period.end, category)
    return FeedView(
        period=period,
        papers=result.papers,
        total=result.total,
        page=page,
        pages=pages,
        offset=offset,
        category=category,
        categories=feeds.category_counts(conn, period.start, period.end),
        previous=period_of(period.kind, before) if before else None,
        next=period_of(period.kind, after) if after else None,
    )


def period_papers(conn: Connection, period: Period, *, category: str | None = None, limit: int = 50) -> list[repo.Paper]:
    """The first ``limit`` papers of ``period`` in :func:`feed_view`'s order, and nothing else: what a
    period's citation files list (a month's 2,000 papers; the page's counts and neighbours would add
    a fifth to building one)."""
    category = params.category(category)
    where = feeds.feed_conditions(period.start, period.end)
    return repo.get_papers(conn, feeds.feed_ids(conn, where, category=category, limit=limit))


@dataclass(slots=True)
class TrendingView:
    papers: list[repo.Paper]
    scores: dict[int, float]  # paper id -> trending score
    page: int
    offset: int
    has_next: bool


def trending_view(conn: Connection, *, page: Raw = None, size: int = 50) -> TrendingView:
    """One page of :func:`~paperboy.feed.trending.trending` (``page`` checked here)."""
    page = params.page_number(page)
    offset = (page - 1) * size
    ranked = trending(conn, limit=size + 1, offset=offset)
    shown = ranked[:size]
    papers = repo.get_papers(conn, [pid for pid, _ in shown])
    return TrendingView(papers, dict(shown), page, offset, len(ranked) > size)


@dataclass(slots=True)
class PaperView:
    paper: repo.Paper
    verified: dict[int, VerifiedAuthor]  # author position -> the verified author
    submitter: User | None
    comments: list[Comment] = field(default_factory=list)  # empty unless asked for
    total_comments: int = 0
    comment_page: int = 1
    comment_pages: int = 1

    @property
    def claimable(self) -> list[tuple[int, str]]:
        """(position, name) of the authors nobody is verified as yet: what "claim authorship" offers."""
        return [(i, name) for i, name in enumerate(self.paper.authors) if i not in self.verified]


def paper_view(conn: Connection, arxiv_id: str, *, moderator: bool = False, comments: bool = True, comment_page: Raw = None,
               comments_per_page: int = COMMENT_PAGE, page_name: str = "cpage") -> PaperView:  # fmt: skip
    """A paper by any form of its id (:func:`~paperboy.store.repo.find_paper`: a version or URL is
    the same paper), its verified authors and submitter, and — unless ``comments`` is False, for the
    doors that show none (JSON, Markdown, citations) — a page of its comments, oldest first.

    Hidden papers and comments are shown to moderators only; :class:`NotFound` otherwise, with a
    message that says why. ``comment_page`` is checked here, named ``page_name`` (the paper page
    calls it ``cpage``, ``/api/v1``'s comments ``page``)."""
    comment_page = params.page_number(comment_page, page_name)
    paper = repo.find_paper(conn, arxiv_id, include_hidden=moderator)
    view = PaperView(paper, verified_authors_of(conn, [paper.id]).get(paper.id, {}),
                     get_user(conn, paper.submitted_by) if paper.submitted_by else None, comment_page=comment_page)  # fmt: skip
    if comments:
        view.total_comments = count_visible(conn, paper.id, include_hidden=moderator)
        view.comments = list_comments(conn, paper.id, include_hidden=moderator, limit=comments_per_page,
                                      offset=(comment_page - 1) * comments_per_page)  # fmt: skip
        view.comment_pages = max(1, math.ceil(view.total_comments / comments_per_page))
    return view


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
    before, previous, after = feeds.feed_neighbours(conn, paper)
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


def _daily_period(**given: str | None) -> Period | None:
    """The one period of a daily list's ``date``/``week``/``month`` parameters, or None."""
    given = {name: value for name, value in given.items() if value is not None}
    if len(given) > 1:
        raise Invalid(f"Give one of 'date', 'week' or 'month', not {' and '.join(given)}")
    if not given:
        return None
    ((name, value),) = given.items()
    return params.period_param("day" if name == "date" else name, value, name)


def daily_list(conn: Connection, *, date: str | None = None, week: str | None = None, month: str | None = None,
               submitter: str | None = None, sort: str | None = None, limit: int = 50, page: Raw = None) -> DailyList:  # fmt: skip
    """Hugging Face's Daily Papers list, over our feed.

    * which papers: those of the day, ISO week or month given (one of ``date``, ``week``,
      ``month``); without one, the latest day with papers — or, given a ``submitter``, every paper
      that user put on the feed (an unknown or suspended user has none);
    * ``sort="publishedAt"`` (the default): the latest feed day first, then the latest submitted
      (arXiv id) first; ``sort="trending"``: by the trending score (:mod:`paperboy.feed.trending`),
      ties in the feed's order (most upvoted first);
    * ``limit`` papers a page, ``page`` counted from 0 as Hugging Face does: a page past the end is
      empty, not an error.
    """
    period = _daily_period(date=date, week=week, month=month)
    sort = params.choice(sort, "sort", DAILY_SORTS, "publishedAt")
    offset = params.page_number(page, "p", first=0) * limit
    user_id = None
    if submitter is not None:
        person = get_user_by_name(conn, submitter)
        if person is None or person.suspended:
            return DailyList([], {})
        user_id = person.id
    elif period is None:
        latest = feeds.latest_day(conn)
        if latest is None:
            return DailyList([], {})
        period = period_of("day", latest)
    start, end = (period.start, period.end) if period else (None, None)
    where = feeds.feed_conditions(start, end, submitted_by=user_id)
    if limit <= 0:
        return DailyList([], {})
    if sort == "publishedAt":
        ids = feeds.feed_ids(conn, where, order="newest", limit=limit, offset=offset)
    else:
        scores = dict(trending(conn, limit=10**9))
        ids = feeds.feed_ids(conn, where, order="feed")
        ids.sort(key=lambda pid: -scores.get(pid, 0.0))  # stable: ties stay in feed order
        ids = ids[offset : offset + limit]
    return paper_details(conn, repo.get_papers(conn, ids))


# --- a member's public profile -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfileView:
    """What a member submitted and upvoted (newest first, :data:`PROFILE_PAPERS` each, hidden papers
    left out), and the papers they are a verified author of."""

    person: User
    submitted: list[repo.Paper]
    upvoted: list[repo.Paper]
    verified: list[Claim]


def profile_view(conn: Connection, username: str, *, moderator: bool = False) -> ProfileView:
    """The profile of ``username``; :class:`NotFound` for unknown users, and for suspended ones
    unless a moderator asks. No username is longer than 64 characters: a longer one is cut, so it
    costs no more than a short one to refuse."""
    person = get_user_by_name(conn, username[:64])
    if person is None or (person.suspended and not moderator):
        raise NotFound("No such user.")
    return ProfileView(person, repo.get_papers(conn, submitted_ids(conn, person.id, PROFILE_PAPERS)),
                       repo.get_papers(conn, upvoted_ids(conn, person.id, PROFILE_PAPERS)), claimed_papers(conn, person.id))  # fmt: skip
