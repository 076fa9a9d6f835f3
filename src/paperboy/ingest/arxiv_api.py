"""The arXiv API (``export.arxiv.org/api/query``): fetch papers by id or search query as PaperRecords.

Two halves, so each can be tested and reused on its own:

* :func:`parse_feed` is pure: Atom bytes in, an :class:`ApiPage` of :class:`PaperRecord` out. It
  reads both the current (2026) responses and the older (2016-era) ones, and refuses hostile XML.
* :class:`ArxivApiClient` does the HTTP, following arXiv's terms of use for the API: **no more than
  one request every three seconds, one connection at a time, and a User-Agent that says who is
  asking** — the manners every client shares (:mod:`paperboy.ingest.http`). Each client is polite
  on its own through a private :class:`~paperboy.ingest.http.RateLimiter`; a process with several
  clients — or several processes — must share one limiter, which is why the limiter is a separate,
  replaceable object (:func:`paperboy.ingest.clients.client_for` gives the instance-wide one).

arXiv answers a bad request (``id_list=abc``) not with an HTTP error page but with an Atom feed
holding one entry titled "Error" whose summary explains the problem, usually with HTTP 400; that
becomes :class:`ArxivErrorFeed` carrying arXiv's own words. Anything that looks transient —
timeouts, refused connections, 429, 5xx, a body cut short — is retried with exponential backoff and
jitter, honouring ``Retry-After``, and ends as :class:`~paperboy.ingest.http.ServiceUnavailable` if
it does not clear.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

import httpx

from paperboy.ingest import fields
from paperboy.ingest.http import DEFAULT_PACE, RateLimiter, RetryPolicy, ServiceClient, ServiceError, ServiceUnavailable
from paperboy.papers.model import InvalidRecord, PaperRecord
from paperboy.papers.normalize import normalize_optional, normalize_text, split_classifications

__all__ = [
    "ApiPage",
    "ArxivApiClient",
    "ArxivErrorFeed",
    "parse_feed",
]

log = logging.getLogger(__name__)

SORT_BY = ("relevance", "lastUpdatedDate", "submittedDate")
SORT_ORDER = ("ascending", "descending")
#: Ids per request in :meth:`ArxivApiClient.fetch_ids`: keeps the URL short (about 1.5 KB).
IDS_PER_REQUEST = 100

_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
# OpenSearch 1.1 in every response seen; 1.0's "opensearchrss" namespace was used by early feeds.
_OPENSEARCH = ("{http://a9.com/-/spec/opensearch/1.1/}", "{http://a9.com/-/spec/opensearchrss/1.0/}")


# --- errors ------------------------------------------------------------------------------------

class ArxivErrorFeed(ServiceError):
    """arXiv refused the request and said why (its error feed); ``explanation`` holds arXiv's words.

    Not retried: asking again gets the same answer.
    """

    def __init__(self, explanation: str, *, status: int | None = None, url: str | None = None):
        self.explanation = explanation
        super().__init__(f"arXiv refused the request: {explanation}", status=status, url=url)


# --- parsing (pure) ----------------------------------------------------------------------------

@dataclass(slots=True)
class ApiPage:
    """One page of API results. ``start_index``/``items_per_page`` echo the request (paging);
    ``skipped`` counts entries dropped for having no usable id or title."""

    total_results: int
    start_index: int
    items_per_page: int
    records: list[PaperRecord] = field(default_factory=list)
    skipped: int = 0


def parse_feed(xml: bytes) -> ApiPage:
    """Parse an API response body into an :class:`ApiPage`.

    Raises :class:`ArxivErrorFeed` for arXiv's error feed, :class:`~paperboy.ingest.http.ServiceUnavailable`
    for a body that is not well-formed XML or not an Atom feed (typically cut short), and
    :class:`~paperboy.ingest.http.ServiceError` for XML that declares a DTD or entities (refused
    unread, :func:`~paperboy.ingest.fields.xml_root`).
    """
    root = fields.xml_root(xml, "the API response")
    if root.tag != f"{_ATOM}feed":
        raise ServiceUnavailable(f"the API response is not an Atom feed (root element {root.tag!r})")

    entries = root.findall(f"{_ATOM}entry")
    error = next((e for e in entries if _is_error_entry(e)), None)
    if error is not None:
        explanation = normalize_text(_text(error, f"{_ATOM}summary") or "") or "no explanation given"
        raise ArxivErrorFeed(explanation)

    records: list[PaperRecord] = []
    skipped = 0
    for entry in entries:
        try:
            record = _entry_record(entry)
        except InvalidRecord as e:  # a field out of range: this entry is skipped, the page is kept
            log.warning("arXiv API entry %s skipped: %s", (_text(entry, f"{_ATOM}id") or "?")[:100], e)
            record = None
        if record is None:
            skipped += 1
        else:
            records.append(record)
    return ApiPage(
        total_results=_opensearch_int(root, "totalResults", len(records)),
        start_index=_opensearch_int(root, "startIndex", 0),
        items_per_page=_opensearch_int(root, "itemsPerPage", len(records)),
        records=records,
        skipped=skipped,
    )


def _is_error_entry(entry: Element) -> bool:
    # The error entry's id is https://arxiv.org/api/errors#<reason>; a real paper's is an abs URL.
    entry_id = _text(entry, f"{_ATOM}id") or ""
    if "arxiv.org/api/errors" in entry_id:
        return True
    return (_text(entry, f"{_ATOM}title") or "").strip() == "Error" and "/abs/" not in entry_id


def _entry_record(entry: Element) -> PaperRecord | None:
    """The entry as a record, or ``None`` when it has no parseable id or no title."""
    raw_id = _text(entry, f"{_ATOM}id")
    title = normalize_text(_text(entry, f"{_ATOM}title") or "")
    if not raw_id or not title:  # a title "0" is a real title (2104.12255), hence no truthiness on raw text
        return None
    arxiv = fields.arxiv_id(raw_id, what="arXiv API entry")
    if arxiv is None:
        return None

    primary = entry.find(f"{_ARXIV}primary_category")
    terms = [primary.get("term", "")] if primary is not None else []
    terms += [c.get("term", "") for c in entry.findall(f"{_ATOM}category")]
    categories, acm, msc = split_classifications([t for t in terms if t])

    authors = []
    for author in entry.findall(f"{_ATOM}author"):
        name = normalize_text(_text(author, f"{_ATOM}name") or "")
        if name:
            authors.append(name)

    return PaperRecord(
        arxiv_id=arxiv.id,
        version=arxiv.version,
        title=title,
        abstract=normalize_text(_text(entry, f"{_ATOM}summary") or ""),
        authors=authors,
        categories=categories,
        acm_classes=acm,
        msc_classes=msc,
        comment=normalize_optional(_text(entry, f"{_ARXIV}comment")),
        journal_ref=normalize_optional(_text(entry, f"{_ARXIV}journal_ref")),
        doi=normalize_optional(_text(entry, f"{_ARXIV}doi")),
        license=_license(entry),
        published=fields.utc_day(_text(entry, f"{_ATOM}published")),
        updated=fields.utc_day(_text(entry, f"{_ATOM}updated")),
        announced=None,  # the API does not say when a paper was listed
        source="arxiv-api",
    )


def _license(entry: Element) -> str | None:
    for link in entry.findall(f"{_ATOM}link"):
        if link.get("rel") == "license" and link.get("href"):
            return link.get("href").strip()
    return normalize_optional(_text(entry, f"{_ARXIV}license"))


def _text(parent: Element, tag: str) -> str | None:
    """Element text (:func:`~paperboy.ingest.fields.text`) with arXiv's double-encoded UTF-8 repaired."""
    value = fields.text(parent, tag)
    return None if value is None else _repair_mojibake(value)


