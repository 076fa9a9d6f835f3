"""The database itself: ``db upgrade``, ``db status`` and ``migrate-data`` (SQLite <-> PostgreSQL)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from paperboy.cli.common import err, fail, out, print_json, unchecked_database

__all__ = ["db_app", "migrate_data_command"]

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create the schema or migrate it to the newest version (and render math stored by older versions)."""
    from paperboy.store.db import upgrade
    from paperboy.store.maintenance import render_stale_math

    engine = unchecked_database()
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

    status = schema_status(unchecked_database())
    out.print(status.message())
    if status.state is not SchemaState.CURRENT:
        raise typer.Exit(1)


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
        print_json({"tables": {t.table: {"source": t.source_rows, "target": t.target_rows, "copied": t.copied} for t in result.tables},
                    "sequences_reset": len(result.sequences_reset), "vectors_filled": result.vectors_filled})  # fmt: skip
        return
    for t in result.tables:
        out.print(f"{t.table:<20} {t.target_rows:>10,} rows" + (f" ({t.copied:,} copied now)" if t.copied != t.target_rows else ""))
    out.print(f"Copied {result.copied:,} rows; every table's count matches the source. "
              "Now point PAPERBOY_DATABASE_URL at the target and run `paperboy index` to build its search indexes.")  # fmt: skip
