"""The archive's papers: ``import`` a dump, ``stats``, ``index`` for search, ``search``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from paperboy.cli.common import database, err, fail, out, parse_day, print_json, search_service, settings

__all__ = ["import_command", "index", "search", "stats"]


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

    since_day, until_day = parse_day(since, "--since"), parse_day(until, "--until")
    if not path.is_file():
        fail(f"{path}: no such file")
    engine = database(migrate)
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
        print_json(summary.as_dict(), pretty=True)
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


def stats(as_json: Annotated[bool, typer.Option("--json", help="Print the figures as a JSON object.")] = False) -> None:
    """How many papers and announcement days the database holds."""
    from paperboy.search.indexer import embedding_progress
    from paperboy.store import repo

    engine = database()
    with engine.connect() as conn:
        figures = {**repo.stats(conn), **embedding_progress(conn)}
    if as_json:
        print_json(figures)
        return
    out.print(f"papers   {figures['papers']:>10,}")
    out.print(f"days     {figures['days']:>10,}" + (f"  ({figures['first_day']} – {figures['last_day']})" if figures["days"] else ""))
    out.print(f"authors  {figures['authors']:>10,}")
    share = f" ({100 * figures['embedded'] / figures['visible_papers']:.0f}%)" if figures["visible_papers"] else ""
    model = f", {figures['embedding_model']}" if figures["embedding_model"] else ""
    out.print(f"embedded {figures['embedded']:>10,}{share}{model}")


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
    from paperboy.search.embed import embedder_loader
    from paperboy.search.indexer import update_indexes

    engine = database()
    config = settings()
    load = embedder_loader(config)
    bar = Progress(
        TextColumn("[bold]Embedding[/]"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} papers"),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err, disable=not err.is_terminal,
    )  # fmt: skip
    task = bar.add_task("embed", total=None, rate="")
    begun = [0.0]

    def keyword_done(run) -> None:
        out.print(f"keyword index: {run.keyword_papers:,} papers, {run.keyword_terms:,} terms ({run.keyword_seconds:.1f} s)")

    def embedder():
        try:
            model = load()
        except Exception as e:
            fail(f"no embedding model available: {e}")
        bar.start()  # shown while embedding, as the model is there to embed with
        begun[0] = time.perf_counter()
        return model

    def progress(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - begun[0], 1e-9)
        bar.update(task, completed=done, total=total, rate=f"{rate:,.1f} papers/s" if done else "")

    try:
        run = update_indexes(engine, config.data_dir, embedder, keyword_only=keyword_only, batch_size=batch_size,
                             limit=limit, progress=progress, keyword_done=keyword_done)  # fmt: skip
    finally:
        bar.stop()
    if keyword_only:
        return
    report = run.embedding
    rate = f" ({report.embedded / run.embed_seconds:,.1f} papers/s)" if report.embedded else ""
    out.print(f"embeddings ({run.model}): {report.embedded:,} new{rate}, {report.up_to_date:,} already up to date")
    if run.graph:
        out.print(f"vector graph (HNSW): {run.graph:,} vectors")
    if run.vectors_file:
        out.print(f"vectors file (mapped by the web processes): {run.vectors_file:,} vectors")


def search(
    query: Annotated[str, typer.Argument(help='What to look for; supports "phrases", author:, cat:, after:, before:.')],
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many results.")] = 10,
    sort: Annotated[str, typer.Option(help="relevance, date or upvotes.")] = "relevance",
    page: Annotated[str, typer.Option(help="Which page of results (1 to 50).")] = "1",
    cat: Annotated[Optional[str], typer.Option(help="Only papers in this arXiv category (cs.CL).")] = None,
    author: Annotated[Optional[str], typer.Option(help="Only papers by this author.")] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="Announced on or after this day (YYYY-MM-DD).")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="Announced on or before this day (YYYY-MM-DD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    keyword_only: Annotated[bool, typer.Option("--keyword-only", help="Skip semantic search.")] = False,
) -> None:
    """Search the archive from the command line, with the search page's filters and rules."""
    from paperboy.errors import Invalid
    from paperboy.search.view import SearchParams, search_view

    try:
        params = SearchParams.parse({"q": query, "sort": sort, "page": page, "cat": cat, "author": author, "from": date_from,
                                     "to": date_to}, per_page=limit)  # fmt: skip
    except Invalid as e:
        fail(str(e))
    engine = database()
    config = settings()
    result = search_view(search_service(engine, config), params, semantic=not keyword_only).results
    if as_json:
        from paperboy.api.serializers import search_json

        print_json(search_json(query, result, base_url=config.base_url))
        return
    for note in result.notes:
        err.print(f"[yellow]{note}[/]")
    if result.redirect:
        out.print(f"{config.base_url}{result.redirect}")
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
