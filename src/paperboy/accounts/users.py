"""Users: sign-up rules, look-ups and authentication.

Messages never say whether an account exists for an e-mail address: log-in failures and reset
requests read the same either way, and an unknown login still costs one argon2 verification.

Addresses are normalised by :mod:`paperboy.mail.addresses` (one mailbox, one key). An address is
unique among *verified* accounts only (see ``accounts/verification.py``): several unverified
accounts may name one address, and a look-up by address finds the verified one, else the oldest.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy import clock
from paperboy.accounts.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, needs_rehash, verify_dummy, verify_password
from paperboy.errors import Invalid, NotFound
from paperboy.mail.addresses import AddressError, mailbox_key, normalize
from paperboy.store.schema import users
from paperboy.store.versions import bump_sessions_version

__all__ = ["User", "UserError", "create_user", "authenticate", "get_user", "get_user_by_name", "get_user_by_email",
           "get_verified_user_by_email", "set_password", "validate_username", "validate_email", "validate_password"]  # fmt: skip

USERNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{1,30}[A-Za-z0-9])?")
RESERVED = frozenset(
    "admin administrator root paperboy api static papers login logout signup reset submit settings "
    "trending search about help support moderator mod system null none".split()
)


class UserError(Invalid):
    """A sign-up or account change that can't be done; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    email: str
    is_admin: bool
    suspended_at: dt.datetime | None
    created_at: dt.datetime
    password_hash: str = ""
    is_owner: bool = False
    email_verified_at: dt.datetime | None = None
    email_key: str = ""  # the address's mailbox key (mail/addresses.py)

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None

    @property
    def verified(self) -> bool:
        """The account proved it receives mail at its address (see accounts/verification.py)."""
        return self.email_verified_at is not None


def validate_username(username: str) -> str:
    username = (username or "").strip()
    if not 3 <= len(username) <= 32 or not USERNAME.fullmatch(username):
        raise UserError("Usernames are 3 to 32 letters, digits, '-' or '_', starting and ending with a letter or digit.")
    if username.lower() in RESERVED:
        raise UserError("That username is reserved.")
    return username


def validate_email(email: str, *, smtputf8: bool = False) -> str:
    """The address mail goes to (normalised by mail/addresses.py), or :class:`UserError`."""
    try:
        return normalize(email, smtputf8=smtputf8).address
    except AddressError as e:
        raise UserError(str(e)) from None


