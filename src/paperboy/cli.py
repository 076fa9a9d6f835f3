"""The `paperboy` command line.

Exit codes scripts can rely on: 0 success, 1 a clear error (message on stderr), 2 bad usage,
3 `import --strict` finished but skipped bad lines.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

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

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _engine():
    from paperboy.store.db import make_engine

    try:
        settings = get_settings()
    except ValueError as e:
        fail(str(e))
    return make_engine(settings.database_url)


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
    if strict and summary.bad:
        raise typer.Exit(3)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Web worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option("--migrate", help="Create or upgrade the database schema first.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the web site."""
    import uvicorn

    engine = _engine()
    _require_schema(engine, migrate)
    engine.dispose()
    out.print(f"Paperboy on [bold]http://{host}:{port}/[/] (database: {engine.url.render_as_string(hide_password=True)})")
    uvicorn.run(
        "paperboy.web.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
        server_header=False,
    )


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print the figures as a JSON object.")] = False) -> None:
    """How many papers and announcement days the database holds."""
    from paperboy.store import repo

    engine = _engine()
    _require_schema(engine, False)
    with engine.connect() as conn:
        figures = repo.stats(conn)
    if as_json:
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    out.print(f"papers   {figures['papers']:>10,}")
    out.print(f"days     {figures['days']:>10,}" + (f"  ({figures['first_day']} – {figures['last_day']})" if figures["days"] else ""))
    out.print(f"authors  {figures['authors']:>10,}")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create the schema or migrate it to the newest version."""
    from paperboy.store.db import upgrade

    engine = _engine()
    try:
        upgrade(engine, revision)
    except Exception as e:
        fail(f"migration failed: {e}")
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
    """Bring the search indexes up to date: embed papers that have no vector yet, rebuild the keyword index.

    Incremental and resumable: a killed run loses at most one batch; run it again to carry on.
    """
    from paperboy.search.indexer import embed_pending, rebuild_keyword_index

    engine = _engine()
    _require_schema(engine, False)
    settings = get_settings()
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


def _load_embedder(settings):
    from paperboy.search.embed import load_embedder

    return load_embedder(settings.embedding_model or None)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='What to look for; supports "phrases", author:, cat:, after:, before:.')],
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many results.")] = 10,
    sort: Annotated[str, typer.Option(help="relevance, date or upvotes.")] = "relevance",
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    keyword_only: Annotated[bool, typer.Option("--keyword-only", help="Skip semantic search.")] = False,
) -> None:
    """Search the archive from the command line."""
    from paperboy.search.service import SORTS, SearchService

    if sort not in SORTS:
        raise typer.BadParameter(f"choose one of {', '.join(SORTS)}", param_hint="--sort")
    engine = _engine()
    _require_schema(engine, False)
    settings = get_settings()
    service = SearchService(engine, settings.data_dir, embedder_loader=lambda: _load_embedder(settings))
    result = service.search(query, sort=sort, per_page=limit, semantic=not keyword_only)
    if as_json:
        sys.stdout.write(json.dumps({
            "query": query, "total": result.total, "redirect": result.redirect, "notes": result.notes,
            "semantic": result.semantic,
            "results": [{"id": p.arxiv_id, "title": p.title, "authors": p.authors, "announced": p.announced.isoformat() if p.announced else None,
                         "categories": p.categories, "upvotes": p.upvotes, "url": f"{settings.base_url}/papers/{p.arxiv_id}"} for p in result.papers],
        }) + "\n")  # fmt: skip
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


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Public username (3-32 letters, digits, - or _).")],
    email: Annotated[str, typer.Argument(help="E-mail address (for password resets).")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin (moderation, exempt from submission rules).")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Create a user account (the first admin, typically)."""
    from paperboy.accounts.users import UserError, create_user

    engine = _engine()
    _require_schema(engine, False)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with engine.begin() as conn:
            user = create_user(conn, username, email, password, is_admin=admin)
    except UserError as e:
        fail(str(e))
    out.print(f"Created {'admin ' if user.is_admin else ''}user [bold]{user.username}[/] (id {user.id}).")


@mail_app.command("deliver")
def mail_deliver() -> None:
    """Send the mail waiting in the outbox (each message once, even with several senders)."""
    from paperboy.mail.outbox import deliver_pending

    engine = _engine()
    _require_schema(engine, False)
    try:
        settings = get_settings()
    except ValueError as e:
        fail(str(e))
    report = deliver_pending(engine, settings)
    out.print(f"sent {report.sent}, failed {report.failed}, skipped {report.skipped}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
