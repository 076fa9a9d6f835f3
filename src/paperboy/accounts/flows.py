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

from paperboy.accounts import ratelimit
from paperboy.accounts.passwords import fingerprint
from paperboy.accounts.sessions import create_session, end_all_sessions, end_session
from paperboy.accounts.tokens import RESET_MAX_AGE, TokenInvalid, make_reset_token, read_reset_token
from paperboy.accounts.users import User, authenticate, create_user, get_user, get_user_by_email, set_password
from paperboy.errors import Forbidden, Invalid

__all__ = ["SignedIn", "sign_up", "log_in", "log_out", "request_reset", "user_for_reset", "reset_password", "WRONG_LOGIN"]

WRONG_LOGIN = "Wrong username, e-mail or password."


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    session_token: str


def sign_up(conn: Connection, *, username: str, email: str, password: str, ip: str) -> SignedIn:
    """Create an account and a session for it. Rate-limited per client address."""
    ratelimit.enforce(conn, "signup-ip", ip)
    user = create_user(conn, username, email, password)
    return SignedIn(user, create_session(conn, user.id))


def log_in(conn: Connection, *, login: str, password: str, ip: str) -> SignedIn:
    """Check the password and open a session.

    Failures are counted per client address and per account; while either is over its limit no
    password is even checked. A suspended user who knows the password is told so.
    """
    login = (login or "").strip()[:254]
    account = login.lower()
    ratelimit.refuse_if_over(conn, "login-ip", ip)
    ratelimit.refuse_if_over(conn, "login-account", account)
    user = authenticate(conn, login, password)
    if user is None:
        ratelimit.hit(conn, "login-ip", ip)
        ratelimit.hit(conn, "login-account", account)
        raise Invalid(WRONG_LOGIN)
    if user.suspended:
        raise Forbidden("This account is suspended.")
    ratelimit.clear(conn, "login-account", account)
    return SignedIn(user, create_session(conn, user.id))


def log_out(conn: Connection, session_token: str | None) -> None:
    if session_token:
        end_session(conn, session_token)


def request_reset(conn: Connection, settings, *, email: str, ip: str) -> bool:
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


def user_for_reset(conn: Connection, secret: str, token: str) -> User:
    """The user a reset link is for; :class:`TokenInvalid` if it expired, was tampered with or was used."""
    user_id, print_ = read_reset_token(secret, token)
    user = get_user(conn, user_id)
    if user is None or user.suspended or fingerprint(user.password_hash) != print_:
        raise TokenInvalid("This link has already been used or is no longer valid. Ask for a new one.")
    return user


def reset_password(conn: Connection, secret: str, token: str, password: str) -> User:
    """Set a new password through a reset link and end every session of the account (whoever had
    the old password is logged out). The link stops working: it embeds the old password's fingerprint."""
    user = user_for_reset(conn, secret, token)
    set_password(conn, user.id, password)
    end_all_sessions(conn, user.id)
    return user
