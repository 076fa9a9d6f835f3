"""What signing up, logging in and resetting a password *do*: the rules, the rate limits, the mail.

Each flow is one function over a connection in the caller's write transaction; it returns what
the caller needs (a session token, whether a mail was queued) or raises a
:class:`~paperboy.errors.DomainError`. Pages, a JSON API and the CLI call the same functions, so
they cannot disagree about a rule.

Messages never say whether an account exists: a wrong password and an unknown login read the same
(and cost the same argon2 work), and a reset request always answers "if an account exists".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import Connection

from paperboy.accounts import devices, ratelimit, verification
from paperboy.accounts.api_tokens import revoke_all_tokens
from paperboy.accounts.passwords import fingerprint
from paperboy.accounts.sessions import create_session, end_all_sessions, end_session
from paperboy.accounts.tokens import RESET_MAX_AGE, TokenInvalid, make_reset_token, read_reset_token
from paperboy.accounts.users import User, authenticate, create_user, find_login, get_user, get_user_by_email, set_password, validate_password
from paperboy.config import Settings
from paperboy.errors import Forbidden, Invalid
from paperboy.mail.addresses import AddressError

__all__ = ["SignedIn", "sign_up", "log_in", "log_out", "request_reset", "user_for_reset", "reset_password", "WRONG_LOGIN"]

WRONG_LOGIN = "Wrong username, e-mail or password."


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    session_token: str
    device_cookie: str | None = None  # for this browser: it is now a known device of the account
    mail_key: str | None = None  # the outbox key of the mail this queued (deliver it after the response)


def sign_up(conn: Connection, settings: Settings, *, username: str, email: str, password: str, ip: str) -> SignedIn:
    """Create an account (unverified) and a session for it, and queue the mail with the link that
    confirms its address (see accounts/verification.py). Rate-limited per client address."""
    ratelimit.enforce(conn, "signup-ip", ip)
    user = create_user(conn, username, email, password, smtputf8=settings.smtp_utf8)
    key = verification.send_confirmation(conn, settings, user, quiet=True)
    secret = settings.secret_key
    return SignedIn(user, create_session(conn, user.id), devices.issue(secret, user.id) if secret else None, key)


def log_in(conn: Connection, *, login: str, password: str, ip: str, secret: str = "", device_cookie: str | None = None,
           previous_session: str | None = None) -> SignedIn:  # fmt: skip
    """Check the password and open a session (ending ``previous_session``, the browser's old one).

    Throttling (rules in ``accounts/ratelimit.py``), decided before any password is checked:

    * a browser that logged in to this account before (``device_cookie``) is limited on its own
      failures only — a stranger's guessing never locks the owner out of their own browser;
    * any other browser is blocked after too many failures from its address (for all accounts, and
      for this account), and beyond that the account answers unknown browsers ever more slowly
      (at most a minute between tries) — slower guessing from a botnet, never a lock-out.

    A suspended user who knows the password is told so.
    """
    login = (login or "").strip()[:254]
    known = find_login(conn, login)
    device = devices.device_id(secret, device_cookie, known.id) if known and secret else None
    account = str(known.id) if known else "?" + login.lower()  # unknown logins are counted the same way
    if device:
        checks = [("login-device", f"{account}:{device}")]
    else:
        checks = [("login-ip", ip), ("login-account-ip", f"{account}|{ip}"), ("login-account", account)]
    for rule, subject in checks:
        ratelimit.refuse_if_over(conn, rule, subject)
    user = authenticate(conn, login, password)
    if user is None:
        for rule, subject in checks:
            ratelimit.hit(conn, rule, subject)
        raise Invalid(WRONG_LOGIN)
    if user.suspended:
        raise Forbidden("This account is suspended.")
    # A success clears this browser's own failures, never the account-wide count a stranger built up.
    own = checks[0] if device else ("login-account-ip", f"{account}|{ip}")
    ratelimit.clear(conn, *own)
    if previous_session:
        end_session(conn, previous_session)  # logging in as someone else ends the session that was here
    return SignedIn(user, create_session(conn, user.id), devices.issue(secret, user.id, device) if secret else None)


def log_out(conn: Connection, session_token: str | None) -> None:
    if session_token:
        end_session(conn, session_token)


def request_reset(conn: Connection, settings: Settings, *, email: str, ip: str) -> bool:
    """Queue a password-reset mail if ``email`` belongs to an active account; True if one was queued.

    The caller answers the same either way. Limited per client address (that limit is the only
    refusal anyone sees) and, silently, per account.
    """
    from paperboy.mail.outbox import enqueue

    ratelimit.enforce(conn, "reset-ip", ip)
    user = get_user_by_email(conn, (email or "").strip()[:254])
    if user is None or user.suspended or not ratelimit.hit(conn, "reset-account", str(user.id)).allowed:
        return False
    token = make_reset_token(settings.secret_key, user.id, user.password_hash)
    link = f"{settings.base_url}/reset/{quote(token)}"
    minutes = RESET_MAX_AGE // 60
    try:
        return enqueue(
            conn,
            key=f"reset:{user.id}:{hashlib.sha256(token.encode()).hexdigest()[:32]}",
            to=user.email,
            subject="Reset your Paperboy password",
            text=(
                f"Hello {user.username},\n\nSomeone (hopefully you) asked to reset the password of your Paperboy "
                f"account. Open this link within {minutes} minutes to choose a new one:\n\n{link}\n\n"
                "The link works once. If you didn't ask for it, ignore this mail: your password stays as it is.\n"
            ),
        )
    except AddressError:  # an address stored before addresses were checked, that no mail can reach
        return False


def user_for_reset(conn: Connection, secret: str, token: str) -> User:
    """The user a reset link is for; :class:`TokenInvalid` if it expired, was tampered with or was used."""
    user_id, print_ = read_reset_token(secret, token)
    user = get_user(conn, user_id)
    if user is None or user.suspended or fingerprint(user.password_hash) != print_:
        raise TokenInvalid("This link has already been used or is no longer valid. Ask for a new one.")
    return user


def reset_password(conn: Connection, secret: str, token: str, password: str, *, ip: str = "",
                   on_verified: verification.Verified) -> str:
    """Set a new password through a reset link and end every session and API token of the account
    (whoever had the old password is logged out, and whatever they made with it stops working). The
    link stops working: it embeds the old password's fingerprint. The link came by mail, so the
    account's address is verified too (unless another account verified it first; ``on_verified`` as
    in :func:`~paperboy.accounts.verification.mark_verified`).

    Returns a device cookie: the browser that proved the mailbox is a known device of the account,
    so its next log-in is allowed however hard a stranger is guessing at the account.
    """
    user = user_for_reset(conn, secret, token)
    validate_password(password, user.username)
    ratelimit.enforce(conn, "reset-password-ip", ip)
    set_password(conn, user.id, password)
    end_all_sessions(conn, user.id)
    revoke_all_tokens(conn, user.id)
    verification.mark_verified(conn, user, on_verified)
    return devices.issue(secret, user.id)
