"""Verified addresses: an account proves it receives mail at its address before anything is tied
to that address.

Why: sign-up takes any address, so without a check a stranger signing up with somebody's address
could see and change that person's digest subscription (issue #22). So:

* Sign-up queues one mail with a signed link (:func:`send_confirmation`); clicking it
  (:func:`confirm_address`) marks the account verified. A password reset through a mailed link
  proves the mailbox too, so it verifies the address as well (:func:`mark_verified`).
* Until then the account can do everything that is not about its address (vote, comment,
  submit), but nothing that ties it to the address: :func:`require_verified` guards the digest
  settings, subscribing through the account, and personal digest sections.
* An address belongs to one *verified* account. Unverified accounts may share it, so a squatter
  never locks the mailbox's owner out of signing up; once one account verifies, the others can
  never verify it (their link says the address belongs to another account), a look-up by address
  (log-in, reset request) finds the verified account, and the digest subscription of the address
  is linked to the verified account alone.
* Password-reset mail still goes to an unverified account's address: that is how the mailbox's
  real owner takes back an account a stranger made with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from urllib.parse import quote

from sqlalchemy import Connection, update
from sqlalchemy.exc import IntegrityError

from paperboy import clock
from paperboy.accounts import ratelimit
from paperboy.accounts.tokens import VERIFY_MAX_AGE, TokenInvalid, address_fingerprint, make_verify_token, read_verify_token
from paperboy.accounts.users import User, get_user, get_verified_user_by_email
from paperboy.config import Settings
from paperboy.errors import Forbidden
from paperboy.store.schema import users
from paperboy.store.versions import bump_sessions_version

__all__ = ["Unverified", "confirm_address", "mark_verified", "require_verified", "send_confirmation", "VERIFY_PAGE"]

VERIFY_PAGE = "/account/verify"
OTHER_ACCOUNT = "This address already belongs to another account. If it is yours, log in to that one, or reset its password."


class Unverified(Forbidden):
    """The account has not confirmed its address; the message says how to."""


def require_verified(user: User) -> User:
    """``user``, or :class:`Unverified` if it has not confirmed its address yet."""
    if not user.verified:
        raise Unverified(f"Confirm your e-mail address first: open the link we mailed to {user.email} "
                         f"(or get a new one at {VERIFY_PAGE}). Until then your account is not tied to that address.")  # fmt: skip
    return user


def send_confirmation(conn: Connection, settings: Settings, user: User, *, quiet: bool = False) -> str | None:
    """Queue the mail with the account's confirmation link; its outbox key (the caller delivers it),
    or ``None`` when nothing was queued (already verified, or — with ``quiet`` — over a limit).

    Limited per account and per mailbox (every account naming the address counts). ``quiet`` (at
    sign-up): over a limit nothing is queued and nothing is said — the sign-up itself must not
    fail or tell who else used the address; otherwise (the "send it again" button) the limit is a
    :class:`~paperboy.errors.RateLimited` the account's owner sees.
    """
    from paperboy.mail.outbox import enqueue

    if user.verified:
        return None
    checks = [("verify-account", str(user.id), "You asked for several confirmation mails. Check your inbox (and spam folder), "
                                               "or try again tomorrow."),
              ("verify-address", user.email_key, "Several confirmation mails went to this address today. Try again tomorrow.")]  # fmt: skip
    for rule, subject, message in checks:
        if quiet:
            if not ratelimit.hit(conn, rule, subject).allowed:
                return None
        else:
            ratelimit.enforce(conn, rule, subject, message)
    token = make_verify_token(settings.secret_key, user.id, user.email_key)
    link = f"{settings.base_url}/verify/{quote(token)}"
    # The token alone repeats within a second (its timestamp's resolution): "send it again" must send.
    key = f"verify:{user.id}:{hashlib.sha256((token + clock.now().isoformat()).encode()).hexdigest()[:24]}"
    enqueue(
        conn, key=key, to=user.email, subject="Confirm your address for Paperboy",
        text=(
            f"Hello {user.username},\n\nSomeone (hopefully you) made the Paperboy account {user.username!r} with this "
            f"address. To confirm that the address is yours, open this link within {VERIFY_MAX_AGE // 86400} days:\n\n"
            f"{link}\n\nIf you didn't, ignore this mail: the account will not be tied to your address, and you can "
            "still sign up with it yourself.\n"
        ),
    )  # fmt: skip
    return key


Verified = Callable[[Connection, User], None]


def confirm_address(conn: Connection, secret: str, token: str, *, ip: str, on_verified: Verified) -> User:
    """Mark the account a confirmation link is for as verified (clicking again changes nothing).
    Limited per client address, like every write.

    :class:`TokenInvalid` if the link expired or was tampered with, if the account's address is no
    longer the one the link was sent to, or if another account has verified that address since.
    """
    ratelimit.enforce(conn, "verify-ip", ip)
    user_id, print_ = read_verify_token(secret, token)
    user = get_user(conn, user_id)
    if user is None or user.suspended:
        raise TokenInvalid("This confirmation link is no longer valid.")
    if address_fingerprint(user.email_key) != print_:
        raise TokenInvalid("This link was sent to an address your account no longer has.")
    if user.verified:
        return user
    if not mark_verified(conn, user, on_verified):
        raise TokenInvalid(OTHER_ACCOUNT)
    return get_user(conn, user.id)


def mark_verified(conn: Connection, user: User, on_verified: Verified) -> bool:
    """Record that ``user`` receives mail at its address, then call ``on_verified`` with the verified
    account in the same transaction; False (and nothing changed) if another account verified the
    address first. The caller names what hangs on an address (the digest links its subscription:
    ``digest.subscriptions.link_verified_account``), so accounts never import the digest above them."""
    if user.verified:
        return True
    other = get_verified_user_by_email(conn, user.email)
    if other is not None and other.id != user.id:
        return False
    try:
        with conn.begin_nested():  # two accounts verifying one address at once: the unique index decides
            conn.execute(update(users).where(users.c.id == user.id, users.c.email_verified_at.is_(None))
                         .values(email_verified_at=clock.now()))  # fmt: skip
    except IntegrityError:
        return False
    on_verified(conn, get_user(conn, user.id))
    bump_sessions_version(conn)  # cached sessions hold the unverified account
    return True
