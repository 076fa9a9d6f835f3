"""arXiv's daily listings (``rss.arxiv.org``): what was announced today, in RSS 2.0 or Atom.

A listing is one announcement day of one or more categories (``/rss/cs.CL+cs.LG``). Every item
carries an *announce type*, and that type decides what the item does to the store
(:func:`ingest_listing`):

``new``
    First announcement of a paper whose primary category is in the listing: it lands on the
    listing day's feed (``announced`` = the listing day).
``cross``
    A paper whose primary category is elsewhere, announced into this listing. The item's
    categories are the paper's own, **primary first** (arXiv's feed generator writes the paper's
    ``abs_categories`` in order), so the primary category is the first one, never the listing's.
    Most cross items are papers announced today in their primary archive; some are old papers
    cross-listed later (``2305.18699v1`` in the 26 March 2024 stat listing). See
    :func:`cross_announced_day` for how the two are told apart.
``replace`` / ``replace-cross``
    A new version of an announced paper: the version and ``updated`` move forward, the feed day
    does not (:func:`~paperboy.papers.model.merge_records` keeps the earliest day). A replacement
    of a paper we do not have is stored *without* a feed day (``announced`` = ``None``): its first
    version was announced on some earlier day the listing does not name, and putting it on today's
    feed would show an old paper as new. Because the store keeps the *earliest* announced day
    ever seen, a guessed day that is too early could never be corrected, while an unknown day is
    filled in by the first source that knows it (an OAI-PMH harvest, a dump). The paper is still
    stored, searchable and has its page.

Withdrawals: arXiv withdraws a paper by announcing a new version marked withdrawn, which appears
in the listing as a replacement. Listings have no withdrawn flag and no comments field, so a
replacement counts as withdrawn when its abstract (or an ``arxiv:comment``, should a feed carry one)
is a withdrawal notice — "This paper has been withdrawn by the authors …", "Withdrawn." (see
:func:`is_withdrawal_notice`); ``papers.withdrawn`` is then set. A later, ordinary replacement
clears it again.

arXiv leaves replacements beyond the fifth version out of listings; those reach the store through
the API or OAI-PMH. Listings are empty on Saturdays, Sundays and arXiv holidays (``<skipDays>``): ingesting one is a
no-op that says so. Hostile XML (a DTD, entities — "billion laughs", external entities) is
refused unread (:func:`paperboy.ingest.fields.xml_root`).

:class:`ListingsClient` does the HTTP with the manners of :mod:`paperboy.ingest.http`
(:class:`~paperboy.ingest.http.ServiceClient`, like every source): one request at a time through
a limiter (any object with a ``slot()`` context manager, e.g. the shared cross-process one), the
deployment's User-Agent, and retries with backoff that honour ``Retry-After`` for timeouts,
refused connections, 429/5xx and bodies cut short.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from paperboy.ingest import fields
from paperboy.ingest.http import DEFAULT_PACE, RetryPolicy, ServiceClient, ServiceError, ServiceUnavailable
from paperboy.ingest.pages import DayReport, store_page
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.papers.model import InvalidRecord, PaperRecord
from paperboy.papers.normalize import ARXIV_ARCHIVES, ARXIV_CATEGORY, normalize_optional, normalize_text, split_author_string, split_classifications
from paperboy.store import repo

__all__ = [
    "ANNOUNCE_TYPES",
    "RSS_BASE_URL",
    "Listing",
    "ListingItem",
    "ListingSummary",
    "ListingsClient",
    "cross_announced_day",
    "fetch_listing",
    "ingest_from_feed",
    "ingest_listing",
    "is_withdrawal_notice",
    "listing_url",
    "parse_categories",
    "parse_listing",
]

log = logging.getLogger(__name__)

RSS_BASE_URL = "https://rss.arxiv.org"
ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
REPLACE_TYPES = ("replace", "replace-cross")
FORMATS = ("rss", "atom")
#: arXiv caps a listing at 2,000 items (~4 MB); far more than that is not a listing.
MAX_BODY_BYTES = 32 * 1024 * 1024
ACCEPT = "application/rss+xml, application/atom+xml"

_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_ET = ZoneInfo("America/New_York")  # arXiv's business day, the listing's date
_OAI_PREFIX = re.compile(r"^\s*oai:arXiv\.org:", re.IGNORECASE)
# "arXiv:2203.01250v3 Announce Type: replace-cross \nAbstract: We consider …"
_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce\s+Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?(?P<abstract>.*)\Z",
    re.IGNORECASE | re.DOTALL,
)
_NOUN = r"(?:paper|article|submission|manuscript|preprint|work|version|report|note)"
_WITHDRAWAL = re.compile(
    rf"^\s*(?:\W\s*)?withdrawn\b"  # "Withdrawn.", "Withdrawn due to …", "[withdrawn] …"
    rf"|^\s*withdrawal\b"  # "Withdrawal: …"
    rf"|\b{_NOUN}\s+(?:has\s+been|had\s+been|is\s+(?:being\s+)?|was\s+|is\s+hereby\s+)withdrawn\b"
    rf"|\bwithdrawn\s+by\s+(?:the\s+|its\s+|all\s+)?(?:authors?|submitter|arxiv\b|administrators?)",
    re.IGNORECASE,
)


# --- parsing (pure) ----------------------------------------------------------------------------

@dataclass(slots=True)
class ListingItem:
    """One listing entry: the paper as the listing describes it, and how it was announced."""

    record: PaperRecord
    announce_type: str  # one of ANNOUNCE_TYPES
    withdrawn: bool = False


@dataclass(slots=True)
class Listing:
    """One announcement day of one or more categories. ``skipped`` counts unusable entries."""

    day: dt.date
    categories: list[str]
    items: list[ListingItem] = field(default_factory=list)
    format: str = "rss"
    skipped: int = 0

    @property
    def empty(self) -> bool:
        return not self.items

    def count(self, announce_type: str) -> int:
        return sum(1 for item in self.items if item.announce_type == announce_type)


def parse_listing(xml: bytes) -> Listing:
    """Parse an RSS 2.0 or Atom listing from ``rss.arxiv.org``.

    Raises :class:`~paperboy.ingest.http.ServiceError` for XML that declares a DTD or entities
    (refused unread) and for a feed without a date, and
    :class:`~paperboy.ingest.http.ServiceUnavailable` for a body that is not well-formed (cut short)
    or not a feed at all (an HTML error page).
    """
    root = fields.xml_root(xml, "the listing")
    if root.tag == "rss" and root.find("channel") is not None:
        return _parse_rss(root.find("channel"))
    if root.tag == f"{_ATOM}feed":
        return _parse_atom(root)
    raise ServiceUnavailable(f"not an RSS or Atom listing (root element {root.tag!r})")


def _parse_rss(channel: Element) -> Listing:
    elements = channel.findall("item")
    day = _day_as_written(fields.text(channel, "pubDate"))
    if day is None:
        day = _eastern_day(fields.text(channel, "lastBuildDate"))
    if day is None:
        day = next(filter(None, (_day_as_written(fields.text(e, "pubDate")) for e in elements)), None)
    if day is None:
        raise ServiceError("the listing has no date (no pubDate or lastBuildDate)")
    self_link = next((link.get("href") for link in channel.findall(f"{_ATOM}link") if link.get("rel") == "self"), None)
    categories = _listing_categories(self_link or fields.text(channel, "link"), fields.text(channel, "title"))
    listing = Listing(day=day, categories=categories, format="rss")
    for element in elements:
        categories_ = [c.text or "" for c in element.findall("category")]
        _add_item(listing, element, guid=fields.text(element, "guid"), link=fields.text(element, "link"),
                  description=fields.text(element, "description"), categories=categories_)  # fmt: skip
    return listing


def _parse_atom(feed: Element) -> Listing:
    elements = feed.findall(f"{_ATOM}entry")
    day = next(filter(None, (_day_as_written(fields.text(e, f"{_ATOM}published")) for e in elements)), None)
    if day is None:
        day = _eastern_day(fields.text(feed, f"{_ATOM}updated"))
    if day is None:
        raise ServiceError("the listing has no date (no published or updated)")
    self_link = next((link.get("href") for link in feed.findall(f"{_ATOM}link") if link.get("rel") in ("self", None)), None)
    categories = _listing_categories(self_link or fields.text(feed, f"{_ATOM}id"), fields.text(feed, f"{_ATOM}title"))
    listing = Listing(day=day, categories=categories, format="atom")
    for element in elements:
        link = next((ln.get("href") for ln in element.findall(f"{_ATOM}link") if ln.get("rel") in ("alternate", None)), None)
        categories_ = [c.get("term", "") for c in element.findall(f"{_ATOM}category")]
        _add_item(listing, element, guid=fields.text(element, f"{_ATOM}id"), link=link,
                  description=fields.text(element, f"{_ATOM}summary"), categories=categories_)  # fmt: skip
    return listing


def _add_item(listing: Listing, element: Element, *, guid, link, description, categories) -> None:
    try:
        item = _item(element, listing.day, guid=guid, link=link, description=description, categories=categories)
    except InvalidRecord as e:  # a field out of range: this item is skipped, the listing is kept
        log.warning("listing entry %s skipped: %s", (guid or link or "?")[:100], e)
        item = None
    if item is None:
        listing.skipped += 1
    else:
        listing.items.append(item)


def _item(element: Element, day: dt.date, *, guid: str | None, link: str | None,
          description: str | None, categories: list[str]) -> ListingItem | None:  # fmt: skip
    """The entry as a :class:`ListingItem`, or ``None`` (logged) when it has no id, title or type."""
    parsed = _DESCRIPTION.match(description or "")
    arxiv = None
    for candidate in (_OAI_PREFIX.sub("", guid or ""), parsed["id"] if parsed else "", link or ""):
        if candidate.strip():
            try:
                arxiv = parse_arxiv_id(candidate)
                break
            except InvalidArxivId:
                continue
    title = normalize_text(fields.text(element, "title") or fields.text(element, f"{_ATOM}title") or "")
    announce_type = normalize_text(fields.text(element, f"{_ARXIV}announce_type") or (parsed["type"] if parsed else "")).lower()
    if arxiv is None or not title or announce_type not in ANNOUNCE_TYPES:
        log.warning("listing entry skipped (id %r, announce type %r)", (guid or link or "")[:80], announce_type[:20])
        return None
    version = arxiv.version
    if version is None and parsed:
        try:
            version = parse_arxiv_id(parsed["id"]).version
        except InvalidArxivId:
            pass
    abstract = normalize_text(parsed["abstract"] if parsed else description or "")
    comment = normalize_optional(fields.text(element, f"{_ARXIV}comment"))
    cats, acm, msc = split_classifications([c for c in categories if c])
    replacement = announce_type in REPLACE_TYPES
    if announce_type == "new":
        announced = day
    elif announce_type == "cross":
        announced = cross_announced_day(arxiv.id, version, day)
    else:
        announced = None  # a replacement: the paper was announced on an earlier, unnamed day
    record = PaperRecord(
        arxiv_id=arxiv.id,
        version=version,
        title=title,
        abstract=abstract,
        authors=split_author_string(fields.text(element, f"{_DC}creator") or ""),
        categories=cats,
        acm_classes=acm,
        msc_classes=msc,
        comment=comment,
        journal_ref=normalize_optional(_first_text(element, "journal_reference", "journal_ref")),
        doi=normalize_optional(_first_text(element, "DOI", "doi")),
        license=normalize_optional(fields.text(element, f"{_DC}rights")),
        published=None,  # a listing does not say when the first version was submitted
        # The day the replacement was announced: the closest a listing comes to its submission day.
        updated=day if replacement else None,
        announced=announced,
        source="arxiv-listing",
    )
    withdrawn = replacement and (is_withdrawal_notice(abstract) or is_withdrawal_notice(comment))
    return ListingItem(record=record, announce_type=announce_type, withdrawn=withdrawn)


def is_withdrawal_notice(text: str | None) -> bool:
    """Whether ``text`` (an abstract or comment) announces a withdrawal rather than a result.

    Matches arXiv's and authors' wording — "This paper has been withdrawn by the author due to …",
    "Withdrawn.", "The submission was withdrawn by arXiv administrators" — and not abstracts that
    merely use the word ("drugs withdrawn from the market").
    """
    return bool(text) and bool(_WITHDRAWAL.search(text))


def cross_announced_day(arxiv_id: str, version: int | None, day: dt.date) -> dt.date | None:
    """The feed day of a cross-listed paper we have not stored yet, or ``None`` if unknown.

    A cross-list of a paper announced today is its first version, numbered in the current month
    (or, in the first days of a month, the previous one: ids are handed out in sequence and the
    month can turn between submission and announcement). Such a paper gets today. An old paper
    cross-listed later (``2305.18699v1`` in a March 2024 listing), a later version or an old-style
    id gets ``None``: its real day comes from a source that knows it.
    """
    if version != 1 or "/" in arxiv_id:
        return None
    yymm = arxiv_id.split(".", 1)[0]
    year, month = 2000 + int(yymm[:2]), int(yymm[2:])
    months_back = (day.year - year) * 12 + (day.month - month)
    if months_back == 0 or (months_back == 1 and day.day <= 7):
        return day
    return None


def parse_categories(value: str | Sequence[str]) -> list[str]:
    """Categories from ``"cs.CL,cs.LG"``, ``"cs.CL+cs.LG"`` or a list; raises ValueError for non-categories."""
    parts = re.split(r"[\s,+]+", value) if isinstance(value, str) else [p for v in value for p in re.split(r"[\s,+]+", v)]
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        if not ARXIV_CATEGORY.fullmatch(part) or part.split(".", 1)[0] not in ARXIV_ARCHIVES:
            raise ValueError(f"{part!r} is not an arXiv category or archive (e.g. cs.CL, stat.ML, math)")
        if part not in out:
            out.append(part)
    if not out:
        raise ValueError("give at least one category, e.g. cs.CL")
    return out


def _listing_categories(link: str | None, title: str | None) -> list[str]:
    """The listing's categories from its feed URL (``…/rss/cs.LG+stat.ML``), else from its title."""
    if link:
        match = re.search(r"/(?:rss|atom)/([^/?#\s]+)", link)
        if match:
            return [c for c in match.group(1).split("+") if c]
    if title:
        head = title.split(" updates on ", 1)[0]
        return [c.strip() for c in head.split(",") if c.strip()]
    return []


