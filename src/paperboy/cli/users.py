"""User accounts: ``user create`` (the first admin, typically) and ``user owner``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from paperboy.cli.common import database, fail, out, settings

__all__ = ["user_app"]

user_app = typer.Typer(help="User accounts.", no_args_is_help=True)


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
    from paperboy.accounts.users import UserError, create_user
    from paperboy.store.db import write_transaction

    config = settings()
    engine = database()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with write_transaction(engine) as conn:
            user = create_user(conn, username, email, password, is_admin=admin, is_owner=owner, verified=not unverified,
                               smtputf8=config.smtp_utf8)  # fmt: skip
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

    engine = database()
    try:
        with write_transaction(engine) as conn:
            user = make_owner(conn, username)
    except DomainError as e:
        fail(str(e))
    out.print(f"[bold]{user.username}[/] is now the site's owner.")
