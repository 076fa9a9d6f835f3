"""OAI-PMH harvesting from arXiv (``https://oaipmh.arxiv.org/oai``): whole sets, resumable.

Three layers, each usable on its own:

* :func:`parse_list_records` / :func:`parse_get_record` are pure: OAI-PMH XML in, records out.
  Both arXiv metadata formats are read — ``arXivRaw`` (every version with its submission time; the
  default) and ``arXiv`` (parsed author names, but only the first and latest days). An OAI error
  response becomes :class:`OaiError` with the protocol's code (``noRecordsMatch``,
  ``badResumptionToken``, ``badArgument``, ``badVerb``, ``idDoesNotExist``, …). XML with a DTD or
  entities is refused unread (:func:`paperboy.ingest.fields.xml_root`).
* :class:`OaiClient` does the HTTP (:mod:`paperboy.ingest.http`): one request at a time through a
  limiter (pass ``limiter_for(engine, "arxiv-oai")`` to share arXiv's 3-second rule with every
  process), retries with backoff on timeouts, 429/5xx (OAI servers use ``503`` + ``Retry-After``
  for flow control) and cut-short bodies.
* :func:`harvest` walks a ``ListRecords`` result page by page. Each page's papers and the
  checkpoint (``harvest_checkpoints``: the resumption token for the *next* page) are written in one
  transaction (:func:`~paperboy.ingest.pages.store_page`, as every source stores a page), so a
  harvest killed at any moment resumes at the first page it had not stored, and nothing is stored
  twice or skipped.

**Announcement day.** OAI-PMH does not say when a paper was listed: the datestamp is when its
record last changed (a new version, an added journal reference), not its feed day. Like the Kaggle
import (:func:`paperboy.ingest.dumps.parse_kaggle`), ``announced`` is therefore estimated from the
first version's submission time with arXiv's schedule
(:func:`~paperboy.ingest.dumps.estimated_announce_day`). ``arXivRaw`` gives that time to the
second, so the estimate is the Kaggle one exactly. The ``arXiv`` format only gives the day of v1;
it is taken as the *end* of that (UTC) day, i.e. the latest listing day the paper can have had:
:func:`~paperboy.papers.model.merge_records` keeps the earliest announced day it sees, so an
estimate that is too late is corrected by any source that knows the real day (listings, our
JSONL), while one that is too early would stick.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from sqlalchemy import Engine

from paperboy.ingest import fields
from paperboy.ingest.dumps import estimated_announce_day
from paperboy.ingest.http import RetryPolicy, ServiceClient, ServiceError, ServiceUnavailable
from paperboy.ingest.pages import PageMark, clear_checkpoint, get_checkpoint, store_records
from paperboy.papers.model import InvalidRecord, PaperRecord
from paperboy.papers.normalize import author_name, normalize_optional, normalize_text, split_author_string, split_classifications, split_glued_authors
from paperboy.store.repo import UpsertCounts

__all__ = [
    "DEFAULT_BASE_URL",
    "FORMATS",
    "HarvestSummary",
    "OaiClient",
    "OaiError",
    "OaiPage",
    "checkpoint_key",
    "harvest",
    "parse_get_record",
    "parse_list_records",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://oaipmh.arxiv.org/oai"
FORMATS = ("arXivRaw", "arXiv")
SOURCE = "oai"

_OAI = "{http://www.openarchives.org/OAI/2.0/}"
_RAW = "{http://arxiv.org/OAI/arXivRaw/}"
_ARXIV = "{http://arxiv.org/OAI/arXiv/}"


# --- errors ------------------------------------------------------------------------------------

class OaiError(ServiceError):
    """The repository answered with an OAI-PMH error: ``code`` is the protocol's (``badArgument``,
    ``badResumptionToken``, ``noRecordsMatch`` …), ``explanation`` the repository's words."""

    def __init__(self, code: str, explanation: str = "", *, status: int | None = None, url: str | None = None):
        self.code = code
        self.explanation = explanation
        super().__init__(f"OAI-PMH error {code}: {explanation or 'no explanation given'}", status=status, url=url)


# --- parsing (pure) ----------------------------------------------------------------------------

