"""Running the site: ``serve`` (the web server, and beside it the background worker) and ``worker``.

How the two processes are started, watched and stopped is :mod:`paperboy.processes`; what is here
reads the options and says what is happening.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from paperboy.cli.common import database, err, out, settings

__all__ = ["serve", "worker"]


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
    from paperboy.processes import Terminated, metrics_folder, stop_on_sigterm

    with metrics_folder(), stop_on_sigterm():
        try:
            _serve(host, port, workers, migrate, log_level, no_worker, no_backfill)
        except Terminated:
            pass


def _serve(host, port, workers, migrate, log_level, no_worker, no_backfill) -> None:
    import uvicorn

    from paperboy.processes import stop_child
    from paperboy.web.server import uvicorn_options

    config = settings()
    engine = database(migrate)
    engine.dispose()
    out.print(f"Paperboy on [bold]http://{host}:{port}/[/] (database: {engine.url.render_as_string(hide_password=True)})")
    background = None if no_worker else _background_worker(no_backfill)
    options = uvicorn_options(config, host=host, port=port, workers=workers, log_level=log_level)
    try:
        uvicorn.run("paperboy.app:app_factory", factory=True, **options)
    finally:
        if background is not None:
            stop_child(background)


def _background_worker(no_backfill: bool):
    """``paperboy worker --background`` beside the web server: its own process (embedding would hold
    the web process's interpreter), at a lower priority and on one core, so pages stay fast."""
    import signal

    from paperboy.processes import start_child

    command = [sys.executable, "-m", "paperboy.cli", "worker", "--background"] + (["--no-backfill"] if no_backfill else [])
    err.print("background work: embedding new papers, the scheduled ingest and mail (paperboy worker --background; --no-worker to skip)")
    # SIGTERM if serve itself is killed: the worker finishes its step and stops, never runs on alone.
    return start_child(command, on_parent_death=signal.SIGTERM)


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
    import dataclasses
    import logging
    import signal
    import threading

    from paperboy.jobs.daily import run_worker_from_settings
    from paperboy.logs import configure

    config = settings()
    configure(config, logging.INFO)
    if no_backfill:
        config = dataclasses.replace(config, backfill_days=0)
    if background:
        import os

        os.nice(10)  # the web server's requests come first
        config = dataclasses.replace(config, embedding_threads=1)
    engine = database()
    stop = threading.Event()
    # SIGTERM: finish the job under way (its lease is marked done or failed), start no other, exit.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        results = run_worker_from_settings(engine, config, once=once, stop=stop)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    for r in results:
        out.print(f"{r.run_key}: {r.status if r.claimed else 'already done or running elsewhere'}"
                  + (f" ({r.error})" if r.error else ""))  # fmt: skip
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)