def validate_password(password: str, username: str = "") -> str:
    if len(password or "") < MIN_LENGTH:
        raise UserError(f"Passwords need at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise UserError(f"Passwords can be at most {MAX_LENGTH} characters.")
    if username and password.lower() == username.lower():
        raise UserError("Your password can't be your username.")
    return password


def create_user(conn: Connection, username: str, email: str, password: str, *, is_admin: bool = False, is_owner: bool = False,
                verified: bool = False, smtputf8: bool = False) -> User:  # fmt: skip
    """A new account. ``verified``: its address is known to be its own (the operator typed it, on
    the CLI); otherwise it is unverified until a mailed link is clicked. An address that a verified
    account has is refused (with a message that does not say so). ``is_owner``: the account becomes
    the site's owner in place of the one before (who stays an admin)."""
    username = validate_username(username)
    email = validate_email(email, smtputf8=smtputf8)
    validate_password(password, username)
    now = clock.now()
    row = {
        "username": username,
        "username_key": username.lower(),
        "email": email,
        "email_key": mailbox_key(email),
        "password_hash": hash_password(password),
        "is_admin": is_admin or is_owner,  # the owner is an admin too
        "is_owner": is_owner,
        "created_at": now,
        "email_verified_at": now if verified else None,
    }
    if get_verified_user_by_email(conn, email) is not None:
        raise UserError(TAKEN_EMAIL)
    if is_owner:
        clear_owner(conn)  # one owner at most; undone with the rest if the account cannot be made
    try:
        with conn.begin_nested():
            pk = conn.execute(insert(users).returning(users.c.id), row).scalar_one()
    except IntegrityError:
        if get_user_by_name(conn, username):
            raise UserError("That username is taken.") from None
        raise UserError(TAKEN_EMAIL) from None  # a verified account got the address meanwhile
    return get_user(conn, pk)


# Saying "this e-mail has an account" would reveal who uses the site.
TAKEN_EMAIL = "We couldn't create an account with these details. If you already have one, log in or reset your password."


# The columns a User is built from, in its fields' order: sessions and API tokens select them in
# the same query as their own row, so a request's user costs one look-up.
USER_COLUMNS = [users.c.id, users.c.username, users.c.email, users.c.is_admin, users.c.suspended_at, users.c.created_at,
            users.c.password_hash, users.c.is_owner, users.c.email_verified_at, users.c.email_key]  # fmt: skip
# Of the accounts naming one address, the verified one first, then the oldest.
_BY_ADDRESS = (users.c.email_verified_at.is_(None), users.c.id)


def _one(conn: Connection, condition) -> User | None:
    row = conn.execute(select(*USER_COLUMNS).where(condition).order_by(*_BY_ADDRESS)).first()
    return User(*row) if row else None


def get_user(conn: Connection, user_id: int) -> User | None:
    return _one(conn, users.c.id == user_id)


def get_user_by_name(conn: Connection, username: str) -> User | None:
    return _one(conn, users.c.username_key == (username or "").strip().lower())


def get_user_by_email(conn: Connection, email: str) -> User | None:
    """The account of the address: the verified one, else the oldest unverified one naming it."""
    return _one(conn, users.c.email_key == mailbox_key(email))


def get_verified_user_by_email(conn: Connection, email: str) -> User | None:
    return _one(conn, (users.c.email_key == mailbox_key(email)) & users.c.email_verified_at.is_not(None))


def _login_condition(login: str):
    """A username (no '@' in one) or an address, matched by its mailbox key."""
    key = (login or "").strip().lower()
    return users.c.email_key == mailbox_key(login) if "@" in key else users.c.username_key == key


def find_login(conn: Connection, login: str) -> User | None:
    """The user whose username or e-mail address is ``login`` (case-insensitive), without any password check."""
    return _one(conn, _login_condition(login)) if (login or "").strip() else None


def authenticate(conn: Connection, login: str, password: str) -> User | None:
    """The user whose username or e-mail is ``login`` and whose password matches, else ``None``.

    Suspended users authenticate (the caller refuses them with a message they are entitled to,
    having proved the password).
    """
    row = conn.execute(select(*USER_COLUMNS).where(_login_condition(login)).order_by(*_BY_ADDRESS)).first() if (login or "").strip() else None
    if row is None or len(password or "") > MAX_LENGTH:
        verify_dummy(password[:MAX_LENGTH] if password else "")
        return None
    user = User(*row)
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        conn.execute(update(users).where(users.c.id == user.id).values(password_hash=hash_password(password)))
    return user


def set_password(conn: Connection, user_id: int, password: str) -> None:
    user = get_user(conn, user_id)
    validate_password(password, user.username if user else "")
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=hash_password(password)))


def set_suspended(conn: Connection, user_id: int, suspended: bool, reason: str = "") -> None:
    """Suspend the account (with the reason, kept for the admins) or lift it; ending its sessions is
    the caller's part, in the same transaction."""
    conn.execute(update(users).where(users.c.id == user_id)
                 .values(suspended_at=clock.now() if suspended else None, suspended_reason=(reason or None) if suspended else None))  # fmt: skip


def clear_owner(conn: Connection) -> None:
    """No account is the owner any more (before another becomes it: there is one owner at most)."""
    conn.execute(update(users).where(users.c.is_owner.is_(True)).values(is_owner=False))


def make_owner(conn: Connection, username: str) -> User:
    """Make ``username`` the site's owner (and an admin); the previous owner stays an admin."""
    user = get_user_by_name(conn, username)
    if user is None:
        raise NotFound(f"No user {username!r}.")
    clear_owner(conn)
    conn.execute(update(users).where(users.c.id == user.id).values(is_owner=True, is_admin=True))
    bump_sessions_version(conn)  # cached sessions hold the old roles
    return get_user(conn, user.id)
