"""The `paperboy` command line.

Exit codes scripts can rely on: 0 success, 1 a clear error (message on stderr; `import` of a file
damaged part-way imports what it could read and prints its summary first), 2 bad usage,
3 `import --strict` finished but skipped bad lines.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from paperboy import __version__
from paperboy.config import get_settings

app = typer.Typer(
    help="Paperboy: a self-hostable Daily Papers site for arXiv.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
mail_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)
app.add_typer(mail_app, name="mail")
digest_app = typer.Typer(help="E-mail digests: preview and send an edition.", no_args_is_help=True)
app.add_typer(digest_app, name="digest")
subscribers_app = typer.Typer(help="Digest subscribers: import, export, statistics.", no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")

# soft_wrap: long lines (paths, URLs) are not broken at 80 columns when the output is not a terminal
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _settings():
    """The settings, or a clear error (exit 1) naming the variable that is wrong."""
    try:
        return get_settings()
    except ValueError as e:
        fail(str(e))


def _engine():
    from paperboy.store.db import make_engine

    return make_engine(_settings().database_url)


def _require_schema(engine, migrate: bool) -> None:
    from paperboy.store.db import SchemaError, require_current_schema

    try:
        require_current_schema(engine, migrate=migrate)
    except SchemaError as e:
        fail(str(e))
    except Exception as e:  # unreachable server, unreadable file…
        fail(f"cannot open the database: {e}")


def _version(value: bool) -> None:
    if value:
        out.print(f"paperboy {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """Paperboy: a self-hostable Daily Papers site for arXiv."""


def _day(value: Optional[str], name: str) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date", param_hint=name) from None


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="A dump: Paperboy JSONL or Kaggle arXiv snapshot, plain or .gz.")],
    limit: Annotated[Optional[int], typer.Option(min=1, help="Import at most this many papers.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only papers announced on or after this day (YYYY-MM-DD).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only papers announced on or before this day (YYYY-MM-DD).")] = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Create or upgrade the database schema first.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with status 3 if any line was bad.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import papers from a dump file. Safe to repeat: unchanged papers are left alone."""
    from paperboy.ingest.dumps import DumpError, import_dump

    since_day, until_day = _day(since, "--since"), _day(until, "--until")
    if not path.is_file():
        fail(f"{path}: no such file")
    engine = _engine()
    _require_schema(engine, migrate)
    show_bar = not as_json and err.is_terminal
    with Progress(
        TextColumn("[bold]Importing[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show_bar,
        transient=False,
    ) as bar:
        task = bar.add_task(path.name, total=path.stat().st_size)
        try:
            summary = import_dump(
                engine,
                path,
                limit=limit,
                since=since_day,
                until=until_day,
                progress=lambda done, total: bar.update(task, completed=done),
            )
        except DumpError as e:
            fail(str(e))
    if as_json:
        out.print_json(json.dumps(summary.as_dict()))
    else:
        for bad in summary.bad[:20]:
            err.print(f"[yellow]line {bad.line}:[/] {bad.reason}")
        if len(summary.bad) > 20:
            err.print(f"[yellow]… and {len(summary.bad) - 20} more bad lines[/]")
        out.print(
            f"{summary.format}: [bold]{summary.new:,}[/] new, [bold]{summary.updated:,}[/] updated, "
            f"{summary.unchanged:,} unchanged, {len(summary.bad):,} bad"
            + (f", {summary.skipped:,} outside the date range" if summary.skipped else "")
        )
    if (summary.new or summary.updated) and not as_json:
        err.print(
            f"search: keyword search sees the {summary.new + summary.updated:,} new or changed papers at once; "
            "a running `paperboy worker` embeds them within a minute (or run `paperboy index` now)."
        )
    if summary.damage:
        fail(f"{path}: {summary.damage}. The lines before it were imported; get a whole copy of the file "
             "and import it again (what is already imported is left alone).")
    if strict and summary.bad:
        raise typer.Exit(3)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Web worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option("--migrate", help="Create or upgrade the database schema first.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve pages only; a site on several machines runs `paperboy worker` on its own.")] = False,
    no_backfill: Annotated[bool, typer.Option("--no-backfill", help="On an empty database, start empty instead of fetching the last days from arXiv.")] = False,
) -> None:
    """Run the web site, and beside it (unless --no-worker) the background work a one-machine site
    needs: embedding papers for search by meaning, the scheduled ingest (PAPERBOY_INGEST), mail."""
    import shutil
    import signal
    import tempfile

    from paperboy.config import metrics_dir, set_metrics_dir

    # Metrics of every process (web workers, the background worker) go to files in one folder made
    # for this run, named before prometheus_client is imported anywhere (see paperboy/metrics.py).
    made_metrics_dir = None
    if "prometheus_client" not in sys.modules and not metrics_dir():
        made_metrics_dir = tempfile.mkdtemp(prefix="paperboy-metrics-")
        set_metrics_dir(made_metrics_dir)
    # uvicorn answers SIGTERM gracefully (no new connections, requests in flight finish), then
    # raises the signal again under the handler that was there before it: this one, so that the
    # clean-up below (the background worker, the metrics folder) still runs and the exit is 0.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        _serve(host, port, workers, migrate, log_level, no_worker, no_backfill)
    except _Terminated:
        pass
    finally:
        if made_metrics_dir is not None:
            set_metrics_dir(None)
            shutil.rmtree(made_metrics_dir, ignore_errors=True)


