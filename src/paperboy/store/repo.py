"""Reads and writes of papers, their authors and categories: this module owns those rows. Every
other module *writes* them through these functions, not through SQL, so a paper and the content
version caches compare against (:mod:`paperboy.store.versions`) change in one transaction; a domain
module may *read* them in its own queries (a ranking that joins votes and papers), a door never does.
``tests/test_layers.py`` checks both. The other tables' owners are listed in docs/architecture.md
("Table owners").

What is here is about one paper or a batch of named papers: storing records, finding a paper, its
counters, visibility, withdrawal and Hugging Face details. Which papers a feed period shows and in
what order is :mod:`paperboy.store.feeds`; the cache counters are :mod:`paperboy.store.versions`;
upkeep over the whole archive (planner statistics, re-rendering old math) is
:mod:`paperboy.store.maintenance`.

Writes are batched: :func:`upsert_papers` takes a list of records and does a handful of statements
per batch whatever its size, which is what makes a 75,000-paper import take seconds.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, fields

from markupsafe import Markup
from sqlalchemy import Connection, bindparam, delete, func, select, update

from paperboy import clock
from paperboy.errors import NotFound
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.papers.model import PaperRecord, merge_records
from paperboy.papers.normalize import author_key
from paperboy.papers.tex import MATH_VERSION, render_math, stored_math
from paperboy.store.db import serialize_writes
from paperboy.store.schema import paper_authors, paper_categories, papers, users
from paperboy.store.versions import bump_content_version

__all__ = [
    "Paper",
    "UpsertCounts",
    "upsert_papers",
    "get_paper",
    "find_paper",
    "get_papers",
]

_RECORD_FIELDS = [f.name for f in fields(PaperRecord)]
_PAPER_COLUMNS = [
    "arxiv_id", "version", "title", "abstract", "primary_category", "comment", "journal_ref",
    "doi", "license", "published", "updated", "announced", "source",
]  # fmt: skip


@dataclass(slots=True)
class Paper(PaperRecord):
    """A stored paper: the record plus what the store adds (its row id and vote count)."""

    id: int = 0
    upvotes: int = 0
    comment_count: int = 0
    submitted_by: int | None = None
    submitted_at: dt.datetime | None = None
    hidden_at: dt.datetime | None = None
    submitter: str | None = None  # username of submitted_by
    withdrawn: bool = False  # arXiv announced a withdrawal (see ingest.listings)
    hf_upvotes: int | None = None  # Hugging Face Daily Papers upvotes, apart from ours (None: not on HF)
    hf_comments: int | None = None  # Hugging Face's comment count, apart from ours
    github_repo: str | None = None  # code and project links, as Hugging Face's Daily Papers give them
    project_page: str | None = None
    activity: int = 0  # bumped when its comments change
    title_html: str | None = None  # TeX rendered when stored (None: no math, or stored by an older renderer)
    abstract_html: str | None = None
    math_version: int = 0

    @property
    def title_markup(self) -> Markup:
        """The title as safe HTML, math as MathML: rendered when the paper was stored, not per view."""
        return self._markup(self.title, self.title_html)

    @property
    def abstract_markup(self) -> Markup:
        return self._markup(self.abstract, self.abstract_html)

    def _markup(self, text: str, stored: str | None) -> Markup:
        if stored is not None and self.math_version == MATH_VERSION:
            return Markup(stored)
        return render_math(text)  # no math (escaping only), or an older renderer made it

    @property
    def year(self) -> int | None:
        day = self.published or self.announced
        return day.year if day else None


@dataclass(slots=True)
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_ids: list[str] = field(default_factory=list)

    def add(self, other: "UpsertCounts") -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.changed_ids.extend(other.changed_ids)


#: Advisory lock key (PostgreSQL) that serialises paper upserts: an upsert reads which papers exist,
#: then inserts the others — two importers at once (two workers; an import and a submission) would
#: both insert a paper they saw as new, and the second fail on the unique arXiv id (measured: three
#: concurrent `paperboy import`s of one file, two failed). Also keeps new ids visible in id order,
#: which the search delta index relies on. See :func:`paperboy.store.db.serialize_writes`.
PAPER_WRITES = 0x50415052  # "PAPR"


@dataclass(slots=True)
class Prepared:
    """A record with what the store derives from it — content hash, math rendered once, author
    keys — computed ahead of the write (an import does it in its parsing process, see ingest/dumps.py)."""

    record: PaperRecord
    content_hash: str
    title_html: str | None
    abstract_html: str | None
    author_keys: list[str]


def prepare(rec: PaperRecord) -> Prepared:
    """Everything :func:`upsert_papers` derives from a record (pure: no database)."""
    return Prepared(rec, rec.content_hash(), stored_math(rec.title), stored_math(rec.abstract), [author_key(a) for a in rec.authors])


def upsert_papers(conn: Connection, records: list[PaperRecord | Prepared]) -> UpsertCounts:
    """Insert new papers and update changed ones (see :func:`merge_records`), in the caller's transaction.

    Idempotent: the same records twice leave the database as it was and count as unchanged.
    Records for the same paper within ``records`` are merged first, in order. Records may come
    prepared already (:func:`prepare`).
    """
    counts = UpsertCounts()
    by_id: dict[str, Prepared] = {}
    for item in records:
        rec = item.record if isinstance(item, Prepared) else item
        prev = by_id.get(rec.arxiv_id)
        if prev is None:
            by_id[rec.arxiv_id] = item if isinstance(item, Prepared) else prepare(rec)
        else:
            by_id[rec.arxiv_id] = prepare(merge_records(prev.record, rec))
    if not by_id:
        return counts

    serialize_writes(conn, PAPER_WRITES)
    existing = {
        row.arxiv_id: row
        for row in conn.execute(
            select(papers.c.id, papers.c.arxiv_id, papers.c.content_hash).where(
                papers.c.arxiv_id.in_(list(by_id))
            )
        )
    }
    new = [p for key, p in by_id.items() if key not in existing]
    # Same hash as stored means nothing to do; only the rest need the stored record to merge with.
    suspects = [p for key, p in by_id.items() if key in existing and p.content_hash != existing[key].content_hash]
    counts.unchanged = len(by_id) - len(new) - len(suspects)

    now = clock.now()
    if new:
        _insert_papers(conn, [_paper_row(p, now, created=True) for p in new])
        ids = _ids_of(conn, [p.record.arxiv_id for p in new])
        _insert_children(conn, [(ids[p.record.arxiv_id], p) for p in new])
        counts.new = len(new)
        counts.changed_ids.extend(p.record.arxiv_id for p in new)

    if suspects:
        stored = {p.arxiv_id: p for p in get_papers(conn, [existing[p.record.arxiv_id].id for p in suspects])}
        changed: list[tuple[int, Prepared]] = []
        for item in suspects:
            old = stored[item.record.arxiv_id]
            merged = prepare(merge_records(_as_record(old), item.record))
            if merged.content_hash == existing[item.record.arxiv_id].content_hash:
                counts.unchanged += 1
            else:
                changed.append((old.id, merged))
        if changed:
            rows = [{"_id": pk, **_paper_row(p, now, created=False)} for pk, p in changed]
            stmt = update(papers).where(papers.c.id == bindparam("_id"))
            conn.execute(stmt, rows)
            pks = [pk for pk, _ in changed]
            conn.execute(delete(paper_authors).where(paper_authors.c.paper_id.in_(pks)))
            conn.execute(delete(paper_categories).where(paper_categories.c.paper_id.in_(pks)))
            _insert_children(conn, changed)
            counts.updated = len(changed)
            counts.changed_ids.extend(p.record.arxiv_id for _, p in changed)

    if counts.new or counts.updated:
        bump_content_version(conn)
    return counts


def _paper_row(p: Prepared, now: dt.datetime, created: bool) -> dict:
    rec = p.record
    row = {name: getattr(rec, name) for name in _PAPER_COLUMNS if name != "primary_category"}
    row["primary_category"] = rec.primary_category
    row["content_hash"] = p.content_hash
    row["title_html"] = p.title_html
    row["abstract_html"] = p.abstract_html
    row["math_version"] = MATH_VERSION
    row["modified_at"] = now
    if created:
        row["created_at"] = now
    return row


_INSERT_COLUMNS = (*(c for c in _PAPER_COLUMNS), "content_hash", "title_html", "abstract_html", "math_version", "modified_at", "created_at")


def _insert_papers(conn: Connection, rows: list[dict]) -> None:
    """New paper rows through the driver's executemany (SQLAlchemy's RETURNING path ran one
    statement per row on SQLite); dates and times bound as the column types would bind them."""
    dialect = conn.dialect
    binders = {name: papers.c[name].type.bind_processor(dialect) for name in _INSERT_COLUMNS}
    values = [tuple(binders[n](row[n]) if binders[n] else row[n] for n in _INSERT_COLUMNS) for row in rows]
    bulk_insert(conn, papers, _INSERT_COLUMNS, values)


def _ids_of(conn: Connection, arxiv_ids: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for n in range(0, len(arxiv_ids), 2000):
        ids.update(conn.execute(select(papers.c.arxiv_id, papers.c.id).where(papers.c.arxiv_id.in_(arxiv_ids[n : n + 2000]))).all())
    return ids


def _insert_children(conn: Connection, items: list[tuple[int, Prepared]]) -> None:
    authors = [(pk, i, name, key) for pk, p in items for i, (name, key) in enumerate(zip(p.record.authors, p.author_keys))]
    cats = [
        (pk, scheme, code, i)
        for pk, p in items
        for scheme, codes in (("arxiv", p.record.categories), ("acm", p.record.acm_classes), ("msc", p.record.msc_classes))
        for i, code in enumerate(codes)
    ]
    bulk_insert(conn, paper_authors, ("paper_id", "position", "name", "name_key"), authors)
    bulk_insert(conn, paper_categories, ("paper_id", "scheme", "code", "position"), cats)


_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def bulk_insert(conn: Connection, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT many plain rows straight through the driver's executemany.

    For the ~600,000 author and category rows of a full import, SQLAlchemy's per-row parameter
    processing cost more than the inserts themselves (docs/benchmarks.md, import); these columns
    need no type conversion, so the rows go to the driver as they are.
    """
    if not rows:
        return
    mark = _PLACEHOLDER[conn.dialect.paramstyle]
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})", rows)