@dataclass(slots=True)
class OaiPage:
    """One ``ListRecords`` page. ``resumption_token`` is ``None`` on the last page;
    ``complete_list_size`` and ``cursor`` are what the repository reports (either may be absent).
    ``deleted`` lists the ids of deleted-record headers; ``skipped`` counts records that could
    not be read (no usable id or title, unknown format); ``datestamps`` maps each record's id to
    its OAI datestamp (when its metadata last changed: the ``from`` of an incremental harvest)."""

    records: list[PaperRecord] = field(default_factory=list)
    resumption_token: str | None = None
    complete_list_size: int | None = None
    cursor: int | None = None
    deleted: list[str] = field(default_factory=list)
    skipped: int = 0
    datestamps: dict[str, dt.date] = field(default_factory=dict)


def parse_list_records(xml: bytes) -> OaiPage:
    """A ``ListRecords`` response as an :class:`OaiPage`; raises :class:`OaiError` for an OAI error
    response (``noRecordsMatch`` included: whether "nothing" is a failure is the caller's call)."""
    root = _root(xml)
    body = root.find(f"{_OAI}ListRecords")
    if body is None:
        raise ServiceUnavailable("the OAI-PMH response has no ListRecords element")
    page = OaiPage()
    for record in body.findall(f"{_OAI}record"):
        _add_record(page, record)
    token = body.find(f"{_OAI}resumptionToken")
    if token is not None:
        page.resumption_token = (token.text or "").strip() or None  # empty element: the last page
        page.complete_list_size = _int(token.get("completeListSize"))
        page.cursor = _int(token.get("cursor"))
    return page


def parse_get_record(xml: bytes) -> PaperRecord | None:
    """A ``GetRecord`` response as a record; ``None`` when the repository says it was deleted."""
    root = _root(xml)
    body = root.find(f"{_OAI}GetRecord")
    record = body.find(f"{_OAI}record") if body is not None else None
    if record is None:
        raise ServiceUnavailable("the OAI-PMH response has no GetRecord/record element")
    page = OaiPage()
    _add_record(page, record)
    if page.records:
        return page.records[0]
    if page.deleted:
        return None
    raise ServiceError("the OAI-PMH record could not be read (no usable id or title, or an unknown format)")


def _root(xml: bytes) -> Element:
    """The OAI-PMH root element; an error response raises :class:`OaiError` with its code."""
    root = fields.xml_root(xml, "the OAI-PMH response")
    if root.tag != f"{_OAI}OAI-PMH":
        raise ServiceUnavailable(f"the response is not OAI-PMH (root element {root.tag!r})")
    errors = root.findall(f"{_OAI}error")
    if errors:
        first = errors[0]
        raise OaiError(first.get("code") or "unknown", normalize_text("".join(first.itertext())))
    return root


def _add_record(page: OaiPage, record: Element) -> None:
    header = record.find(f"{_OAI}header")
    identifier = fields.text(header, f"{_OAI}identifier") if header is not None else None
    if header is not None and header.get("status") == "deleted":
        arxiv_id = _oai_identifier_id(identifier)
        if arxiv_id:
            page.deleted.append(arxiv_id)
        return
    metadata = record.find(f"{_OAI}metadata")
    payload = next(iter(metadata), None) if metadata is not None else None
    parsed = None
    try:
        if payload is not None and payload.tag == f"{_RAW}arXivRaw":
            parsed = _raw_record(payload)
        elif payload is not None and payload.tag == f"{_ARXIV}arXiv":
            parsed = _arxiv_record(payload)
        elif payload is not None:
            log.warning("OAI record %s in an unknown format %r skipped", identifier, payload.tag)
    except InvalidRecord as e:  # a field out of range: this record is skipped, the page is kept
        log.warning("OAI record %s skipped: %s", (identifier or "?")[:100], e)
    if parsed is None:
        page.skipped += 1
        return
    page.records.append(parsed)
    stamp = fields.iso_day(fields.text(header, f"{_OAI}datestamp")) if header is not None else None
    if stamp:
        page.datestamps[parsed.arxiv_id] = stamp