class _Terminated(Exception):
    """SIGTERM reached ``serve`` itself (after uvicorn's graceful shutdown, or before it started)."""


def _terminated(*_) -> None:
    raise _Terminated


def _serve(host, port, workers, migrate, log_level, no_worker, no_backfill) -> None:
    import uvicorn

    from paperboy.web.server import uvicorn_options

    settings = _settings()
    engine = _engine()
    _require_schema(engine, migrate)
    engine.dispose()
    out.print(f"Paperboy on [bold]http://{host}:{port}/[/] (database: {engine.url.render_as_string(hide_password=True)})")
    background = None if no_worker else _background_worker(no_backfill)
    options = uvicorn_options(settings, host=host, port=port, workers=workers, log_level=log_level)
    try:
        uvicorn.run("paperboy.web.app:app_factory", factory=True, **options)
    finally:
        if background is not None:
            _stop(background)


def _background_worker(no_backfill: bool):
    """``paperboy worker --background`` beside the web server: its own process (embedding would hold
    the web process's interpreter), at a lower priority and on one core, so pages stay fast."""
    import subprocess

    command = [sys.executable, "-m", "paperboy.cli", "worker", "--background"] + (["--no-backfill"] if no_backfill else [])
    err.print("background work: embedding new papers, the scheduled ingest and mail (paperboy worker --background; --no-worker to skip)")
    import signal

    from paperboy.processes import die_with_parent

    # SIGTERM if serve itself is killed: the worker finishes its step and stops, never runs on alone.
    return subprocess.Popen(command, preexec_fn=lambda: die_with_parent(signal.SIGTERM))


def _stop(process, timeout: float = 60.0) -> None:
    """Ask a child to stop (SIGTERM: it finishes its current step), then insist."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print the figures as a JSON object.")] = False) -> None:
    """How many papers and announcement days the database holds."""
    from paperboy.search.indexer import embedding_progress
    from paperboy.store import repo

    engine = _engine()
    _require_schema(engine, False)
    with engine.connect() as conn:
        figures = {**repo.stats(conn), **embedding_progress(conn)}
    if as_json:
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    out.print(f"papers   {figures['papers']:>10,}")
    out.print(f"days     {figures['days']:>10,}" + (f"  ({figures['first_day']} – {figures['last_day']})" if figures["days"] else ""))
    out.print(f"authors  {figures['authors']:>10,}")
    share = f" ({100 * figures['embedded'] / figures['visible_papers']:.0f}%)" if figures["visible_papers"] else ""
    model = f", {figures['embedding_model']}" if figures["embedding_model"] else ""
    out.print(f"embedded {figures['embedded']:>10,}{share}{model}")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create the schema or migrate it to the newest version (and render math stored by older versions)."""
    from paperboy.store.db import upgrade
    from paperboy.store.repo import render_stale_math

    engine = _engine()
    try:
        upgrade(engine, revision)
    except Exception as e:
        fail(f"migration failed: {e}")
    if revision == "head":
        with Progress(TextColumn("[bold]Rendering math[/]"), TextColumn("{task.completed:,} papers"), console=err,
                      disable=not err.is_terminal, transient=True) as bar:  # fmt: skip
            task = bar.add_task("math", total=None)
            rendered = render_stale_math(engine, progress=lambda n: bar.update(task, completed=n))
        if rendered:
            out.print(f"Rendered the math of {rendered:,} papers stored by an older version.")
    out.print(f"Database ready at {engine.url.render_as_string(hide_password=True)}")


