"""Outgoing mail: ``mail deliver`` sends what waits in the outbox."""

from __future__ import annotations

import typer

from paperboy.cli.common import database, out, settings

__all__ = ["mail_app"]

mail_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)


@mail_app.command("deliver")
def mail_deliver() -> None:
    """Send the mail waiting in the outbox (each message once, even with several senders)."""
    from paperboy.digest.delivery import deliver

    config = settings()
    engine = database()
    report = deliver(engine, config, limit=None, connections=config.smtp_connections)
    out.print(f"sent {report.sent}, failed {report.failed}, bounced {report.bounced}, cancelled {report.cancelled}, "
              f"skipped {report.skipped}")  # fmt: skip
