"""Fetching papers from arXiv and Hugging Face: ``ingest oai``, ``arxiv``, ``rss``, ``hf``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from paperboy.cli.common import database, err, fail, out, parse_day, print_json, settings

__all__ = ["ingest_app"]

ingest_app = typer.Typer(
    help="Fetch papers from arXiv. Polite: one request every 3 s per arXiv service, shared by every process.",
    no_args_is_help=True,
)

_MIN_INTERVAL_HELP = "Seconds between requests (default: PAPERBOY_ARXIV_INTERVAL; below 3 only for a loopback test server)."


def _polite_interval(url: str, seconds: float | None, config, service: str = "arxiv-api") -> float:
    """``--min-interval``, else the service's pace; below arXiv's 3 s only for a test server on this machine."""
    from paperboy.config import is_loopback_url
    from paperboy.ingest.http import pace

    seconds = pace(config, service) if seconds is None else seconds
    if service != "hf" and seconds < 3.0 and not is_loopback_url(url):
        fail("arXiv asks for at least 3 seconds between requests; --min-interval below 3 is for loopback test servers only")
    return seconds


def _records_bar(label: str, enabled: bool) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}[/]"), BarColumn(), TextColumn("{task.completed:,}/{task.fields[of]} records"),
        TimeRemainingColumn(), console=err, disable=not (enabled and err.is_terminal),
    )  # fmt: skip


def _changes_line(new: int, updated: int, unchanged: int, dry_run: bool) -> str:
    if dry_run:
        return f"dry run, nothing written: would add [bold]{new:,}[/] new, update [bold]{updated:,}[/], {unchanged:,} unchanged"
    return f"[bold]{new:,}[/] new, [bold]{updated:,}[/] updated, {unchanged:,} unchanged"


def _first_ids(ids: list[str], dry_run: bool) -> None:
    if ids:
        more = f" … and {len(ids) - 10:,} more" if len(ids) > 10 else ""
        out.print(f"{'would change' if dry_run else 'changed'}: {', '.join(ids[:10])}{more}", soft_wrap=True)


@ingest_app.command("oai")
def ingest_oai(
    set_spec: Annotated[Optional[str], typer.Option("--set", help="OAI set: cs, math, physics:hep-th, cs:cs:AI … (default: everything).")] = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="Records changed on or after this day (YYYY-MM-DD).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Records changed on or before this day (YYYY-MM-DD).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Metadata format: arXivRaw (versions and times) or arXiv.")] = "arXivRaw",
    restart: Annotated[bool, typer.Option("--restart", help="Forget where an earlier run of this harvest stopped; start over.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Fetch and show what would change; write nothing.")] = False,
    base_url: Annotated[Optional[str], typer.Option(help="OAI-PMH endpoint (default: PAPERBOY_ARXIV_OAI_URL).")] = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Create or upgrade the database schema first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    min_interval: Annotated[Optional[float], typer.Option(hidden=True, min=0, help=_MIN_INTERVAL_HELP)] = None,
) -> None:
    """Harvest arXiv's OAI-PMH interface: whole sets, resumable (a rerun carries on after the last stored page)."""
    from paperboy.ingest.clients import client_for
    from paperboy.ingest.http import ServiceError
    from paperboy.ingest.oai import FORMATS, harvest
    from paperboy.ingest.pages import HarvestConflict

    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    since_day, until_day = parse_day(from_, "--from"), parse_day(until, "--until")
    config = settings()
    base_url = base_url or config.arxiv_oai_url
    interval = _polite_interval(base_url, min_interval, config, "arxiv-oai")
    engine = database(migrate)
    with client_for(config, "arxiv-oai", engine, base_url=base_url, interval=interval) as client, \
            _records_bar(f"Harvesting {set_spec or 'all'}", not as_json) as bar:  # fmt: skip
        task = bar.add_task("oai", total=None, of="?")
        try:
            summary = harvest(
                engine, client, set_spec=set_spec, metadata_prefix=fmt, from_date=since_day, until=until_day,
                dry_run=dry_run, restart=restart,
                progress=lambda done, total: bar.update(task, completed=done, total=total, of=f"{total:,}" if total else "?"),
            )  # fmt: skip
        except (ServiceError, HarvestConflict) as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted; every stored page is kept: run the same command again to carry on")
    if as_json:
        print_json(summary.as_dict())
        return
    if summary.resumed_at_page:
        err.print(f"resumed at page {summary.resumed_at_page} (use --restart to start over)", soft_wrap=True)
    _first_ids(summary.changed_ids, dry_run)
    extras = "".join(
        f", {n:,} {what}" for n, what in ((summary.deleted, "deleted"), (summary.skipped, "unreadable")) if n
    )
    stamp = f"; newest datestamp {summary.last_datestamp}" if summary.last_datestamp else ""
    out.print(
        f"oai {set_spec or 'all'} ({fmt}): {summary.records:,} records in {summary.pages:,} pages: "
        f"{_changes_line(summary.new, summary.updated, summary.unchanged, dry_run)}{extras}{stamp}",
        soft_wrap=True,
    )