def _as_record(paper: Paper) -> PaperRecord:
    return PaperRecord(**{name: getattr(paper, name) for name in _RECORD_FIELDS})


_PAPER_SELECT = [
    papers.c.id, papers.c.upvotes, papers.c.comment_count, papers.c.submitted_by, papers.c.submitted_at, papers.c.hidden_at,
    papers.c.withdrawn, papers.c.hf_upvotes, papers.c.hf_comments, papers.c.github_repo, papers.c.project_page, papers.c.activity,
    papers.c.title_html, papers.c.abstract_html, papers.c.math_version,
    *(papers.c[name] for name in _PAPER_COLUMNS if name != "primary_category"),
]  # fmt: skip


def get_papers(conn: Connection, ids: list[int]) -> list[Paper]:
    """Full papers (authors and categories included) for row ids, in the order of ``ids``."""
    if not ids:
        return []
    rows = conn.execute(
        select(*_PAPER_SELECT, users.c.username.label("submitter"))
        .outerjoin(users, users.c.id == papers.c.submitted_by)
        .where(papers.c.id.in_(ids))
    ).mappings().all()
    authors: dict[int, list[str]] = defaultdict(list)
    for pid, name in conn.execute(
        select(paper_authors.c.paper_id, paper_authors.c.name)
        .where(paper_authors.c.paper_id.in_(ids))
        .order_by(paper_authors.c.paper_id, paper_authors.c.position)
    ):
        authors[pid].append(name)
    cats: dict[tuple[int, str], list[str]] = defaultdict(list)
    for pid, scheme, code in conn.execute(
        select(paper_categories.c.paper_id, paper_categories.c.scheme, paper_categories.c.code)
        .where(paper_categories.c.paper_id.in_(ids))
        .order_by(paper_categories.c.paper_id, paper_categories.c.scheme, paper_categories.c.position)
    ):
        cats[pid, scheme].append(code)
    by_id = {}
    for row in rows:
        pid = row["id"]
        by_id[pid] = Paper(
            **{k: v for k, v in row.items()},
            authors=authors.get(pid, []),
            categories=cats.get((pid, "arxiv"), []),
            acm_classes=cats.get((pid, "acm"), []),
            msc_classes=cats.get((pid, "msc"), []),
        )
    return [by_id[i] for i in ids if i in by_id]