def _raw_record(el: Element) -> PaperRecord | None:
    """``arXivRaw``: versions with RFC 2822 submission times, authors as one string."""
    ns = _RAW
    versions: list[tuple[int, dt.datetime | None]] = []
    for v in el.findall(f"{ns}version"):
        label = (v.get("version") or "").strip()
        number = int(label[1:]) if label[:1] == "v" and label[1:].isdigit() and len(label) <= 6 else None
        if number:
            versions.append((number, fields.rfc2822(fields.text(v, f"{ns}date"))))
    versions.sort(key=lambda pair: pair[0])
    first = versions[0][1] if versions else None
    latest = versions[-1][1] if versions else None
    return _record(
        el, ns, version=versions[-1][0] if versions else None, authors=split_author_string(fields.text(el, f"{ns}authors") or ""),
        published=first.date() if first else None, updated=latest.date() if latest else None,
        announced=estimated_announce_day(first) if first else None,
    )  # fmt: skip


def _arxiv_record(el: Element) -> PaperRecord | None:
    """``arXiv``: parsed author names, ``created`` (v1's day) and ``updated`` (the latest's), no versions."""
    ns = _ARXIV
    names = []
    authors = el.find(f"{ns}authors")
    for author in authors.findall(f"{ns}author") if authors is not None else []:
        names.append(author_name(fields.text(author, f"{ns}keyname") or "", fields.text(author, f"{ns}forenames") or "",
                                 fields.text(author, f"{ns}suffix") or ""))  # fmt: skip
    created = fields.iso_day(fields.text(el, f"{ns}created"))
    updated = fields.iso_day(fields.text(el, f"{ns}updated")) or created
    announced = None
    if created:
        # Only the day is known: the end of it gives the latest possible listing day (module docstring).
        announced = estimated_announce_day(dt.datetime.combine(created, dt.time(23, 59, 59), dt.timezone.utc))
    return _record(el, ns, version=None, authors=names, published=created, updated=updated, announced=announced)


def _record(el: Element, ns: str, *, version: int | None, authors: list[str], published: dt.date | None,
            updated: dt.date | None, announced: dt.date | None) -> PaperRecord | None:  # fmt: skip
    """A record from the fields both formats name alike (in namespace ``ns``) and the ones each
    reads its own way; ``None`` when it has no usable id or title."""
    arxiv = fields.arxiv_id(fields.text(el, f"{ns}id"), what="OAI record")
    title = normalize_text(fields.text(el, f"{ns}title") or "")
    if arxiv is None or not title:
        return None
    categories, acm, msc = _classifications(
        fields.text(el, f"{ns}categories"), fields.text(el, f"{ns}acm-class"), fields.text(el, f"{ns}msc-class")
    )
    return PaperRecord(
        arxiv_id=arxiv.id,
        version=version or arxiv.version,
        title=title,
        abstract=normalize_text(fields.text(el, f"{ns}abstract") or ""),
        authors=_clean_authors(authors),
        categories=categories,
        acm_classes=acm,
        msc_classes=msc,
        comment=normalize_optional(fields.text(el, f"{ns}comments")),
        journal_ref=normalize_optional(fields.text(el, f"{ns}journal-ref")),
        doi=normalize_optional(fields.text(el, f"{ns}doi")),
        license=normalize_optional(fields.text(el, f"{ns}license")),
        published=published,
        updated=updated,
        announced=announced,
        source=SOURCE,
    )


def _classifications(categories: str | None, acm_class: str | None, msc_class: str | None):
    """arXiv categories from ``categories``; ACM and MSC codes from all three fields, by their shape."""
    arxiv, acm, msc = split_classifications(categories or "")
    for extra in (acm_class, msc_class):
        if extra:
            _, more_acm, more_msc = split_classifications(extra)
            acm += [c for c in more_acm if c not in acm]
            msc += [c for c in more_msc if c not in msc]
    return arxiv, acm, msc


def _clean_authors(names: list[str]) -> list[str]:
    return [n for n in split_glued_authors([normalize_text(n) for n in names]) if n]


def _oai_identifier_id(identifier: str | None) -> str | None:
    """``oai:arXiv.org:2406.01234`` → ``2406.01234``."""
    if not identifier:
        return None
    local = identifier.strip().rsplit(":", 1)[-1] if identifier.count(":") >= 2 else identifier
    arxiv = fields.arxiv_id(local, what="OAI record")
    return arxiv.id if arxiv else None


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


