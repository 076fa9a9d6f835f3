"""A mirror of Hugging Face's Daily Papers: the papers HF's community picked for a day, with HF's upvotes.

``GET {base}/api/daily_papers?p=0&limit=100&date=YYYY-MM-DD`` answers a JSON array, one entry per
paper — the query ``huggingface_hub``'s ``list_daily_papers`` sends (parameters in its order). The
entry format grew over the years (all generations are parsed, see :func:`parse_daily_entry`):

* 2024-05: ``{paper: {id, authors, publishedAt, title, summary, upvotes}, publishedAt, title,
  mediaUrl, numComments}``;
* 2024-06: + ``thumbnail``, ``submittedBy`` (``name`` holds the username), ``mediaUrls``;
* 2024-12: + ``paper.discussionId``;
* 2025-03: + top-level ``summary``, ``isAuthorParticipating``, ``paper.githubRepo``/``ai_keywords``;
  the top-level ``publishedAt`` is no longer the daily-list time;
* 2025-06: + ``paper.submittedOnDailyAt``/``submittedOnDailyBy``, ``paper.ai_summary``;
* 2025-10: + ``organization``, ``paper.githubStars``; 2026: + ``paper.ai_summary_model`` …

What is kept: the paper (a :class:`PaperRecord` — id, title, authors, abstract, first-version day;
HF knows no categories or versions), HF's upvote count, and a few extras for display and logs
(:class:`HfPaper`). :func:`ingest_hf_day` stores HF's count in ``papers.hf_upvotes`` — never in
our own ``upvotes`` — and puts papers we do not have yet on that day's feed. Papers we already have
keep everything arXiv said about them (HF's copy of a title or abstract is not better than
arXiv's); only their ``hf_upvotes`` changes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from dataclasses import replace

import orjson
from sqlalchemy import Connection, Engine

from paperboy.ingest import fields
from paperboy.ingest.http import DEFAULT_PACE, RetryPolicy, ServiceClient, ServiceError, ServiceUnavailable
from paperboy.ingest.pages import DayReport, store_page
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.papers.model import InvalidRecord, PaperRecord
from paperboy.papers.normalize import normalize_optional, normalize_text, split_glued_authors
from paperboy.store import repo

__all__ = [
    "HF_BASE_URL",
    "HfClient",
    "HfDaySummary",
    "HfPaper",
    "fetch_hf_day",
    "ingest_hf_day",
    "mirror_hf_day",
    "parse_daily_entry",
    "parse_daily_papers",
]

log = logging.getLogger(__name__)

HF_BASE_URL = "https://huggingface.co"
#: Papers per request; a day rarely has more than 50, and pages are fetched until one is short.
PAGE_SIZE = 100
MAX_PAGES = 10
MAX_BODY_BYTES = 16 * 1024 * 1024


#: More upvotes than any paper could have: a count beyond it is a broken entry (and would overflow the column).
MAX_UPVOTES = 1_000_000_000


class BadEntry(InvalidRecord):
    """One entry cannot be used (no arXiv id, no title); the message says why."""


@dataclass(slots=True)
class HfPaper:
    """One Daily Papers entry: the paper, HF's upvote count and a few HF-only details."""

    record: PaperRecord
    hf_upvotes: int | None = None
    submitted_by: str | None = None  # HF username of who put it on the daily list
    submitted_at: dt.datetime | None = None
    num_comments: int = 0
    ai_summary: str | None = None
    github_repo: str | None = None
    project_page: str | None = None
    organization: str | None = None
    withdrawn: bool = False


# --- parsing (pure) ----------------------------------------------------------------------------

