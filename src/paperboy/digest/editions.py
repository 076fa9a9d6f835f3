"""What an edition is, and what it holds for one reader.

An edition is keyed by what it covers: a feed day (``2026-06-30``, daily) or an ISO week
(``2026-W27``, weekly). Daily editions exist for the days arXiv's papers appear on — the day after
an announcement evening (:func:`~paperboy.papers.calendar.is_listing_day`), so Monday to Friday
less the days after arXiv's holidays; like Hugging Face's mail, nothing on weekends.

For each edition the shared work is done once (:func:`prepare`): the period's papers, the trending
order, each distinct interest's candidates (a keyword search through the
:class:`~paperboy.search.service.SearchService`, an author or a category matched over the period's
papers, "more like my upvotes" through the stored embeddings), memoised so ten thousand readers with overlapping interests cost one search per
distinct interest. Then :func:`picks` for one reader is list walking: the first trending papers,
then personal picks taken in turn from each of the reader's interests, never a paper twice, never
one the reader was sent in an earlier edition.

Trending, the rule: the period's papers ordered by our community's upvotes, ties (and papers
without any) broken by Hugging Face's upvote count where it is mirrored, then by arXiv id. If no
paper of the period has a vote from either — a new instance, or a quiet day — the edition says so
and lists the period's papers in the site's daily categories (``PAPERBOY_DAILY_CATEGORIES``) in
announcement order: "newest in cs.CL, cs.LG…", never a ranking that pretends to be one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, select

from paperboy.config import Settings
from paperboy.errors import Invalid
from paperboy.papers.calendar import is_listing_day
from paperboy.search.text import words
from paperboy.store import feeds, repo
from paperboy.store.schema import digest_deliveries, paper_embeddings, papers, votes

__all__ = ["Edition", "Pick", "Prepared", "daily_edition", "is_edition_day", "parse_edition", "picks", "prepare", "weekly_edition"]

POOL_LIMIT = 2000  # papers of a period considered (a week of cs is ~3,000; trending needs the top)
CANDIDATES = 60  # per interest


@dataclass(frozen=True, slots=True)
class Edition:
    key: str  # 2026-06-30 or 2026-W27
    kind: str  # daily or weekly
    start: dt.date
    end: dt.date  # inclusive

    @property
    def label(self) -> str:
        if self.kind == "daily":
            return f"{self.start:%A} {self.start.day} {self.start:%B %Y}"
        year, week, _ = self.start.isocalendar()
        return f"week {week} of {year} ({self.start.day} {self.start:%b} – {self.end.day} {self.end:%b})"

    @property
    def feed_path(self) -> str:
        if self.kind == "daily":
            return f"/papers/date/{self.start.isoformat()}"
        year, week, _ = self.start.isocalendar()
        return f"/papers/week/{year}-W{week:02d}"


def daily_edition(day: dt.date) -> Edition:
    return Edition(day.isoformat(), "daily", day, day)


def weekly_edition(day: dt.date) -> Edition:
    """The weekly edition of the ISO week ``day`` falls in."""
    year, week, _ = day.isocalendar()
    monday = dt.date.fromisocalendar(year, week, 1)
    return Edition(f"{year}-W{week:02d}", "weekly", monday, monday + dt.timedelta(days=6))


_WEEK = re.compile(r"(\d{4})-W(\d{2})")


def parse_edition(text: str) -> Edition:
    """``2026-06-30`` (a daily edition) or ``2026-W27`` (a weekly one); :class:`Invalid` otherwise."""
    text = (text or "").strip()
    m = _WEEK.fullmatch(text)
    if m:
        try:
            return weekly_edition(dt.date.fromisocalendar(int(m[1]), int(m[2]), 1))
        except ValueError:
            raise Invalid(f"no such ISO week: {text}") from None
    try:
        return daily_edition(dt.date.fromisoformat(text))
    except ValueError:
        raise Invalid(f"an edition is a day (2026-06-30) or an ISO week (2026-W27), not {text!r}") from None


def is_edition_day(day: dt.date, holidays=()) -> bool:
    """Whether ``day`` has a daily edition: a day with an arXiv listing (announced the evening before)."""
    return is_listing_day(day, holidays)


@dataclass(slots=True)
class Pick:
    paper_id: int
    reason: str  # why a personal pick is there ("matches “diffusion”"); "" for trending papers


@dataclass
class Prepared:
    """What an edition holds before it is cut to one reader (see :func:`prepare`)."""

    edition: Edition
    trending: list[int]  # paper ids, best first
    trending_rule: str  # said in the mail: how "trending" was decided this time
    voted: bool  # False: the fallback rule was used
    papers: dict  # id -> repo.Paper, every paper the edition can show
    interests: dict = field(default_factory=dict)  # ("kw"|"author"|"cat", text) -> [paper ids]
    search: object = None
    all_ranked: list[int] = field(default_factory=list)  # every paper of the period, in trending order
    _vectors: tuple | None = None
    _author_words: dict | None = None  # (pool ids, their unit vectors) for "more like my upvotes"

    def candidates(self, conn: Connection, kind: str, text: str) -> list[int]:
        """Ranked paper ids of the period for one interest, computed once per edition."""
        key = (kind, text.lower())
        found = self.interests.get(key)
        if found is None:
            found = self._find(conn, kind, text)
            self.interests[key] = found
        return found

    def _find(self, conn: Connection, kind: str, text: str) -> list[int]:
        if kind == "cat":
            return [pid for pid in self.all_ranked if text in self.papers[pid].categories]
        if kind == "author":
            return self._by_author(text)
        if self.search is None:
            return []
        after, before = self.edition.start, self.edition.end + dt.timedelta(days=1)
        result = self.search.search(text, after=after, before=before, per_page=CANDIDATES)
        found = [p.id for p in result.papers]
        self._add_papers(conn, [pid for pid in found if pid not in self.papers])
        return [pid for pid in found if pid in self.papers]

    def _by_author(self, name: str) -> list[int]:
        """The period's papers with an author whose name has every word of ``name`` (case and
        accents folded, like the search's ``author:``), in trending order. Matched in memory over
        the period's authors: the search's LIKE over every author row costs ~0.1 s a name, and a
        big list has thousands of distinct authors."""
        if self._author_words is None:
            index: dict[str, set[int]] = {}
            for pid in self.all_ranked:
                for author in self.papers[pid].authors:
                    for w in words(author):
                        index.setdefault(w, set()).add(pid)
            self._author_words = index
        wanted = words(name)
        if not wanted:
            return []
        found = set.intersection(*(self._author_words.get(w, set()) for w in wanted))
        return [pid for pid in self.all_ranked if pid in found]

    def _add_papers(self, conn: Connection, ids: list[int]) -> None:
        for p in repo.get_papers(conn, ids):
            if p.hidden_at is None and not p.withdrawn:
                self.papers[p.id] = p

    def like_votes(self, conn: Connection, user_id: int) -> list[int]:
        """The period's papers nearest (cosine, stored embeddings) to the mean of the reader's
        upvoted papers' vectors; [] without votes, vectors or search.

        The vectors are read from ``paper_embeddings`` for the search's model, not from a search
        backend's memory: the same on SQLite and on PostgreSQL (whose search keeps none in memory).
        """
        key = ("likes", str(user_id))
        if key in self.interests:
            return self.interests[key]
        found: list[int] = []
        model = getattr(getattr(self.search, "embedder", None), "name", None) if self.search is not None else None
        if model is not None:
            voted = conn.execute(select(votes.c.paper_id).where(votes.c.user_id == user_id)
                                 .order_by(votes.c.created_at.desc()).limit(200)).scalars().all()  # fmt: skip
            if voted:
                if self._vectors is None:
                    self._vectors = stored_vectors(conn, model, sorted(self.all_ranked))
                pool_ids, matrix = self._vectors
                _, mine_matrix = stored_vectors(conn, model, voted)
                if len(mine_matrix) and len(pool_ids):
                    sims = matrix @ mine_matrix.mean(axis=0)
                    order = np.argsort(-sims, kind="stable")[:CANDIDATES]
                    mine = set(voted)
                    found = [int(pool_ids[i]) for i in order if int(pool_ids[i]) not in mine]
        self.interests[key] = found
        return found


def stored_vectors(conn: Connection, model: str, paper_ids) -> tuple[np.ndarray, np.ndarray]:
    """(paper ids, their unit vectors as rows) of those of ``paper_ids`` embedded with ``model``."""
    ids, rows = [], []
    paper_ids = list(paper_ids)
    for start in range(0, len(paper_ids), 1000):
        chunk = paper_ids[start : start + 1000]
        for pid, blob in conn.execute(select(paper_embeddings.c.paper_id, paper_embeddings.c.vector)
                                      .where(paper_embeddings.c.model == model, paper_embeddings.c.paper_id.in_(chunk))):  # fmt: skip
            ids.append(pid)
            rows.append(np.frombuffer(blob, "<f4"))
    if not rows:
        return np.empty(0, np.int64), np.empty((0, 0), np.float32)
    return np.asarray(ids, np.int64), np.vstack(rows)


def prepare(conn: Connection, settings: Settings, edition: Edition, *, search=None, trending_max: int = 30) -> Prepared:
    """The edition's shared part: its papers in trending order and the rule used (see the module)."""
    rows = conn.execute(
        select(papers.c.id, papers.c.upvotes, papers.c.hf_upvotes, papers.c.arxiv_id, papers.c.primary_category, papers.c.announced)
        .where(papers.c.announced >= edition.start, papers.c.announced <= edition.end,
               papers.c.hidden_at.is_(None), papers.c.withdrawn.is_(False))
    ).all()  # fmt: skip
    voted = any(r.upvotes or r.hf_upvotes for r in rows)
    if voted:
        ranked = sorted(rows, key=lambda r: feeds.feed_rank_key(r.upvotes, r.hf_upvotes, r.announced, r.arxiv_id))  # the feeds' order
        hf = any(r.hf_upvotes for r in rows)
        rule = ("Ranked by the upvotes of this site's readers" + (", then Hugging Face's upvotes." if hf else ".")) if any(
            r.upvotes for r in rows) else "Ranked by Hugging Face's upvotes (nobody here has voted on these yet)."  # fmt: skip
        top = [r.id for r in ranked if r.upvotes or r.hf_upvotes]
        rest = [r.id for r in ranked if not (r.upvotes or r.hf_upvotes)]
    else:
        cats = settings.categories
        listed = sorted((r for r in rows if not cats or r.primary_category in cats), key=lambda r: r.arxiv_id)
        rule = ("Nobody has voted on these papers yet, here or on Hugging Face: these are the first announced"
                + (f" in {', '.join(cats)}." if cats else "."))  # fmt: skip
        top = [r.id for r in listed]
        others = sorted((r for r in rows if cats and r.primary_category not in cats), key=lambda r: r.arxiv_id)
        rest = [r.id for r in others]
    ranked_ids = (top + rest)[:POOL_LIMIT]
    prepared = Prepared(edition, top[:trending_max], rule, voted, {}, search=search)
    prepared.all_ranked = ranked_ids
    prepared._add_papers(conn, ranked_ids)
    prepared.all_ranked = [pid for pid in ranked_ids if pid in prepared.papers]
    prepared.trending = [pid for pid in prepared.trending if pid in prepared.papers]
    return prepared