# --- the client --------------------------------------------------------------------------------

class OaiClient(ServiceClient):
    """A polite, synchronous OAI-PMH client for arXiv (:class:`~paperboy.ingest.http.ServiceClient`).

    ``limiter`` is anything with a ``slot()`` context manager; pass
    ``limiter_for(engine, "arxiv-oai")`` so all processes share arXiv's one-request-every-3-seconds
    rule (the default, ``None``, limits nothing: tests and one-off scripts only). ``user_agent``
    should carry a contact (:func:`paperboy.ingest.http.user_agent`). ``transport`` goes to
    :class:`httpx.Client`. A ListRecords page of arXivRaw is about 1,000 records, a few MB.
    """

    name = "arXiv OAI-PMH"
    accept = "text/xml, application/xml"
    default_url = DEFAULT_BASE_URL
    timeout = 60.0
    policy = RetryPolicy(retries=4, backoff=2.0, max_backoff=60.0, max_retry_after=300.0)

    def list_records(
        self,
        *,
        metadata_prefix: str = "arXivRaw",
        set_spec: str | None = None,
        from_date: dt.date | str | None = None,
        until: dt.date | str | None = None,
        resumption_token: str | None = None,
    ) -> OaiPage:
        """One ``ListRecords`` page: the first from the arguments, later ones from a token alone
        (OAI-PMH makes ``resumptionToken`` an exclusive argument)."""
        if resumption_token:
            params = {"verb": "ListRecords", "resumptionToken": resumption_token}
        else:
            _check_format(metadata_prefix)
            params = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
            if set_spec:
                params["set"] = set_spec
            if from_date:
                params["from"] = _day_arg(from_date)
            if until:
                params["until"] = _day_arg(until)
        return self._get(params, parse_list_records, _refused)


def _refused(status: int, body: bytes) -> None:
    """OAI-PMH says errors come with HTTP 200, but some repositories send 400 and the error
    document: keep the protocol's code when there is one."""
    try:
        _root(body)
    except OaiError:
        raise
    except ServiceError:
        pass
    raise ServiceError(f"the OAI-PMH server answered HTTP {status}")


def _check_format(metadata_prefix: str) -> None:
    if metadata_prefix not in FORMATS:
        raise ValueError(f"metadata format must be one of {', '.join(FORMATS)}, not {metadata_prefix!r}")


def _day_arg(value: dt.date | str) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(str(value).strip()).isoformat()


# --- harvesting (I/O + store) --------------------------------------------------------------------

@dataclass(slots=True)
class HarvestSummary(UpsertCounts):
    """What a harvest did: the store's counts (``new``, ``updated``, ``unchanged``, ``changed_ids``,
    added up page by page) and the harvest's own. ``pages``/``records`` count this run only;
    ``resumed_at_page`` is the page number (1-based, over the whole harvest) this run started at
    when it carried on from a checkpoint; ``last_datestamp`` is the newest datestamp seen (the
    ``--from`` of the next incremental harvest). With ``dry_run`` the counts say what *would*
    change; nothing is written."""

    key: str = ""
    pages: int = 0
    records: int = 0
    deleted: int = 0
    skipped: int = 0
    complete: bool = False
    resumed_at_page: int | None = None
    complete_list_size: int | None = None
    last_datestamp: dt.date | None = None
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {
            "key": self.key, "pages": self.pages, "records": self.records, "new": self.new,
            "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted, "skipped": self.skipped,
            "complete": self.complete, "resumed_at_page": self.resumed_at_page,
            "complete_list_size": self.complete_list_size,
            "last_datestamp": self.last_datestamp.isoformat() if self.last_datestamp else None,
            "dry_run": self.dry_run, "changed_ids": self.changed_ids[:20],
        }  # fmt: skip


def checkpoint_key(set_spec: str | None, metadata_prefix: str = "arXivRaw", from_date=None, until=None) -> str:
    """``oai:<format>:<set>:<from>:<until>`` — one checkpoint per distinct harvest."""
    parts = [metadata_prefix, set_spec or "", _day_arg(from_date) if from_date else "", _day_arg(until) if until else ""]
    return "oai:" + ":".join(parts)


