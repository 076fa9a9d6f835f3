"""E-mail digests: ``digest preview``/``send`` an edition, and its ``subscribers``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from paperboy.cli.common import database, err, fail, out, print_json, search_service, settings

__all__ = ["digest_app", "subscribers_app"]

digest_app = typer.Typer(help="E-mail digests: preview and send an edition.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Digest subscribers: import, export, statistics.", no_args_is_help=True)


def _edition(value: Optional[str], config):
    from paperboy import clock
    from paperboy.digest.editions import parse_edition
    from paperboy.digest.schedule import latest_daily_edition
    from paperboy.errors import Invalid

    if value is None:
        return latest_daily_edition(clock.now(), config)
    try:
        return parse_edition(value)
    except Invalid as e:
        raise typer.BadParameter(str(e), param_hint="--edition") from None


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

    config = settings()
    engine = database()
    ed = _edition(edition, config)
    try:
        mail, sub = preview(engine, config, ed, search=search_service(engine, config), email=email)
    except DomainError as e:
        fail(str(e))
    if out_file is None:
        out.print(f"Subject: {mail.subject}\nTo: {sub.email}\n")
        out.print(mail.text, markup=False)
        return
    # An address with non-ASCII before the @ goes in a UTF-8 header, as an SMTPUTF8 mail carries it.
    out_file.write_bytes(message_bytes(config, sub.email, mail.subject, mail.text, mail.html, mail.headers,
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

    config = settings()
    engine = database()
    ed = _edition(edition, config)
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

        report = send_edition(engine, config, ed, search=search_service(engine, config), connections=connections,
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

    config = settings()
    engine = database()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {file}: {e}")
    with Progress(TextColumn("importing"), BarColumn(), TextColumn("{task.completed:,} rows"), console=err,
                  disable=not sys.stderr.isatty()) as bar:  # fmt: skip
        task = bar.add_task("import", total=max(1, text.count("\n")))
        try:
            report = import_subscribers(engine, config, text, confirmed=confirmed, progress=lambda n: bar.update(task, advance=n))
        except DomainError as e:
            fail(str(e))
    for line, why in report.bad:
        err.print(f"line {line}: skipped: {why}", markup=False)
    out.print(f"added {report.added}, updated {report.updated}, skipped {len(report.bad)} bad rows"
              + (f"; {report.confirmations} confirmation mails queued (send them with `paperboy mail deliver`)" if report.confirmations else ""))  # fmt: skip
    if report.confirmations:
        from paperboy.digest.delivery import deliver

        sent = deliver(engine, config, limit=None, connections=config.smtp_connections, key_prefix="digest-confirm:")
        out.print(f"confirmation mails: sent {sent.sent}, failed {sent.failed}, bounced {sent.bounced}")


@subscribers_app.command("export")
def subscribers_export() -> None:
    """Print every subscription as CSV (email, name, frequency, status, confirmed_at, bounces)."""
    from paperboy.digest.subscriptions import export_subscribers

    engine = database()
    with engine.connect() as conn:
        sys.stdout.write(export_subscribers(conn))


@subscribers_app.command("stats")
def subscribers_stats(as_json: Annotated[bool, typer.Option("--json", help="Print the figures as a JSON object.")] = False) -> None:
    """Subscribers by state and frequency, and digest mail by delivery state."""
    from paperboy.digest.subscriptions import subscriber_stats

    engine = database()
    with engine.connect() as conn:
        stats = subscriber_stats(conn)
    if as_json:
        print_json(stats)
        return
    s = stats["subscribers"]
    out.print(f"subscribers: {s['active']:,} active ({stats['active_by_frequency']['daily']:,} daily, "
              f"{stats['active_by_frequency']['weekly']:,} weekly), {s['pending']:,} not confirmed, "
              f"{s['unsubscribed']:,} unsubscribed, {s['bounced']:,} disabled after bounces")  # fmt: skip
    mail = stats["digest_mail"]
    out.print("digest mail: " + (", ".join(f"{n:,} {k}" for k, n in sorted(mail.items())) or "none yet")
              + f"; {stats['papers_sent']:,} papers sent in all")  # fmt: skip