def _first_text(element: Element, *names: str) -> str | None:
    for name in names:
        value = fields.text(element, f"{_ARXIV}{name}")
        if value is not None:
            return value
    return None


def _day_as_written(value: str | None) -> dt.date | None:
    """The date as written in an RFC 822 or ISO timestamp: listings stamp midnight, arXiv's time."""
    stamp = fields.rfc2822(value)
    return stamp.date() if stamp else fields.iso_day(value)


def _eastern_day(value: str | None) -> dt.date | None:
    """arXiv's (US Eastern) day of a generation timestamp such as ``lastBuildDate``."""
    stamp = fields.rfc2822(value) or fields.iso_stamp(value)
    return stamp.astimezone(_ET).date() if stamp else None


# --- ingesting ---------------------------------------------------------------------------------

@dataclass(slots=True)
class ListingSummary(DayReport):
    """What :func:`ingest_listing` did. ``new``/``cross``/``replaced`` count papers stored or changed by
    items of that type; ``withdrawn`` counts papers newly marked withdrawn (also counted in
    ``replaced``); ``unchanged`` counts items that changed nothing (e.g. the same listing again)."""

    day: dt.date
    categories: list[str] = field(default_factory=list)
    new: int = 0
    replaced: int = 0
    cross: int = 0
    withdrawn: int = 0
    unchanged: int = 0
    skipped: int = 0
    dry_run: bool = False
    message: str = ""
    changed_ids: list[str] = field(default_factory=list)


