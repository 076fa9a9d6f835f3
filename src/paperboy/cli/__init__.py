"""The `paperboy` command line: every command, in the order ``paperboy --help`` lists them.

Exit codes scripts can rely on: 0 success, 1 a clear error (message on stderr; `import` of a file
damaged part-way imports what it could read and prints its summary first), 2 bad usage,
3 `import --strict` finished but skipped bad lines.

One module per noun (papers, serve, db, users, mail, digest, ingest); what they share (the
settings, the database with its schema checked, the error and JSON printers) is
:mod:`paperboy.cli.common`. Each command parses its options, calls the domain function that does
the work and prints what it returns.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from paperboy import __version__
from paperboy.cli import db, digest, ingest, mail, papers, serve, users
from paperboy.cli.common import out

__all__ = ["app", "main"]

app = typer.Typer(
    help="Paperboy: a self-hostable Daily Papers site for arXiv.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


app.command("import")(papers.import_command)
app.command("serve")(serve.serve)
app.command("stats")(papers.stats)
app.command("index")(papers.index)
app.command("search")(papers.search)
app.command("worker")(serve.worker)
app.command("migrate-data")(db.migrate_data_command)

app.add_typer(db.db_app, name="db")
app.add_typer(users.user_app, name="user")
app.add_typer(mail.mail_app, name="mail")
app.add_typer(digest.digest_app, name="digest")
app.add_typer(digest.subscribers_app, name="subscribers")
app.add_typer(ingest.ingest_app, name="ingest")


def main() -> None:
    app()