@db_app.command("status")
def db_status() -> None:
    """Say whether the schema is current (exit 1 if it is not)."""
    from paperboy.store.db import SchemaState, schema_status

    status = schema_status(_engine())
    out.print(status.message())
    if status.state is not SchemaState.CURRENT:
        raise typer.Exit(1)


@app.command()
def index(
    limit: Annotated[Optional[int], typer.Option(min=1, help="Embed at most this many papers now.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=4096, help="Papers per embedding batch (one transaction each).")] = 256,
    keyword_only: Annotated[bool, typer.Option("--keyword-only", help="Rebuild the keyword index only.")] = False,
) -> None:
    """Bring the search indexes up to date: embed papers that have no vector yet, rebuild the keyword index
    and, from 200,000 vectors up, the vector graph (HNSW) once a tenth of the vectors are newer than it.
    On PostgreSQL the keyword index is written into the database and pgvector's HNSW index is made once
    (PostgreSQL keeps it current): web nodes read both from there.

    Incremental and resumable: a killed run loses at most one batch; run it again to carry on.
    """
    from paperboy.search.indexer import embed_pending, rebuild_keyword_index

    engine = _engine()
    _require_schema(engine, False)
    settings = _settings()
    started = time.perf_counter()
    index_ = rebuild_keyword_index(engine, settings.data_dir)
    out.print(f"keyword index: {len(index_):,} papers, {len(index_.vocab):,} terms ({time.perf_counter() - started:.1f} s)")
    if keyword_only:
        return
    try:
        embedder = _load_embedder(settings)
    except Exception as e:
        fail(f"no embedding model available: {e}")
    with Progress(
        TextColumn("[bold]Embedding[/]"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} papers"),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err, disable=not err.is_terminal,
    ) as bar:  # fmt: skip
        task = bar.add_task("embed", total=None, rate="")
        begun = time.perf_counter()

        def progress(done, total):
            rate = done / max(time.perf_counter() - begun, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.1f} papers/s" if done else "")

        report = embed_pending(engine, embedder, batch_size=batch_size, limit=limit, progress=progress)
    seconds = time.perf_counter() - begun
    rate = f" ({report.embedded / seconds:,.1f} papers/s)" if report.embedded else ""
    out.print(f"embeddings ({embedder.name}): {report.embedded:,} new{rate}, {report.up_to_date:,} already up to date")
    from paperboy.search.indexer import rebuild_ann, refresh_vector_file

    graph = rebuild_ann(engine, settings.data_dir, embedder.name)
    if graph:
        out.print(f"vector graph (HNSW): {graph:,} vectors")
    shared = refresh_vector_file(engine, settings.data_dir, embedder.name)
    if shared:
        out.print(f"vectors file (mapped by the web processes): {shared:,} vectors")


def _load_embedder(settings):
    from paperboy.search.embed import load_embedder

    return load_embedder(settings.embedding_model or None, threads=settings.embedding_threads)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='What to look for; supports "phrases", author:, cat:, after:, before:.')],
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many results.")] = 10,
    sort: Annotated[str, typer.Option(help="relevance, date or upvotes.")] = "relevance",
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    keyword_only: Annotated[bool, typer.Option("--keyword-only", help="Skip semantic search.")] = False,
) -> None:
    """Search the archive from the command line."""
    from paperboy.search.service import SORTS

    if sort not in SORTS:
        raise typer.BadParameter(f"choose one of {', '.join(SORTS)}", param_hint="--sort")
    engine = _engine()
    _require_schema(engine, False)
    settings = _settings()
    service = _search_service(engine, settings)
    result = service.search(query, sort=sort, per_page=limit, semantic=not keyword_only)
    if as_json:
        from paperboy.api.serializers import search_json

        sys.stdout.write(json.dumps(search_json(query, result, base_url=settings.base_url)) + "\n")
        return
    for note in result.notes:
        err.print(f"[yellow]{note}[/]")
    if result.redirect:
        out.print(f"{settings.base_url}{result.redirect}")
        return
    if not result.papers:
        out.print("No results.")
        raise typer.Exit(1)
    for i, p in enumerate(result.papers, 1):
        day = p.announced.isoformat() if p.announced else "—"
        out.print(f"[bold]{i:>2}. {p.title}[/]", highlight=False, markup=True)
        out.print(f"    arXiv:{p.arxiv_id} · {day} · {', '.join(p.authors[:3])}{' et al.' if len(p.authors) > 3 else ''}", highlight=False, markup=False)
    more = result.total - len(result.papers)
    if more > 0:
        out.print(f"… {more:,} more ({'keyword + semantic' if result.semantic else 'keyword only'})")


