"""What every command shares: the consoles, the one way to fail, the settings, the database (with
its schema checked, in one place) and the one JSON printer.

Commands parse their options, call one domain function and print; anything more they need in
common lives here, so that each error reads and exits the same whichever command meets it.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer
from rich.console import Console

from paperboy.config import Settings, get_settings

if TYPE_CHECKING:  # sqlalchemy takes longer to import than `paperboy --version` takes to answer
    from sqlalchemy import Engine

__all__ = ["database", "err", "fail", "out", "parse_day", "print_json", "search_service", "settings", "unchecked_database"]

# soft_wrap: long lines (paths, URLs) are not broken at 80 columns when the output is not a terminal
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """A clear error on stderr and exit 1 (or ``code``): the CLI's one way to give up."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def settings() -> Settings:
    """The settings, or a clear error (exit 1) naming the variable that is wrong."""
    try:
        return get_settings()
    except ValueError as e:
        fail(str(e))


def unchecked_database() -> Engine:
    """The configured database, schema unchecked: only for the commands that manage the schema
    itself (``db upgrade``, ``db status``)."""
    from paperboy.store.db import make_engine

    return make_engine(settings().database_url)


def database(migrate: bool = False) -> Engine:
    """The configured database, its schema current (``migrate``: created or upgraded first), or a
    clear error (exit 1). The one place the CLI checks the schema: every command that reads or
    writes the site's data opens its database here, so none can forget to."""
    from paperboy.store.db import SchemaError, require_current_schema

    engine = unchecked_database()
    try:
        require_current_schema(engine, migrate=migrate)
    except SchemaError as e:
        fail(str(e))
    except Exception as e:  # unreachable server, unreadable file…
        fail(f"cannot open the database: {e}")
    return engine


def search_service(engine: Engine, config: Settings):
    """The site's search (``search``, digests), its model loaded only if a query needs it."""
    from paperboy.search.embed import embedder_loader
    from paperboy.search.factory import site_search

    return site_search(engine, config, embedder_loader(config))


def print_json(data: Any, *, pretty: bool = False) -> None:
    """``--json`` output: one JSON document on stdout, on one line (for scripts); ``pretty``:
    indented with non-ASCII kept as it is, as ``import --json`` has always printed its summary."""
    if pretty:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(json.dumps(data) + "\n")


def parse_day(value: Optional[str], name: str) -> Optional[dt.date]:
    """A ``YYYY-MM-DD`` option, or a usage error (exit 2) naming it."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date", param_hint=name) from None