def find_paper(conn: Connection, text: str, *, include_hidden: bool = False) -> Paper:
    """The paper ``text`` names (any form :func:`~paperboy.papers.ids.parse_arxiv_id` takes), or
    :class:`~paperboy.errors.NotFound` — also for a hidden paper unless ``include_hidden``."""
    try:
        arxiv = parse_arxiv_id(text)
    except InvalidArxivId:
        raise NotFound("No such paper.") from None
    paper = get_paper(conn, arxiv.id)
    if paper is None:
        raise NotFound(f"Paperboy has no paper {arxiv.id} yet.")
    if paper.hidden_at is not None and not include_hidden:
        raise NotFound(f"arXiv:{arxiv.id} has been hidden by the moderators.")
    return paper


def get_paper(conn: Connection, arxiv_id: str) -> Paper | None:
    """The paper with this canonical (versionless) arXiv id, or ``None``."""
    pid = conn.execute(select(papers.c.id).where(papers.c.arxiv_id == arxiv_id)).scalar()
    if pid is None:
        return None
    return get_papers(conn, [pid])[0]


# --- what the community writes on a paper: its counters, its visibility, who submitted it -----

def add_upvotes(conn: Connection, paper_id: int, delta: int) -> None:
    """Move the paper's vote counter in the transaction that adds or removes the vote row."""
    conn.execute(update(papers).where(papers.c.id == paper_id).values(upvotes=papers.c.upvotes + delta))