def ingest_listing(engine: Engine, listing: Listing, *, dry_run: bool = False) -> ListingSummary:
    """Apply a listing to the store in one transaction (see the module docstring for the rules).

    Idempotent: the same listing twice changes nothing the second time. With ``dry_run`` the work
    is done and rolled back, so the summary says exactly what a real run would do.
    """
    summary = ListingSummary(day=listing.day, categories=list(listing.categories), skipped=listing.skipped, dry_run=dry_run)
    names = "+".join(listing.categories) or "arXiv"
    if listing.empty:
        summary.message = (
            f"The {names} listing for {listing.day:%A %d %B %Y} is empty (arXiv announces nothing on "
            "weekends and holidays): nothing to do."
        )
        return summary

    store_page(engine, listing, lambda conn, page: _apply_listing(conn, page, summary), dry_run=dry_run)
    summary.message = (
        f"{'Would ingest' if dry_run else 'Ingested'} the {names} listing of {listing.day:%a %d %b %Y}: "
        f"{summary.new} new, {summary.cross} cross-listed, {summary.replaced} replaced "
        f"({summary.withdrawn} withdrawn), {summary.unchanged} unchanged"
        + (f", {summary.skipped} unusable entries skipped" if summary.skipped else "")
    )
    return summary


def _apply_listing(conn: Connection, listing: Listing, summary: ListingSummary) -> None:
    """The listing's changes to the store, counted into ``summary`` (inside :func:`ingest_listing`'s transaction)."""
    stored = repo.paper_states(conn, [item.record.arxiv_id for item in listing.items])
    groups: dict[str, list[PaperRecord]] = {"new": [], "cross": [], "replace": []}
    withdrawn: list[str] = []
    reinstated: list[str] = []
    for item in listing.items:
        rec = item.record
        state = stored.get(rec.arxiv_id)
        if item.withdrawn:
            withdrawn.append(rec.arxiv_id)
        if item.announce_type in REPLACE_TYPES:
            newer = state is None or not (state.version and rec.version) or rec.version > state.version
            if not newer:
                summary.unchanged += 1  # already at this version or later: leave it alone
                continue
            if state is not None and state.withdrawn and not item.withdrawn:
                reinstated.append(rec.arxiv_id)
            groups["replace"].append(rec)
        else:
            groups[item.announce_type].append(rec)

    for kind, records in groups.items():
        counts = repo.upsert_papers(conn, records)
        changed = counts.new + counts.updated
        if kind == "new":
            summary.new = changed
        elif kind == "cross":
            summary.cross = changed
        else:
            summary.replaced = changed
        summary.unchanged += counts.unchanged
        summary.changed_ids.extend(counts.changed_ids)
    summary.withdrawn = repo.mark_withdrawn(conn, withdrawn)
    repo.mark_withdrawn(conn, reinstated, withdrawn=False)