@ingest_app.command("arxiv")
def ingest_arxiv(
    categories: Annotated[str, typer.Option(help="Comma-separated arXiv categories, e.g. cs.CL,cs.LG.")],
    days: Annotated[int, typer.Option(min=1, max=365, help="Papers submitted in the last N days.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Fetch and show what would change; write nothing.")] = False,
    migrate: Annotated[bool, typer.Option("--migrate", help="Create or upgrade the database schema first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    min_interval: Annotated[Optional[float], typer.Option(hidden=True, min=0, help=_MIN_INTERVAL_HELP)] = None,
) -> None:
    """Fetch recent papers of some categories through the arXiv API (up to 30,000, in pages of 2,000)."""
    from paperboy.ingest.clients import client_for
    from paperboy.ingest.http import ServiceError
    from paperboy.ingest.recent import MAX_RESULTS, ingest_recent
    from paperboy.papers.normalize import split_classifications

    wanted = [c.strip() for c in categories.split(",") if c.strip()]
    known, _, _ = split_classifications(wanted)
    unknown = [c for c in wanted if c not in known]
    if not wanted or unknown:
        raise typer.BadParameter(f"not arXiv categories: {', '.join(unknown) or '(none given)'}", param_hint="--categories")
    config = settings()
    interval = _polite_interval(config.arxiv_api_url, min_interval, config)
    engine = database(migrate)
    with client_for(config, "arxiv-api", engine, interval=interval) as client, \
            _records_bar(f"arXiv {','.join(known)}", not as_json) as bar:  # fmt: skip
        task = bar.add_task("api", total=None, of="?")
        try:
            summary = ingest_recent(engine, client, known, days, dry_run=dry_run,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total, of=f"{total:,}"))  # fmt: skip
        except ServiceError as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted; the pages fetched so far are stored")
    if as_json:
        print_json(summary.as_dict())
        return
    if summary.available > MAX_RESULTS:
        err.print(f"[yellow]arXiv has {summary.available:,} results; its API serves the first {MAX_RESULTS:,} "
                  "(use `paperboy ingest oai` for bulk harvesting)[/]")  # fmt: skip
    _first_ids(summary.changed_ids, dry_run)
    out.print(f"arxiv {','.join(known)}, last {days} day(s): {summary.read:,} records: "
              f"{_changes_line(summary.new, summary.updated, summary.unchanged, dry_run)}", soft_wrap=True)  # fmt: skip



@ingest_app.command("rss")
def ingest_rss(
    categories: Annotated[str, typer.Option("--categories", "-c", help="arXiv categories or archives, comma-separated: cs.CL,cs.LG.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Fetch and count, but change nothing.")] = False,
    base_url: Annotated[Optional[str], typer.Option(help="Listing server (default https://rss.arxiv.org).")] = None,
    atom: Annotated[bool, typer.Option("--atom", help="Ask for the Atom listing instead of RSS.")] = False,
    file: Annotated[Optional[Path], typer.Option("--file", help="Ingest a saved RSS/Atom listing instead of fetching one.")] = None,
    min_interval: Annotated[Optional[float], typer.Option(min=0, help=_MIN_INTERVAL_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Ingest today's arXiv listing: new papers go on its day's feed, replacements update versions."""
    from paperboy.ingest.clients import client_for
    from paperboy.ingest.http import ServiceError
    from paperboy.ingest.listings import ingest_from_feed, ingest_listing, parse_categories, parse_listing

    try:
        cats = parse_categories(categories)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--categories") from None
    engine = database()
    config = settings()
    try:
        if file is not None:
            summary = ingest_listing(engine, parse_listing(_read_file(file)), dry_run=dry_run)
        else:
            base = base_url or config.arxiv_rss_url
            interval = _polite_interval(base, min_interval, config, "arxiv-rss")
            with client_for(config, "arxiv-rss", engine, base_url=base, interval=interval) as client:
                summary = ingest_from_feed(engine, client, cats, fmt="atom" if atom else "rss", dry_run=dry_run)
    except ServiceError as e:
        fail(str(e))
    _print_summary(summary, as_json)


@ingest_app.command("hf")
def ingest_hf(
    date: Annotated[str, typer.Option("--date", help="The day of Hugging Face's Daily Papers to mirror (YYYY-MM-DD).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Fetch and count, but change nothing.")] = False,
    base_url: Annotated[Optional[str], typer.Option(help="Hugging Face API server (default https://huggingface.co).")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="Ingest a saved /api/daily_papers answer instead of fetching one.")] = None,
    min_interval: Annotated[Optional[float], typer.Option(min=0, help="Seconds between requests to Hugging Face (default: PAPERBOY_HF_INTERVAL).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Mirror Hugging Face's Daily Papers for a day: HF's upvotes are stored apart from ours."""
    from paperboy.ingest.clients import client_for
    from paperboy.ingest.hf import ingest_hf_day, mirror_hf_day, parse_daily_papers
    from paperboy.ingest.http import ServiceError

    day = parse_day(date, "--date")
    engine = database()
    config = settings()
    try:
        if file is not None:
            summary = ingest_hf_day(engine, parse_daily_papers(_read_file(file)), day, dry_run=dry_run)
        else:
            interval = _polite_interval(base_url or config.hf_base_url, min_interval, config, "hf")
            with client_for(config, "hf", engine, base_url=base_url, interval=interval) as client:
                summary = mirror_hf_day(engine, client, day, dry_run=dry_run)
    except ServiceError as e:
        fail(str(e))
    _print_summary(summary, as_json)


def _read_file(file: Path) -> bytes:
    """A saved answer to ingest instead of fetching one (``--file``)."""
    if not file.is_file():
        fail(f"{file}: no such file")
    return file.read_bytes()


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
    else:
        out.print(summary.message, markup=False, soft_wrap=True)
