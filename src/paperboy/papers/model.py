"""The one shape every source is turned into before it is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, fields, replace

import orjson

__all__ = ["PaperRecord", "merge_records"]


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