def harvest(
    engine: Engine,
    client: OaiClient,
    *,
    set_spec: str | None,
    metadata_prefix: str = "arXivRaw",
    from_date: dt.date | str | None = None,
    until: dt.date | str | None = None,
    dry_run: bool = False,
    restart: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    keep: Callable[[PaperRecord], bool] | None = None,
) -> HarvestSummary:
    """Harvest ``ListRecords`` for a set and date range into the database, resumably.

    ``keep`` (a record → bool) stores only the records it accepts (the others count as ``skipped``):
    a backfill takes a whole set's recent changes and keeps the categories and days it wants.

    The checkpoint for these parameters (:func:`checkpoint_key`) says where to begin: after an
    unfinished run, at the page it had not stored (its resumption token); otherwise at the start.
    ``restart`` forgets the checkpoint first. After each page, its papers and the next token are
    committed together. ``noRecordsMatch`` ends the harvest with zero records, complete.

    An expired or unknown resumption token (``badResumptionToken``: arXiv's expire after a while)
    raises :class:`~paperboy.ingest.http.ServiceError` asking for ``--restart``; nothing already stored is lost, and
    re-harvesting it is a no-op. With ``dry_run`` nothing is written, checkpoint included.
    ``progress(records_so_far, complete_list_size)`` is called after each page.

    One harvest per set of parameters at a time: a second one running alongside notices at its
    next page (the checkpoint moved under it) and stops with :class:`HarvestConflict` rather than
    interleave.
    """
    _check_format(metadata_prefix)
    key = checkpoint_key(set_spec, metadata_prefix, from_date, until)
    summary = HarvestSummary(key=key, dry_run=dry_run)
    if restart and not dry_run:
        clear_checkpoint(engine, key)
    stored = None if restart else get_checkpoint(engine, key)
    resuming = stored is not None and not stored.complete and stored.resumption_token is not None
    token = stored.resumption_token if resuming else None
    done_pages = stored.pages if resuming else 0
    done_records = stored.records if resuming else 0
    if resuming:
        summary.resumed_at_page = done_pages + 1
        log.info("resuming harvest %s at page %d", key, done_pages + 1)
    expected = (stored.pages, stored.complete) if stored is not None else None  # what the checkpoint holds now

    while True:
        try:
            page = client.list_records(metadata_prefix=metadata_prefix, set_spec=set_spec, from_date=from_date,
                                       until=until, resumption_token=token)  # fmt: skip
        except OaiError as e:
            if e.code == "noRecordsMatch":
                page = OaiPage()
            elif e.code == "badResumptionToken":
                raise ServiceError(
                    f"arXiv no longer accepts the resumption token for page {done_pages + 1} of this harvest "
                    f"(tokens expire; {e.explanation or 'badResumptionToken'}). Run it again with --restart to "
                    "start over: papers already stored stay, and storing them again changes nothing.",
                    status=e.status, url=e.url,
                ) from e
            else:
                raise
        if keep is not None:
            kept = [rec for rec in page.records if keep(rec)]
            page.skipped += len(page.records) - len(kept)
            page.records, read = kept, len(page.records)
        else:
            read = len(page.records)
        mark = PageMark(key, page.resumption_token, done_pages + 1, done_records + read, expected)
        counts = store_records(engine, page.records, dry_run=dry_run, mark=mark)
        summary.add(counts)
        done_pages += 1
        done_records += read
        expected = (done_pages, page.resumption_token is None)
        summary.pages += 1
        summary.records += read
        summary.deleted += len(page.deleted)
        summary.skipped += page.skipped
        if page.complete_list_size is not None:
            summary.complete_list_size = page.complete_list_size
        if page.datestamps:
            newest = max(page.datestamps.values())
            summary.last_datestamp = max(summary.last_datestamp or newest, newest)
        if progress:
            progress(done_records, summary.complete_list_size)
        log.info("harvest %s: page %d, %d records (%d new, %d updated)", key, done_pages, len(page.records),
                 counts.new, counts.updated)  # fmt: skip
        if page.resumption_token is None:
            summary.complete = True
            return summary
        token = page.resumption_token