def set_comment_count(conn: Connection, paper_id: int, count) -> None:
    """Store the paper's visible comments count: a number, or the community's counting subquery,
    so the count is taken in the same statement that stores it."""
    conn.execute(update(papers).where(papers.c.id == paper_id).values(comment_count=count))


def set_hidden(conn: Connection, paper_id: int, hidden: bool) -> None:
    conn.execute(update(papers).where(papers.c.id == paper_id).values(hidden_at=clock.now() if hidden else None))


def mark_submitted(conn: Connection, arxiv_id: str, user_id: int, at: dt.datetime) -> None:
    """Put a stored paper on the feed of ``at``'s day as ``user_id``'s submission."""
    conn.execute(update(papers).where(papers.c.arxiv_id == arxiv_id).values(submitted_by=user_id, submitted_at=at, announced=at.date()))


def vote_counts(conn: Connection, paper_ids: list[int]) -> dict[int, int]:
    """Current vote counts of these papers."""
    return dict(conn.execute(select(papers.c.id, papers.c.upvotes).where(papers.c.id.in_(paper_ids))).all()) if paper_ids else {}


def count_papers(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(papers)).scalar_one()


def newest_paper_id(conn: Connection) -> int:
    """The id of the paper stored last (0 before the first): ids only grow, so a larger one means
    papers arrived since it was last read."""
    return conn.execute(select(func.max(papers.c.id))).scalar() or 0