def parse_daily_papers(body: bytes | str | list) -> list[HfPaper]:
    """The entries of a ``/api/daily_papers`` answer (JSON text or already decoded).

    Entries without a usable arXiv id or title are skipped (and logged); the same paper twice is
    kept once. Raises :class:`~paperboy.ingest.http.ServiceUnavailable` for text that is not JSON
    (typically cut short) and :class:`~paperboy.ingest.http.ServiceError` for JSON that is not an
    array.
    """
    if isinstance(body, (bytes, str)):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise ServiceUnavailable(f"the Daily Papers answer is not valid JSON (truncated?): {e}") from None
    else:
        data = body
    if not isinstance(data, list):
        if isinstance(data, dict) and "error" in data:
            raise ServiceError(f"Hugging Face answered with an error: {str(data['error'])[:200]}")
        raise ServiceError(f"the Daily Papers answer is not a JSON array but {type(data).__name__}")
    out: list[HfPaper] = []
    seen: set[str] = set()
    for n, entry in enumerate(data):
        try:
            item = parse_daily_entry(entry)
        except InvalidRecord as e:  # BadEntry, or a field out of range (PaperRecord's checks)
            log.warning("Daily Papers entry %d skipped: %s", n, e)
            continue
        if item.record.arxiv_id not in seen:
            seen.add(item.record.arxiv_id)
            out.append(item)
    return out


def parse_daily_entry(entry: dict) -> HfPaper:
    """One entry, nested (``{"paper": {…}, …}``, the list format) or flat (``/api/papers/{id}``).

    Field by field as ``huggingface_hub`` reads them (the top level wins for the id and title, the
    nested paper for the abstract, authors, arXiv date and upvotes), except that 0 upvotes is 0.
    """
    if not isinstance(entry, dict):
        raise BadEntry("not a JSON object")
    paper = entry.get("paper")
    nested = isinstance(paper, dict)
    paper = paper if nested else {}

    def pick(*values):
        return next((v for v in values if v not in (None, "", [], {})), None)

    raw_id = pick(entry.get("id"), paper.get("id"))
    if not isinstance(raw_id, str):
        raise BadEntry("no paper id")
    try:
        arxiv = parse_arxiv_id(raw_id)
    except InvalidArxivId as e:
        raise BadEntry(str(e)) from None
    title = pick(entry.get("title"), paper.get("title"))
    title = normalize_text(title) if isinstance(title, str) else ""
    if not title:
        raise BadEntry(f"{arxiv.id}: no title")
    abstract = pick(paper.get("summary"), entry.get("summary"))
    authors_raw = pick(paper.get("authors"), entry.get("authors")) or []
    names = [normalize_text(a.get("name") or "") for a in authors_raw if isinstance(a, dict) and isinstance(a.get("name"), str)]
    # The arXiv date: the nested paper's publishedAt; a flat object's own publishedAt.
    published = fields.iso_stamp(paper.get("publishedAt") if nested else entry.get("publishedAt"))
    if published is None and nested:
        published = fields.iso_stamp(entry.get("publishedAt"))
    # When it joined the daily list: explicit fields first (the top-level publishedAt of 2025-03 on
    # is the arXiv time shifted, not the list time).
    submitted_at = fields.iso_stamp(pick(paper.get("submittedOnDailyAt"), entry.get("submittedOnDailyAt")))
    if submitted_at is None and nested:
        listed = fields.iso_stamp(entry.get("publishedAt"))
        # Before the arXiv time it cannot be the list time (2025-03: arXiv time minus 4 hours).
        submitted_at = listed if listed and (published is None or listed >= published) else None
    upvotes = next((v for v in (paper.get("upvotes"), entry.get("upvotes")) if isinstance(v, int) and not isinstance(v, bool)), None)
    if upvotes is not None and upvotes > MAX_UPVOTES:
        raise BadEntry(f"{arxiv.id}: {upvotes} upvotes is more than {MAX_UPVOTES:,}")
    submitter = pick(entry.get("submittedBy"), paper.get("submittedOnDailyBy"), entry.get("submittedOnDailyBy"))
    organization = pick(entry.get("organization"), paper.get("organization"))

    record = PaperRecord(
        arxiv_id=arxiv.id,
        version=None,  # HF does not say which version it shows
        title=title,
        abstract=normalize_text(abstract) if isinstance(abstract, str) else "",
        authors=[n for n in split_glued_authors(names) if n],
        published=published.date() if published else None,
        source="hf",
    )
    return HfPaper(
        record=record,
        hf_upvotes=max(0, upvotes) if upvotes is not None else None,
        submitted_by=_username(submitter),
        submitted_at=submitted_at,
        num_comments=entry.get("numComments") if isinstance(entry.get("numComments"), int) else 0,
        ai_summary=_text(pick(entry.get("ai_summary"), paper.get("ai_summary"))),
        github_repo=_text(pick(entry.get("githubRepo"), paper.get("githubRepo"))),
        project_page=_text(pick(entry.get("projectPage"), paper.get("projectPage"))),
        organization=_text((organization or {}).get("fullname") or (organization or {}).get("name")) if isinstance(organization, dict) else None,
        withdrawn=bool(pick(paper.get("withdrawnAt"), entry.get("withdrawnAt"))),
    )


