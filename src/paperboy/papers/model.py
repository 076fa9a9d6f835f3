"""The one shape every source is turned into before it is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, fields, replace

import orjson

from paperboy.papers.ids import MAX_VERSION

__all__ = ["PaperRecord", "InvalidRecord", "merge_records", "LIMITS", "FIRST_DAY", "LAST_DAY", "MAX_VERSION"]

#: What a stored paper may hold. Every source's parser builds a PaperRecord, so these checks run on
#: every record from every source, before anything is written: a value out of range (a version of
#: 1e19, a year 9999) is reported with the record and the rest of the batch goes on. The column
#: sizes in store/schema.py are at least these.
LIMITS = {"arxiv_id": 64, "title": 2_000, "abstract": 20_000, "comment": 5_000, "journal_ref": 2_000, "doi": 255,
          "license": 255, "author": 500, "authors": 5_000, "category": 64, "categories": 100}  # fmt: skip
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(9998, 12, 31)  # the days a feed can show (feed/periods.py)


class InvalidRecord(ValueError):
    """A record that cannot be stored as given; the message names the field and why."""


@dataclass(slots=True)
class PaperRecord:
    """A paper as a source describes it, already normalised (see :mod:`paperboy.papers.normalize`).

    ``categories`` holds arXiv categories only, primary first; other classification codes a source
    mixes in (ACM CCS such as ``I.2.7``, MSC such as ``68T05``) go to ``acm_classes`` / ``msc_classes``.
    Dates are days (UTC): ``published`` is the first version's submission day, ``updated`` the latest
    version's, ``announced`` the day the paper first appeared in an arXiv listing (its feed day).
    """

    arxiv_id: str
    title: str
    abstract: str
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    acm_classes: list[str] = field(default_factory=list)
    msc_classes: list[str] = field(default_factory=list)
    version: int | None = None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    published: dt.date | None = None
    updated: dt.date | None = None
    announced: dt.date | None = None
    source: str = "unknown"

    def __post_init__(self) -> None:
        _check(self)

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    def content_hash(self) -> str:
        """A digest of everything stored about the paper except where it came from.

        Import compares it with the stored one to tell "unchanged" from "updated" without loading rows.
        """
        values = [getattr(self, name) for name in _HASHED_FIELDS]
        return hashlib.blake2b(orjson.dumps(values), digest_size=16).hexdigest()


_HASHED_FIELDS = [f.name for f in fields(PaperRecord) if f.name != "source"]


def _check(rec: PaperRecord) -> None:
    """Raise :class:`InvalidRecord` for the first field that is out of range."""
    if not isinstance(rec.arxiv_id, str) or not rec.arxiv_id or len(rec.arxiv_id) > LIMITS["arxiv_id"]:
        raise InvalidRecord(f"arXiv id {str(rec.arxiv_id)[:80]!r} is not usable")
    if not isinstance(rec.title, str) or not rec.title:
        raise InvalidRecord("missing title")
    for name in ("title", "abstract", "comment", "journal_ref", "doi", "license"):
        value = getattr(rec, name)
        if value is not None and (not isinstance(value, str) or len(value) > LIMITS[name]):
            size = f"{len(value):,} characters" if isinstance(value, str) else type(value).__name__
            raise InvalidRecord(f"{name} is {size}, more than the {LIMITS[name]:,} allowed" if isinstance(value, str)
                                else f"{name} must be text, not {size}")  # fmt: skip
    if not isinstance(rec.abstract, str):
        raise InvalidRecord("abstract must be text")
    if rec.version is not None and (type(rec.version) is not int or not 1 <= rec.version <= MAX_VERSION):
        raise InvalidRecord(f"version {str(rec.version)[:40]} is not between 1 and {MAX_VERSION:,}")
    if len(rec.authors) > LIMITS["authors"]:
        raise InvalidRecord(f"{len(rec.authors):,} authors, more than the {LIMITS['authors']:,} allowed")
    if rec.authors and max(map(len, rec.authors)) > LIMITS["author"]:  # (len() also refuses what is not text)
        name = max(rec.authors, key=len)
        raise InvalidRecord(f"an author name is {len(name):,} characters long: {name[:60]!r}…")
    for scheme in (rec.categories, rec.acm_classes, rec.msc_classes):
        if scheme and (len(scheme) > LIMITS["categories"] or max(map(len, scheme)) > LIMITS["category"]):
            raise InvalidRecord("too many or too long category codes")
    for name in ("published", "updated", "announced"):
        day = getattr(rec, name)
        if day is not None and (not isinstance(day, dt.date) or not FIRST_DAY <= day <= LAST_DAY):
            raise InvalidRecord(f"{name} {day} is not a day between {FIRST_DAY} and {LAST_DAY}")


def merge_records(stored: PaperRecord, incoming: PaperRecord) -> PaperRecord:
    """What the store should hold after ``incoming`` arrives for a paper it already has.

    Rules, so that re-importing anything is a no-op and sources can complement each other:

    * an incoming record of an *older* version than the stored one changes nothing;
    * otherwise incoming values win, but a field the incoming source does not know (``None`` or
      empty) keeps the stored value — a JSONL dump without DOIs does not erase a DOI from OAI-PMH;
    * the announced day is the *earliest* one seen: a paper is announced once, and replacements
      must not move it to another day's feed;
    * the version only moves forward.
    """
    if stored.version and incoming.version and incoming.version < stored.version:
        return stored
    merged = replace(stored)
    for f in fields(incoming):
        value = getattr(incoming, f.name)
        if value is None or (isinstance(value, (list, str)) and not value):
            continue
        setattr(merged, f.name, list(value) if isinstance(value, list) else value)
    days = [d for d in (stored.announced, incoming.announced) if d is not None]
    merged.announced = min(days) if days else None
    versions = [v for v in (stored.version, incoming.version) if v is not None]
    merged.version = max(versions) if versions else None
    return merged