# --- fetching ----------------------------------------------------------------------------------

def listing_url(categories: str | Sequence[str], *, fmt: str = "rss", base_url: str = RSS_BASE_URL) -> str:
    """``https://rss.arxiv.org/rss/cs.CL+cs.LG`` for ``["cs.CL", "cs.LG"]``."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}")
    return f"{base_url.rstrip('/')}/{fmt}/{'+'.join(parse_categories(categories))}"


class ListingsClient(ServiceClient):
    """A polite client of arXiv's listing server (:class:`~paperboy.ingest.http.ServiceClient`),
    ``https://rss.arxiv.org`` unless told otherwise. Without a ``limiter`` it paces itself at arXiv's
    3 seconds (a private :class:`~paperboy.ingest.http.RateLimiter`); the deployment's shares the
    instance-wide one (:func:`paperboy.ingest.clients.client_for`)."""

    name = "arXiv's listing feed"
    accept = ACCEPT
    max_bytes = MAX_BODY_BYTES
    default_url = RSS_BASE_URL
    default_pace = DEFAULT_PACE["arxiv-rss"]
    policy = RetryPolicy(retries=3, backoff=2.0, max_retry_after=600.0)

    def listing(self, categories: str | Sequence[str], *, fmt: str = "rss") -> Listing:
        """Today's listing of ``categories`` (``"cs.CL,cs.LG"`` or a list), parsed."""
        path = listing_url(categories, fmt=fmt, base_url="")
        return self._get({}, parse_listing, path=path.lstrip("/"))


def fetch_listing(client: ListingsClient, categories: str | Sequence[str] = (), *, fmt: str = "rss") -> Listing:
    """Fetch and parse today's listing of ``categories`` (``"cs.CL,cs.LG"`` or a list) with ``client``.

    Raises :class:`~paperboy.ingest.http.ServiceUnavailable` when retries do not clear,
    :class:`~paperboy.ingest.http.ServiceError` otherwise.
    """
    return client.listing(categories, fmt=fmt)


def ingest_from_feed(
    engine: Engine,
    client: ListingsClient,
    categories: str | Sequence[str],
    *,
    fmt: str = "rss",
    dry_run: bool = False,
) -> ListingSummary:
    """Fetch today's listing of ``categories`` and ingest it: the daily job in one call.

    Safe to run more than once a day (the second run counts everything unchanged) and on weekends
    (the empty listing is a no-op). Raises what :func:`fetch_listing` raises.
    """
    listing = fetch_listing(client, categories, fmt=fmt)
    return ingest_listing(engine, listing, dry_run=dry_run)