def _username(user) -> str | None:
    """HF's username: ``user`` in newer objects, ``name`` in the 2024 ones (and in both since)."""
    if not isinstance(user, dict):
        return None
    return _text(user.get("user") if isinstance(user.get("user"), str) else user.get("name"))


def _text(value) -> str | None:
    return normalize_optional(value) if isinstance(value, str) else None


# --- ingesting ---------------------------------------------------------------------------------

@dataclass(slots=True)
class HfDaySummary(DayReport):
    """What :func:`ingest_hf_day` did: ``new`` papers put on the day's feed, ``hf_upvotes`` counts
    changed (new papers included), ``unchanged`` known papers whose count did not move."""

    day: dt.date
    entries: int = 0
    new: int = 0
    hf_upvotes: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    dry_run: bool = False
    message: str = ""
    changed_ids: list[str] = field(default_factory=list)


def ingest_hf_day(engine: Engine, items: list[HfPaper], day: dt.date, *, dry_run: bool = False) -> HfDaySummary:
    """Store a day of HF's picks in one transaction.

    * a paper we do not have is stored and lands on ``day``'s feed (``announced = day``);
    * a paper we have keeps its metadata and its feed day (arXiv's word wins over HF's copy);
    * every paper's ``papers.hf_upvotes`` becomes HF's count; our ``upvotes`` are never touched.

    Idempotent; with ``dry_run`` everything is done and rolled back, so the counts are exact.
    """
    summary = HfDaySummary(day=day, entries=len(items), dry_run=dry_run)
    if not items:
        summary.message = f"Hugging Face lists no daily papers for {day:%a %d %b %Y}: nothing to do."
        return summary
    items = list({item.record.arxiv_id: item for item in items}.values())  # one entry per paper, the last wins
    summary.entries = len(items)
    store_page(engine, items, lambda conn, page: _apply_day(conn, page, summary), dry_run=dry_run)
    summary.message = (
        f"{'Would mirror' if dry_run else 'Mirrored'} Hugging Face's Daily Papers of {day:%a %d %b %Y}: "
        f"{summary.entries} papers, {summary.new} new to us, {summary.hf_upvotes} upvote counts changed"
    )
    return summary


def _apply_day(conn: Connection, items: list[HfPaper], summary: HfDaySummary) -> None:
    """A day's picks to the store, counted into ``summary`` (inside :func:`ingest_hf_day`'s transaction)."""
    day = summary.day
    known = repo.paper_states(conn, [item.record.arxiv_id for item in items])
    fresh = [item for item in items if item.record.arxiv_id not in known]
    counts = repo.upsert_papers(conn, [replace(item.record, announced=day) for item in fresh])
    summary.new = counts.new
    summary.changed_ids.extend(counts.changed_ids)
    votes = {item.record.arxiv_id: item.hf_upvotes for item in items if item.hf_upvotes is not None}
    summary.hf_upvotes = repo.set_hf_upvotes(conn, votes)
    repo.set_hf_details(conn, {item.record.arxiv_id: (item.num_comments, _url(item.github_repo), _url(item.project_page))
                               for item in items})  # fmt: skip
    summary.withdrawn = repo.mark_withdrawn(conn, [item.record.arxiv_id for item in items if item.withdrawn])
    moved_known = summary.hf_upvotes - sum(1 for item in fresh if item.hf_upvotes is not None)
    summary.unchanged = len(items) - len(fresh) - moved_known