def _repair_mojibake(text: str) -> str:
    """Undo UTF-8 that was decoded as Latin-1 and encoded again ("WÃ¼bben" → "Wübben").

    Every non-ASCII character in the recorded 2026 responses arrives this way. The repair only
    applies when the whole string round-trips (all characters below U+0100 *and* the bytes form
    valid UTF-8), which text that was never double-encoded essentially never does.
    """
    if not any("\xc2" <= c <= "\xf4" for c in text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _opensearch_int(root: Element, name: str, default: int) -> int:
    for ns in _OPENSEARCH:
        el = root.find(f"{ns}{name}")
        if el is not None and el.text and el.text.strip().isdigit():
            return int(el.text.strip())
    return default


# --- the client --------------------------------------------------------------------------------

class ArxivApiClient(ServiceClient):
    """A polite, synchronous client for the arXiv API (:class:`~paperboy.ingest.http.ServiceClient`).

    * one request at a time and ``min_interval`` seconds between request starts (arXiv's rule is
      one request per 3 s) via ``limiter`` — pass a shared limiter when several clients talk to
      arXiv (``min_interval`` is then ignored); the default is a private
      :class:`~paperboy.ingest.http.RateLimiter`;
    * the ``user_agent`` on every request (build it with :func:`~paperboy.ingest.http.user_agent`);
    * ``retries`` more tries after a timeout, a connection error, HTTP 429 or 5xx, or a cut-short
      body, waiting ``backoff * 2**n`` seconds (with jitter, at most ``max_backoff``) or what
      ``Retry-After`` asks for (at most ``max_retry_after``), whichever is longer;
    * arXiv's error feed (HTTP 400) is raised at once as :class:`ArxivErrorFeed`.

    ``transport`` is handed to :class:`httpx.Client` (e.g. ``httpx.MockTransport`` in tests).
    Use it as a context manager, or call :meth:`close`.
    """

    name = "arXiv"
    accept = "application/atom+xml"

    def __init__(
        self,
        base_url: str,
        *,
        user_agent: str,
        timeout: float = 20.0,
        retries: int = 2,
        min_interval: float = DEFAULT_PACE["arxiv-api"],
        transport: httpx.BaseTransport | None = None,
        limiter=None,
        backoff: float = 2.0,
        max_backoff: float = 60.0,
        max_retry_after: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(
            base_url, user_agent=user_agent, limiter=limiter if limiter is not None else RateLimiter(min_interval),
            timeout=timeout, policy=RetryPolicy(retries, backoff, max_backoff, max_retry_after), transport=transport,
            sleep=sleep,
        )  # fmt: skip

    # -- public calls --

    def fetch_ids(self, ids: list[str]) -> list[PaperRecord]:
        """The records for these ids, in arXiv's order; ids arXiv does not know are simply absent.

        A versioned id (``2104.12255v1``) gets that version; a bare one the latest. Ids are sent as
        given — arXiv judges them, and a malformed one raises :class:`ArxivErrorFeed`.
        """
        wanted = [i.strip() for i in ids if i and i.strip()]
        records: list[PaperRecord] = []
        for n in range(0, len(wanted), IDS_PER_REQUEST):
            chunk = wanted[n : n + IDS_PER_REQUEST]
            records.extend(self.query(id_list=chunk, max_results=len(chunk)).records)
        return records

    def query(
        self,
        search_query: str = "",
        *,
        id_list: list[str] | None = None,
        start: int = 0,
        max_results: int = 100,
        sort_by: str = "relevance",
        sort_order: str = "descending",
    ) -> ApiPage:
        """One page of an API query (``search_query`` syntax: ``au:del_maestro AND ti:checkerboard``).

        With both ``search_query`` and ``id_list``, arXiv returns the listed papers matching the
        query. Paging is the caller's: ask again with ``start += max_results`` until
        ``start >= total_results``.
        """
        if not search_query and not id_list:
            raise ValueError("give a search_query or an id_list")
        if start < 0 or max_results < 1:
            raise ValueError("start must be >= 0 and max_results >= 1")
        if sort_by not in SORT_BY:
            raise ValueError(f"sort_by must be one of {', '.join(SORT_BY)}")
        if sort_order not in SORT_ORDER:
            raise ValueError(f"sort_order must be one of {', '.join(SORT_ORDER)}")
        params = {
            "search_query": search_query,
            "id_list": ",".join(id_list or []),
            "sortBy": sort_by,
            "sortOrder": sort_order,
            "start": str(start),
            "max_results": str(max_results),
        }
        return self._get(params, parse_feed, refused=_error_feed)


def _error_feed(status: int, body: bytes) -> None:
    """A refusal that carries arXiv's error feed is raised as :class:`ArxivErrorFeed`; any other
    is the bare status."""
    try:
        parse_feed(body)
    except ArxivErrorFeed:
        raise
    except ServiceError:
        pass