# --- ingest and worker (issue #5) ---------------------------------------------------------------

ingest_app = typer.Typer(
    help="Fetch papers from arXiv. Polite: one request every 3 s per arXiv service, shared by every process.",
    no_args_is_help=True,
)
app.add_typer(ingest_app, name="ingest")

_MIN_INTERVAL_HELP = "Seconds between requests (default: PAPERBOY_ARXIV_INTERVAL; below 3 only for a loopback test server)."


def _polite_interval(url: str, seconds: float | None, settings, service: str = "arxiv-api") -> float:
    """``--min-interval``, else the service's pace; below arXiv's 3 s only for a test server on this machine."""
    from paperboy.config import is_loopback_url
    from paperboy.ingest.http import pace

    seconds = pace(settings, service) if seconds is None else seconds
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
    from paperboy.ingest.oai import FORMATS, HarvestConflict, harvest

    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    since_day, until_day = _day(from_, "--from"), _day(until, "--until")
    settings = _settings()
    base_url = base_url or settings.arxiv_oai_url
    interval = _polite_interval(base_url, min_interval, settings, "arxiv-oai")
    engine = _engine()
    _require_schema(engine, migrate)
    with client_for(settings, "arxiv-oai", engine, base_url=base_url, interval=interval) as client, \
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
        sys.stdout.write(json.dumps(summary.as_dict()) + "\n")
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
    settings = _settings()
    interval = _polite_interval(settings.arxiv_api_url, min_interval, settings)
    engine = _engine()
    _require_schema(engine, migrate)
    with client_for(settings, "arxiv-api", engine, interval=interval) as client, \
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
        sys.stdout.write(json.dumps(summary.as_dict()) + "\n")
        return
    if summary.available > MAX_RESULTS:
        err.print(f"[yellow]arXiv has {summary.available:,} results; its API serves the first {MAX_RESULTS:,} "
                  "(use `paperboy ingest oai` for bulk harvesting)[/]")  # fmt: skip
    _first_ids(summary.changed_ids, dry_run)
    out.print(f"arxiv {','.join(known)}, last {days} day(s): {summary.read:,} records: "
              f"{_changes_line(summary.new, summary.updated, summary.unchanged, dry_run)}", soft_wrap=True)  # fmt: skip


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run the latest due daily run (if nobody has) and exit.")] = False,
    background: Annotated[bool, typer.Option("--background", help="Run as `paperboy serve` runs it: lower priority, one core for embedding.")] = False,
    no_backfill: Annotated[bool, typer.Option("--no-backfill", help="On an empty database, start empty instead of fetching the last days from arXiv.")] = False,
) -> None:
    """Run scheduled jobs: the daily ingest after each arXiv announcement (PAPERBOY_DAILY_AT in
    PAPERBOY_DAILY_TZ), then search indexing; in between, embed papers that arrive (imports,
    submissions) within a minute.

    Several workers may run at once; each run still happens once (a lease in the database).
    """
    import logging
    import signal
    import threading

    from paperboy.jobs.daily import run_worker_from_settings

    import dataclasses

    from paperboy.logs import configure

    settings = _settings()
    configure(settings, logging.INFO)
    if no_backfill:
        settings = dataclasses.replace(settings, backfill_days=0)
    if background:
        import os

        os.nice(10)  # the web server's requests come first
        settings = dataclasses.replace(settings, embedding_threads=1)
    engine = _engine()
    _require_schema(engine, False)
    stop = threading.Event()
    # SIGTERM: finish the job under way (its lease is marked done or failed), start no other, exit.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        results = run_worker_from_settings(engine, settings, once=once, stop=stop)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    for r in results:
        out.print(f"{r.run_key}: {r.status if r.claimed else 'already done or running elsewhere'}"
                  + (f" ({r.error})" if r.error else ""))  # fmt: skip
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)




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
    engine = _engine()
    _require_schema(engine, False)
    settings = _settings()
    try:
        if file is not None:
            summary = ingest_listing(engine, parse_listing(_read_file(file)), dry_run=dry_run)
        else:
            base = base_url or settings.arxiv_rss_url
            interval = _polite_interval(base, min_interval, settings, "arxiv-rss")
            with client_for(settings, "arxiv-rss", engine, base_url=base, interval=interval) as client:
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

    day = _day(date, "--date")
    engine = _engine()
    _require_schema(engine, False)
    settings = _settings()
    try:
        if file is not None:
            summary = ingest_hf_day(engine, parse_daily_papers(_read_file(file)), day, dry_run=dry_run)
        else:
            interval = _polite_interval(base_url or settings.hf_base_url, min_interval, settings, "hf")
            with client_for(settings, "hf", engine, base_url=base_url, interval=interval) as client:
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
        sys.stdout.write(json.dumps(summary.as_dict()) + "\n")
    else:
        out.print(summary.message, markup=False, soft_wrap=True)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Public username (3-32 letters, digits, - or _).")],
    email: Annotated[str, typer.Argument(help="E-mail address (for password resets).")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin (moderation, exempt from submission rules).")] = False,
    owner: Annotated[bool, typer.Option("--owner", help="Make the user the site's owner: an admin who may also suspend admins.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
    unverified: Annotated[bool, typer.Option("--unverified", help="Leave the address unconfirmed (the account confirms it by a mailed link).")] = False,
) -> None:
    """Create a user account (the first admin, typically). The operator typed the address, so it
    counts as confirmed (unless --unverified); refused if a confirmed account has it already."""
    from paperboy.accounts.users import UserError, clear_owner, create_user
    from paperboy.store.db import write_transaction

    settings = _settings()
    engine = _engine()
    _require_schema(engine, False)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with write_transaction(engine) as conn:
            if owner:
                clear_owner(conn)
            user = create_user(conn, username, email, password, is_admin=admin, is_owner=owner, verified=not unverified,
                               smtputf8=settings.smtp_utf8)  # fmt: skip
    except UserError as e:
        fail(str(e))
    role = "owner " if user.is_owner else "admin " if user.is_admin else ""
    out.print(f"Created {role}user [bold]{user.username}[/] (id {user.id}).")


@user_app.command("owner")
def user_owner(username: Annotated[str, typer.Argument(help="The account that becomes the site's owner (and an admin).")]) -> None:
    """Make an existing user the site's owner: the one admin who may suspend other admins."""
    from paperboy.accounts.users import make_owner
    from paperboy.errors import DomainError
    from paperboy.store.db import write_transaction

    engine = _engine()
    _require_schema(engine, False)
    try:
        with write_transaction(engine) as conn:
            user = make_owner(conn, username)
    except DomainError as e:
        fail(str(e))
    out.print(f"[bold]{user.username}[/] is now the site's owner.")


@mail_app.command("deliver")
def mail_deliver() -> None:
    """Send the mail waiting in the outbox (each message once, even with several senders)."""
    from paperboy.mail.outbox import deliver_pending

    settings = _settings()
    engine = _engine()
    _require_schema(engine, False)
    report = deliver_pending(engine, settings, limit=None, connections=settings.smtp_connections)
    out.print(f"sent {report.sent}, failed {report.failed}, bounced {report.bounced}, cancelled {report.cancelled}, "
              f"skipped {report.skipped}")  # fmt: skip


# --- digests -----------------------------------------------------------------------------------

def _edition(value: Optional[str], settings):
    from paperboy import clock
    from paperboy.digest.editions import parse_edition
    from paperboy.digest.schedule import latest_daily_edition
    from paperboy.errors import Invalid

    if value is None:
        return latest_daily_edition(clock.now(), settings)
    try:
        return parse_edition(value)
    except Invalid as e:
        raise typer.BadParameter(str(e), param_hint="--edition") from None


def _search_service(engine, settings):
    from paperboy.search.service import site_search

    return site_search(engine, settings, lambda: _load_embedder(settings))


EditionOption = Annotated[Optional[str], typer.Option("--edition", help="A day (2026-06-30: the daily edition) or an ISO week "
                                                      "(2026-W27: the weekly one); default: the latest daily edition.")]  # fmt: skip


@digest_app.command("preview")
def digest_preview(
    email: Annotated[Optional[str], typer.Option("--email", help="A subscriber's address (default: a reader with the default settings).")] = None,
    edition: EditionOption = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write the whole message (.eml) here instead of printing its text part.")] = None,
) -> None:
    """Show the mail a subscriber would get for an edition (nothing is queued or recorded)."""
    from paperboy.digest.send import preview
    from paperboy.errors import DomainError
    from paperboy.mail.addresses import needs_smtputf8
    from paperboy.mail.message import message_bytes

    settings = _settings()
    engine = _engine()
    _require_schema(engine, False)
    ed = _edition(edition, settings)
    try:
        mail, sub = preview(engine, settings, ed, search=_search_service(engine, settings), email=email)
    except DomainError as e:
        fail(str(e))
    if out_file is None:
        out.print(f"Subject: {mail.subject}\nTo: {sub.email}\n")
        out.print(mail.text, markup=False)
        return
    # An address with non-ASCII before the @ goes in a UTF-8 header, as an SMTPUTF8 mail carries it.
    out_file.write_bytes(message_bytes(settings, sub.email, mail.subject, mail.text, mail.html, mail.headers,
                                       utf8=needs_smtputf8(sub.email)))  # fmt: skip
    out.print(f"wrote {out_file} ({len(mail.paper_ids)} papers, edition {ed.key})")


@digest_app.command("send")
def digest_send(
    edition: EditionOption = None,
    connections: Annotated[Optional[int], typer.Option("--connections", min=1, max=64, help="Parallel SMTP connections (default: PAPERBOY_SMTP_CONNECTIONS).")] = None,
) -> None:
    """Queue an edition for every active subscriber of its frequency and deliver it.

    Safe to rerun (after a crash or kill it finishes the edition; nobody gets it twice, except a
    mail that was in flight at the kill, at most one per SMTP connection, with the same
    Message-ID) and to run on several machines at once.
    """
    from paperboy.digest.send import send_edition

    settings = _settings()
    engine = _engine()
    _require_schema(engine, False)
    ed = _edition(edition, settings)
    show = sys.stderr.isatty()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TimeRemainingColumn(), console=err, disable=not show) as bar:  # fmt: skip
        render = bar.add_task(f"rendering {ed.key}", total=None)
        deliver = bar.add_task("sending", total=None)

        def on_queue(done: int, total: int) -> None:
            bar.update(render, total=total, advance=done)
            bar.update(deliver, total=(bar.tasks[deliver].total or 0) + done if done else None)

        def on_outcome(what: str) -> None:
            bar.update(deliver, advance=1)

        report = send_edition(engine, settings, ed, search=_search_service(engine, settings), connections=connections,
                              on_queue=on_queue, on_outcome=on_outcome)  # fmt: skip
    r = report.as_dict()
    out.print(f"edition {ed.key}: queued {r['queued']} (already queued {r['already_queued']}); sent {r['sent']}, "
              f"retried {r['retried']}, bounced {r['bounced']}, skipped {r['skipped']}, failed {r['failed']}"
              + (f"; {r['still_pending']} still pending (run again later)" if r["still_pending"] else ""))  # fmt: skip
    out.print(f"trending: {report.trending_rule}", markup=False)
    if r["still_pending"]:
        raise typer.Exit(1)


@subscribers_app.command("import")
def subscribers_import(
    file: Annotated[Path, typer.Argument(help="CSV with a header row: email (required), name, frequency (daily or weekly).")],
    confirmed: Annotated[bool, typer.Option("--confirmed", help="The addresses already opted in elsewhere: active at once, no confirmation mail.")] = False,
) -> None:
    """Add subscribers from a CSV file; without --confirmed each new address is sent a confirmation link.
    Bad rows are reported by line number and skipped; a rerun adds nobody twice."""
    from paperboy.digest.subscriptions import import_subscribers
    from paperboy.errors import DomainError

    settings = _settings()
    engine = _engine()
    _require_schema(engine, False)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {file}: {e}")
    with Progress(TextColumn("importing"), BarColumn(), TextColumn("{task.completed:,} rows"), console=err,
                  disable=not sys.stderr.isatty()) as bar:  # fmt: skip
        task = bar.add_task("import", total=max(1, text.count("\n")))
        try:
            report = import_subscribers(engine, settings, text, confirmed=confirmed, progress=lambda n: bar.update(task, advance=n))
        except DomainError as e:
            fail(str(e))
    for line, why in report.bad:
        err.print(f"line {line}: skipped: {why}", markup=False)
    out.print(f"added {report.added}, updated {report.updated}, skipped {len(report.bad)} bad rows"
              + (f"; {report.confirmations} confirmation mails queued (send them with `paperboy mail deliver`)" if report.confirmations else ""))  # fmt: skip
    if report.confirmations:
        from paperboy.mail.outbox import deliver_pending

        sent = deliver_pending(engine, settings, limit=None, connections=settings.smtp_connections, key_prefix="digest-confirm:")
        out.print(f"confirmation mails: sent {sent.sent}, failed {sent.failed}, bounced {sent.bounced}")


@subscribers_app.command("export")
def subscribers_export() -> None:
    """Print every subscription as CSV (email, name, frequency, status, confirmed_at, bounces)."""
    from paperboy.digest.subscriptions import export_subscribers

    engine = _engine()
    _require_schema(engine, False)
    with engine.connect() as conn:
        sys.stdout.write(export_subscribers(conn))


@subscribers_app.command("stats")
def subscribers_stats(as_json: Annotated[bool, typer.Option("--json", help="Print the figures as a JSON object.")] = False) -> None:
    """Subscribers by state and frequency, and digest mail by delivery state."""
    from paperboy.digest.subscriptions import subscriber_stats

    engine = _engine()
    _require_schema(engine, False)
    with engine.connect() as conn:
        stats = subscriber_stats(conn)
    if as_json:
        print(json.dumps(stats))
        return
    s = stats["subscribers"]
    out.print(f"subscribers: {s['active']:,} active ({stats['active_by_frequency']['daily']:,} daily, "
              f"{stats['active_by_frequency']['weekly']:,} weekly), {s['pending']:,} not confirmed, "
              f"{s['unsubscribed']:,} unsubscribed, {s['bounced']:,} disabled after bounces")  # fmt: skip
    mail = stats["digest_mail"]
    out.print("digest mail: " + (", ".join(f"{n:,} {k}" for k, n in sorted(mail.items())) or "none yet")
              + f"; {stats['papers_sent']:,} papers sent in all")  # fmt: skip


@app.command("migrate-data")
def migrate_data_command(
    source: Annotated[str, typer.Option("--from", help="Database to copy from (SQLAlchemy URL, e.g. sqlite:////var/lib/paperboy/paperboy.db).")],
    target: Annotated[str, typer.Option("--to", help="Database to copy to (e.g. postgresql+psycopg://paperboy:…@db/paperboy); its schema is upgraded first.")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted copy into a target that already holds part of it.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Delete everything the target holds, then copy.")] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per transaction.")] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-table counts as JSON.")] = False,
) -> None:
    """Copy every table from one database to another (SQLite <-> PostgreSQL), resumably, and verify the counts.

    Stop the web and worker processes first. Search indexes are not copied: run `paperboy index` on the target afterwards."""
    from paperboy.store.migrate import MigrationError, migrate_data

    with Progress(TextColumn("[bold]{task.description:<20}[/]"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} rows"),
                  TimeRemainingColumn(), console=err, disable=not err.is_terminal) as bar:  # fmt: skip
        tasks: dict[str, int] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done, total=total)

        try:
            result = migrate_data(source, target, resume=resume, replace=replace, batch=batch, progress=progress)
        except MigrationError as e:
            fail(str(e))
    if as_json:
        sys.stdout.write(json.dumps({"tables": {t.table: {"source": t.source_rows, "target": t.target_rows, "copied": t.copied} for t in result.tables},
                                     "sequences_reset": len(result.sequences_reset), "vectors_filled": result.vectors_filled}) + "\n")  # fmt: skip
        return
    for t in result.tables:
        out.print(f"{t.table:<20} {t.target_rows:>10,} rows" + (f" ({t.copied:,} copied now)" if t.copied != t.target_rows else ""))
    out.print(f"Copied {result.copied:,} rows; every table's count matches the source. "
              "Now point PAPERBOY_DATABASE_URL at the target and run `paperboy index` to build its search indexes.")  # fmt: skip


def main() -> None:
    app()


if __name__ == "__main__":
    main()