def _url(value: str | None) -> str | None:
    """A link HF gives, kept only when it is an http(s) URL of sane length (it is shown and served)."""
    return value if value and value.startswith(("https://", "http://")) and len(value) <= 500 else None


# --- fetching ----------------------------------------------------------------------------------

def _describe(status: int, body: bytes) -> str:
    """HF's own words from an error body (``{"error": "…"}``), else the start of the text."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:200].decode("utf-8", "replace").strip()
        return "" if text.lstrip().startswith("<") else text
    if isinstance(data, dict) and data.get("error"):
        error = data["error"]
        return "; ".join(map(str, error)) if isinstance(error, list) else str(error)[:200]
    return ""


class HfClient(ServiceClient):
    """A polite client of Hugging Face's API (:class:`~paperboy.ingest.http.ServiceClient`),
    ``https://huggingface.co`` unless told otherwise (any server speaking the same API works; a
    sub-path base is kept). Without a ``limiter`` it paces itself at one request a second (a private
    :class:`~paperboy.ingest.http.RateLimiter`); the deployment's shares the instance-wide one
    (:func:`paperboy.ingest.clients.client_for`)."""

    name = "Hugging Face"
    accept = "application/json"
    max_bytes = MAX_BODY_BYTES
    default_url = HF_BASE_URL
    default_pace = DEFAULT_PACE["hf"]
    policy = RetryPolicy(retries=3, backoff=2.0, max_retry_after=600.0)

    def daily_papers(self, day: dt.date, *, page: int = 0, page_size: int = PAGE_SIZE) -> list[HfPaper]:
        """One page of the Daily Papers of ``day`` (the query ``huggingface_hub`` sends)."""
        params = {"p": str(page), "limit": str(page_size), "date": day.isoformat()}
        return self._get(params, parse_daily_papers, _describe, path="api/daily_papers")


def fetch_hf_day(
    client: HfClient,
    day: dt.date | str | None = None,
    *,
    page_size: int = PAGE_SIZE,
    max_pages: int = MAX_PAGES,
) -> list[HfPaper]:
    """HF's Daily Papers for ``day``, every page of them, fetched with ``client``.

    Pages (``p=0, 1, …``) are fetched while they come back full, up to ``max_pages``. Raises
    :class:`~paperboy.ingest.http.ServiceUnavailable` when retries do not clear,
    :class:`~paperboy.ingest.http.ServiceError` for answers that will not improve (400 for a bad
    date, 404 …).
    """
    if day is None:
        raise ValueError("give the day to fetch")
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    items: list[HfPaper] = []
    seen: set[str] = set()
    for page in range(max_pages):
        batch = client.daily_papers(day, page=page, page_size=page_size)
        added = [item for item in batch if item.record.arxiv_id not in seen]
        seen.update(item.record.arxiv_id for item in added)
        items.extend(added)
        # A short page is the last; a page with nothing new means the server ignores p.
        if len(batch) < page_size or not added:
            break
    return items


def mirror_hf_day(engine: Engine, client: HfClient, day: dt.date, *, dry_run: bool = False) -> HfDaySummary:
    """Fetch HF's Daily Papers for ``day`` and store them: the scheduled job in one call.

    Idempotent, so it can run several times a day (and again the next day) to follow HF's upvote
    counts as they grow. Raises what :func:`fetch_hf_day` raises.
    """
    items = fetch_hf_day(client, day)
    return ingest_hf_day(engine, items, day, dry_run=dry_run)