def delivered_before(conn: Connection, edition: Edition, subscriber_ids: list[int]) -> dict[int, set[int]]:
    """For each subscriber, the papers already mailed to them in *other* editions."""
    sent: dict[int, set[int]] = {sid: set() for sid in subscriber_ids}
    if subscriber_ids:
        for sid, pid in conn.execute(
            select(digest_deliveries.c.subscriber_id, digest_deliveries.c.paper_id)
            .where(digest_deliveries.c.subscriber_id.in_(subscriber_ids), digest_deliveries.c.edition != edition.key)
        ):
            sent[sid].add(pid)
    return sent


def picks(conn: Connection, prepared: Prepared, sub, already: set[int]) -> tuple[list[Pick], list[Pick]]:
    """(trending, personal) for one subscriber: ``sub.trending_count`` trending papers, then up to
    ``sub.personal_count`` personal picks taken in turn from each interest (keywords, authors,
    categories, "more like my upvotes"), none twice, none in ``already``."""
    seen = set(already)
    trending = []
    for pid in prepared.trending:
        if len(trending) >= sub.trending_count:
            break
        if pid not in seen:
            trending.append(Pick(pid, ""))
            seen.add(pid)
    personal: list[Pick] = []
    if sub.personal_count <= 0:
        return trending, personal
    sources = [(f"matches “{k}”", prepared.candidates(conn, "kw", k)) for k in sub.keyword_list]
    sources += [(f"by {a}", prepared.candidates(conn, "author", a)) for a in sub.author_list]
    sources += [(f"in {c}", prepared.candidates(conn, "cat", c)) for c in sub.category_list]
    if sub.more_like_votes and sub.user_id is not None:
        sources.append(("like papers you upvoted", prepared.like_votes(conn, sub.user_id)))
    positions = [0] * len(sources)
    while len(personal) < sub.personal_count:
        progressed = False
        for i, (reason, ids) in enumerate(sources):
            while positions[i] < len(ids) and ids[positions[i]] in seen:
                positions[i] += 1
            if positions[i] < len(ids):
                pid = ids[positions[i]]
                personal.append(Pick(pid, reason))
                seen.add(pid)
                positions[i] += 1
                progressed = True
                if len(personal) >= sub.personal_count:
                    break
        if not progressed:
            break
    return trending, personal