def stats(conn: Connection) -> dict:
    """Counts for `paperboy stats`: papers, distinct announcement days, first and last day."""
    row = conn.execute(
        select(
            func.count(),
            func.count(papers.c.announced.distinct()),
            func.min(papers.c.announced),
            func.max(papers.c.announced),
        ).select_from(papers)
    ).one()
    authors = conn.execute(select(func.count(paper_authors.c.name_key.distinct()))).scalar_one()
    return {
        "papers": row[0],
        "days": row[1],
        "first_day": row[2].isoformat() if row[2] else None,
        "last_day": row[3].isoformat() if row[3] else None,
        "authors": authors,
    }


# --- ingestion: listings and Hugging Face --------------------------------------------------------

@dataclass(slots=True)
class PaperState:
    version: int | None
    withdrawn: bool


def paper_states(conn: Connection, arxiv_ids: list[str]) -> dict[str, PaperState]:
    """Stored version and withdrawn flag of those of ``arxiv_ids`` the store has (one query per 500)."""
    out: dict[str, PaperState] = {}
    unique = list(dict.fromkeys(arxiv_ids))
    for n in range(0, len(unique), 500):
        rows = conn.execute(
            select(papers.c.arxiv_id, papers.c.version, papers.c.withdrawn).where(papers.c.arxiv_id.in_(unique[n : n + 500]))
        )
        out.update({row.arxiv_id: PaperState(row.version, bool(row.withdrawn)) for row in rows})
    return out


def mark_withdrawn(conn: Connection, arxiv_ids: list[str], *, withdrawn: bool = True) -> int:
    """Set (or clear) the withdrawn flag of these papers; returns how many changed. Bumps the content version."""
    if not arxiv_ids:
        return 0
    result = conn.execute(
        update(papers)
        .where(papers.c.arxiv_id.in_(list(dict.fromkeys(arxiv_ids))), papers.c.withdrawn != withdrawn)
        .values(withdrawn=withdrawn, modified_at=clock.now())
    )
    if result.rowcount:
        bump_content_version(conn)
    return result.rowcount


def set_hf_details(conn: Connection, details: dict[str, tuple[int | None, str | None, str | None]]) -> int:
    """Store Hugging Face's (comment count, GitHub repository, project page) of papers we have; a
    value HF does not give (None) keeps what is stored. Returns how many papers changed."""
    if not details:
        return 0
    current = {}
    ids = list(details)
    for n in range(0, len(ids), 500):
        rows = conn.execute(
            select(papers.c.arxiv_id, papers.c.hf_comments, papers.c.github_repo, papers.c.project_page)
            .where(papers.c.arxiv_id.in_(ids[n : n + 500]))
        )
        current.update({row[0]: tuple(row[1:]) for row in rows})
    changes = []
    for key, new in details.items():
        if key not in current:
            continue
        merged = tuple(value if value is not None else old for value, old in zip(new, current[key]))
        if merged != current[key]:
            changes.append({"_aid": key, "_c": merged[0], "_g": merged[1], "_p": merged[2]})
    if changes:
        conn.execute(
            update(papers).where(papers.c.arxiv_id == bindparam("_aid"))
            .values(hf_comments=bindparam("_c"), github_repo=bindparam("_g"), project_page=bindparam("_p")),
            changes,
        )  # fmt: skip
        bump_content_version(conn)
    return len(changes)


def set_hf_upvotes(conn: Connection, counts: dict[str, int]) -> int:
    """Store Hugging Face's upvote counts (never touching ``upvotes``); returns how many changed."""
    if not counts:
        return 0
    current = {}
    ids = list(counts)
    for n in range(0, len(ids), 500):
        current.update(conn.execute(select(papers.c.arxiv_id, papers.c.hf_upvotes).where(papers.c.arxiv_id.in_(ids[n : n + 500]))).all())
    changes = [{"_aid": key, "_hf": value} for key, value in counts.items() if key in current and current[key] != value]
    if changes:
        conn.execute(
            update(papers).where(papers.c.arxiv_id == bindparam("_aid")).values(hf_upvotes=bindparam("_hf")), changes
        )
        bump_content_version(conn)
    return len(changes)
