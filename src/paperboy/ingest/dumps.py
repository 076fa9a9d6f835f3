"""Bulk dumps: Paperboy's own JSON-lines format and Kaggle's "arxiv-metadata-oai-snapshot".

Both are JSON objects, one per line, optionally gzipped. The format is detected from the first
record. Parsing is pure (:func:`parse_line`); :func:`import_dump` adds the I/O: it reads the file,
skips and reports bad lines by number, writes in batches (each batch its own transaction, so a crash
keeps what was done and a rerun carries on: re-importing is a no-op), and reports progress. A file
that is damaged part-way (cut short, corrupt) is imported as far as it can be read, and the summary
names the damage (:mod:`paperboy.ingest.dumpfile`).

Paperboy JSONL fields: ``id``, ``title``, ``authors`` (list), ``categories`` (list), ``comment``,
``abstract``, ``announced`` (YYYY-MM-DD); optional ``version``, ``journal_ref``, ``doi``,
``license``, ``published``, ``updated``.

Kaggle fields: ``id``, ``submitter``, ``authors`` (one string), ``authors_parsed`` (list of
[last, first, suffix]), ``title``, ``comments``, ``journal-ref``, ``doi``, ``categories``
(space-separated), ``license``, ``abstract``, ``versions`` ([{version: "v1", created: RFC 2822
date}]), ``update_date``. Kaggle has no announcement day; it is estimated from the first
version's submission time with arXiv's schedule (see :func:`estimated_announce_day`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine

from paperboy.ingest import fields
from paperboy.ingest.dumpfile import Damage, DumpReader
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.papers.model import FIRST_DAY, LAST_DAY, InvalidRecord, PaperRecord
from paperboy.papers.normalize import author_name, normalize_optional, normalize_text, split_author_string, split_classifications, split_glued_authors
from paperboy.store.db import retrying
from paperboy.store.maintenance import optimize
from paperboy.store.repo import Prepared, UpsertCounts, prepare, upsert_papers

__all__ = [
    "BadLine",
    "Damage",
    "DumpError",
    "ImportSummary",
    "detect_format",
    "parse_line",
    "parse_paperboy",
    "parse_kaggle",
    "estimated_announce_day",
    "import_dump",
]

MAX_LINE_BYTES = 1_000_000  # a real record is a few KB; anything this big is not a paper
BATCH = 500  # papers per write transaction: web writes wait for one batch (~50 ms of writing), not seconds; no slower in all (measured)


class DumpError(Exception):
    """The file cannot be imported at all (missing, unreadable). Damage part-way through is not an
    error but :attr:`ImportSummary.damage`: the lines before it are imported."""


class BadRecord(InvalidRecord):
    """One line cannot be imported; the message says why."""


@dataclass(slots=True)
class BadLine:
    line: int
    reason: str


@dataclass(slots=True)
class ImportSummary(UpsertCounts):
    """What :func:`import_dump` did: the store's counts (``new``, ``updated``, ``unchanged``, added up
    batch by batch with :meth:`~paperboy.store.repo.UpsertCounts.add`) and the lines it could not use."""

    format: str = ""
    read: int = 0
    skipped: int = 0  # outside --since/--until
    bad: list[BadLine] = field(default_factory=list)
    damage: Damage | None = None  # the file could not be read to its end (imported up to here)

    def as_dict(self) -> dict:
        return {
            "format": self.format,
            "read": self.read,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "bad": len(self.bad),
            "bad_lines": [{"line": b.line, "reason": b.reason} for b in self.bad],
            "damage": None if self.damage is None else {"line": self.damage.line, "offset": self.damage.offset, "reason": self.damage.reason},
        }


# --- parsing (pure) -------------------------------------------------------------------------

def detect_format(obj: dict) -> str:
    """``"kaggle"`` or ``"paperboy"`` from one decoded record."""
    if "authors_parsed" in obj or "versions" in obj or "update_date" in obj or "journal-ref" in obj:
        return "kaggle"
    return "paperboy"


def parse_line(line: bytes | str, fmt: str) -> PaperRecord:
    """Decode one JSON line of format ``fmt`` into a normalised record, or raise :class:`BadRecord`."""
    if len(line) > MAX_LINE_BYTES:
        raise BadRecord(f"line is longer than the {MAX_LINE_BYTES:,} bytes allowed")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise BadRecord(f"not valid JSON ({e.args[0].split(':')[0]})") from None
    if not isinstance(obj, dict):
        raise BadRecord("not a JSON object")
    return parse_kaggle(obj) if fmt == "kaggle" else parse_paperboy(obj)


def parse_paperboy(obj: dict) -> PaperRecord:
    arxiv = _arxiv_id(obj.get("id"))
    cats, acm, msc = split_classifications(_str_list(obj.get("categories"), "categories"))
    return PaperRecord(
        arxiv_id=arxiv.id,
        version=_int_or_none(obj.get("version"), "version") or arxiv.version,
        title=_required_text(obj, "title"),
        abstract=_required_text(obj, "abstract"),
        authors=_authors(_str_list(obj.get("authors"), "authors")),
        categories=cats,
        acm_classes=acm,
        msc_classes=msc,
        comment=_optional_text(obj, "comment"),
        journal_ref=_optional_text(obj, "journal_ref"),
        doi=_optional_text(obj, "doi"),
        license=_optional_text(obj, "license"),
        published=_date(obj.get("published"), "published"),
        updated=_date(obj.get("updated"), "updated"),
        announced=_date(obj.get("announced"), "announced"),
        source="jsonl",
    )


def parse_kaggle(obj: dict) -> PaperRecord:
    arxiv = _arxiv_id(obj.get("id"))
    raw_cats = obj.get("categories") or ""
    if not isinstance(raw_cats, str):
        raise BadRecord("categories must be a space-separated string in the Kaggle format")
    cats, acm, msc = split_classifications(raw_cats.split())
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = [author_name(*[str(p or "") for p in (entry + ["", "", ""])[:3]]) for entry in parsed if isinstance(entry, list)]
    elif isinstance(obj.get("authors"), str):
        names = split_author_string(obj["authors"])
    else:
        names = []
    versions = obj.get("versions") or []
    if not isinstance(versions, list):
        raise BadRecord("versions must be a list")
    created = [_rfc2822(v.get("created")) for v in versions if isinstance(v, dict)]
    numbers = [_version_number(v.get("version")) for v in versions if isinstance(v, dict)]
    first = created[0] if created else None
    latest = created[-1] if created else None
    update_date = _date(obj.get("update_date"), "update_date")
    return PaperRecord(
        arxiv_id=arxiv.id,
        version=max((n for n in numbers if n), default=None) or arxiv.version,
        title=_required_text(obj, "title"),
        abstract=_required_text(obj, "abstract"),
        authors=_authors(names),
        categories=cats,
        acm_classes=acm,
        msc_classes=msc,
        comment=_optional_text(obj, "comments"),
        journal_ref=_optional_text(obj, "journal-ref"),
        doi=_optional_text(obj, "doi"),
        license=_optional_text(obj, "license"),
        published=first.date() if first else None,
        updated=latest.date() if latest else update_date,
        announced=estimated_announce_day(first) if first else None,
        source="kaggle",
    )


_ET = ZoneInfo("America/New_York")


def estimated_announce_day(submitted: dt.datetime) -> dt.date:
    """The listing day of a paper submitted at ``submitted``, from arXiv's public schedule.

    arXiv closes submissions at 14:00 US Eastern Monday to Friday and announces them at 20:00 the
    same evening (Friday's batch on Sunday evening). A listing carries the date of the next day
    (UTC midnight falls right after 20:00 Eastern), so a paper in before Monday's cutoff is listed
    on Tuesday, and Thursday-after-cutoff to Friday-before-cutoff lands on Monday. Holidays shift
    real announcements by a day or two; this estimate ignores them, which is why sources that know
    the real day (our JSONL, listings, OAI) are preferred over it.
    """
    if not FIRST_DAY <= submitted.date() <= LAST_DAY - dt.timedelta(days=7):
        raise InvalidRecord(f"submitted {submitted.date()}, not a day between {FIRST_DAY} and {LAST_DAY}")
    local = submitted.astimezone(_ET)
    day = local.date()
    weekday = day.weekday()  # Mon=0
    if weekday >= 5 or local.hour >= 14:
        # After the cutoff (or at the weekend): joins the next weekday's batch.
        day += dt.timedelta(days=1)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
    # The batch closing on `day` is announced that evening; Friday's on Sunday evening.
    evening = day + dt.timedelta(days=2) if day.weekday() == 4 else day
    return evening + dt.timedelta(days=1)


def _arxiv_id(value):
    if not isinstance(value, str):
        raise BadRecord("missing arXiv id")
    try:
        return parse_arxiv_id(value)
    except InvalidArxivId as e:
        raise BadRecord(str(e)) from None


def _required_text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"missing {key}")
    return normalize_text(value)


def _optional_text(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRecord(f"{key} must be text")
    return normalize_optional(value)


def _str_list(value, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRecord(f"{key} must be a list of strings")
    return value


def _authors(names: list[str]) -> list[str]:
    """Normalised names (how many, and how long, PaperRecord checks)."""
    return [name for name in split_glued_authors([normalize_text(n) for n in names]) if name]


def _date(value, key: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadRecord(f"{key} must be a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise BadRecord(f"{key} {value[:40]!r} is not a YYYY-MM-DD date") from None


def _int_or_none(value, key: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > 20):
        raise BadRecord(f"{key} must be a whole number")
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        raise BadRecord(f"{key} must be a whole number") from None
    if n < 1:
        raise BadRecord(f"{key} must be at least 1")
    return n


def _version_number(value) -> int | None:
    if isinstance(value, str) and value[:1] == "v" and value[1:].isdigit():
        if len(value) > 6:
            raise BadRecord(f"version {value[:20]!r}… is too large")
        return int(value[1:])
    return None


def _rfc2822(value) -> dt.datetime | None:
    """A version's ``created`` time; a bad one costs the line (:func:`paperboy.ingest.fields.rfc2822` reads it)."""
    if not isinstance(value, str):
        return None
    stamp = fields.rfc2822(value)
    if stamp is None:
        raise BadRecord(f"version date {value[:40]!r} is not an RFC 2822 date")
    return stamp


# --- reading and importing (I/O) -------------------------------------------------------------

@dataclass(slots=True)
class ParsedChunk:
    """What the parsing process hands the writer for one chunk of lines."""

    records: list[Prepared]  # parsed and prepared for the store (hash, math, author keys)
    bad: list[BadLine]
    skipped: int  # outside since/until
    position: int  # bytes of the file read up to the end of the chunk


def parse_chunk(lines: list[tuple[int, bytes]], fmt: str | None, since: dt.date | None, until: dt.date | None,
                position: int) -> ParsedChunk:  # fmt: skip
    """Parse numbered lines (pure: runs in a separate process during an import)."""
    chunk = ParsedChunk([], [], 0, position)
    for number, line in lines:
        try:
            if fmt is None:
                raise BadRecord("not valid JSON")
            record = parse_line(line, fmt)
        except InvalidRecord as e:  # BadRecord (the line) or out-of-range fields (PaperRecord's checks)
            chunk.bad.append(BadLine(number, str(e)))
            continue
        if (since and (record.announced is None or record.announced < since)) or (
            until and (record.announced is None or record.announced > until)
        ):
            chunk.skipped += 1
            continue
        chunk.records.append(prepare(record))
    return chunk


def _chunks(reader: DumpReader, size: int):
    """(format, iterator of (numbered lines, position)) — the format detected from the first line that is JSON."""
    fmt = None
    lines: list[tuple[int, bytes]] = []
    for number, line, position in reader:
        if fmt is None:
            try:
                first = orjson.loads(line)
                fmt = detect_format(first) if isinstance(first, dict) else None
            except orjson.JSONDecodeError:
                pass  # a bad first line: reported, and the format detected from the next
            yield None if fmt is None else fmt, None
        lines.append((number, line))
        if len(lines) >= size:
            yield fmt, (lines, position)
            lines = []
    if lines:
        yield fmt, (lines, position)


def _parsed_chunks(reader: DumpReader, size: int, since, until, parallel: bool) -> Iterator[tuple[str | None, ParsedChunk]]:
    """Chunks of parsed records, in file order. With ``parallel``, parsing runs in a second process,
    a chunk or two ahead of the writer: on two cores parsing and writing then overlap (about half
    the import each, measured)."""
    if not parallel:
        fmt = None
        for fmt_now, item in _chunks(reader, size):
            fmt = fmt_now or fmt
            if item is not None:
                yield fmt, parse_chunk(item[0], fmt, since, until, item[1])
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1) as pool:
        pending = []
        fmt = None
        for fmt_now, item in _chunks(reader, size):
            fmt = fmt_now or fmt
            if item is None:
                continue
            pending.append((fmt, pool.submit(parse_chunk, item[0], fmt, since, until, item[1])))
            if len(pending) > 2:  # bounded read-ahead: memory stays at a few chunks
                done_fmt, future = pending.pop(0)
                yield done_fmt, future.result()
        for done_fmt, future in pending:
            yield done_fmt, future.result()


