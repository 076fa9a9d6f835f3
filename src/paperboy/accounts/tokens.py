"""Signed, expiring tokens for links sent by e-mail: password reset, and address verification.

A token is ``itsdangerous``-signed with the site's secret and a purpose-specific salt, carries a
timestamp (checked against ``max_age``), and embeds a fingerprint of the user's current password
hash: once the password changes — which is what using a reset link does — every earlier link for
that user stops working. No table of used tokens is needed.

A verification token instead embeds a fingerprint of the *address* it was sent to: it proves that
mailbox, so it stops working once the account's address is another one.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperboy.accounts.passwords import fingerprint
from paperboy.errors import Invalid

__all__ = ["make_reset_token", "read_reset_token", "make_verify_token", "read_verify_token", "TokenInvalid", "RESET_MAX_AGE",
           "VERIFY_MAX_AGE"]  # fmt: skip

RESET_MAX_AGE = 3600  # seconds
VERIFY_MAX_AGE = 3 * 24 * 3600  # a confirmation mail may sit unread over a weekend


class TokenInvalid(Invalid):
    """Expired, tampered with, or already used; the message is safe to show."""


def _serializer(secret: str, salt: str = "paperboy.password-reset") -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=salt)


def make_reset_token(secret: str, user_id: int, password_hash: str) -> str:
    return _serializer(secret).dumps({"u": user_id, "p": fingerprint(password_hash)})


def read_reset_token(secret: str, token: str, *, max_age: int | None = None) -> tuple[int, str]:
    """(user id, password fingerprint) from a token; the caller compares the fingerprint."""
    return _read_user_token(_serializer(secret), token, RESET_MAX_AGE if max_age is None else max_age, "p",
                            "This link has expired. Ask for a new one.", "This link is not valid. Ask for a new one.")  # fmt: skip


def _read_user_token(serializer, token: str, max_age: int, field: str, expired: str, invalid: str) -> tuple[int, str]:
    """(user id, ``field``'s fingerprint) of a signed ``{"u": id, field: fingerprint}`` token, or
    :class:`TokenInvalid` with ``expired`` / ``invalid`` as its message."""
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenInvalid(expired) from None
    except BadSignature:
        raise TokenInvalid(invalid) from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get(field), str):
        raise TokenInvalid(invalid)
    return data["u"], data[field]


_VERIFY = "paperboy.email-verify"


def address_fingerprint(email_key: str) -> str:
    return hashlib.sha256(f"verify\0{email_key}".encode()).hexdigest()[:20]


def make_verify_token(secret: str, user_id: int, email_key: str) -> str:
    return _serializer(secret, _VERIFY).dumps({"u": user_id, "e": address_fingerprint(email_key)})


def read_verify_token(secret: str, token: str, *, max_age: int = VERIFY_MAX_AGE) -> tuple[int, str]:
    """(user id, address fingerprint); the caller compares the fingerprint with the account's address."""
    return _read_user_token(_serializer(secret, _VERIFY), token, max_age, "e",
                            "This confirmation link has expired. Log in and ask for a new one.", "This confirmation link is not valid.")  # fmt: skip