def import_dump(
    engine: Engine,
    path: str | os.PathLike,
    *,
    limit: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import a dump into the database; returns counts and the bad lines (by line number).

    ``since``/``until`` keep papers whose announced day lies in that inclusive range; ``limit`` stops
    after that many papers have been read. ``progress(done_bytes, total_bytes)`` is called as the
    file is read. A file damaged part-way is imported up to the damage, which the summary's
    ``damage`` names (the caller reports it: the import is incomplete). Each batch of
    ``batch_size`` lines is committed on its own, in a write
    transaction held only while that batch is written (web writes wait for one batch, not for the
    import); a batch that meets a busy database is retried. ``parallel`` (default: when there is
    more than one core) parses in a second process while this one writes.
    """
    path = Path(path)
    if not path.is_file():
        raise DumpError(f"{path}: no such file")
    try:
        total = path.stat().st_size
        path.open("rb").close()  # unreadable (permissions): an error now, not part-way
    except OSError as e:
        raise DumpError(f"{path}: cannot be read: {e.strerror or e}") from None
    reader = DumpReader(path, MAX_LINE_BYTES)
    summary = ImportSummary()
    parallel = (os.cpu_count() or 1) > 1 if parallel is None else parallel
    fmt = None
    for fmt, chunk in _parsed_chunks(reader, batch_size, since, until, parallel):
        summary.bad.extend(chunk.bad)
        summary.skipped += chunk.skipped
        records = chunk.records
        if limit is not None:
            records = records[: max(0, limit - summary.read)]
        summary.read += len(records)
        if records:
            summary.add(retrying(engine, lambda conn, batch=records: upsert_papers(conn, batch)))
        if progress:
            progress(chunk.position, total)
        if limit is not None and summary.read >= limit:
            break
    if summary.new or summary.updated:
        retrying(engine, optimize)
    summary.format = fmt or "unknown"
    summary.damage = reader.damage
    if progress:
        progress(total, total)
    return summary
