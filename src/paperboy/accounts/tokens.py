"""Signed, expiring, single-use tokens for links sent by e-mail (password reset).

A token is ``itsdangerous``-signed with the site's secret and a purpose-specific salt, carries a
timestamp (checked against ``max_age``), and embeds a fingerprint of the user's current password
hash: once the password changes — which is what using a reset link does — every earlier link for
that user stops working. No table of used tokens is needed.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperboy.accounts.passwords import fingerprint
from paperboy.errors import Invalid

__all__ = ["make_reset_token", "read_reset_token", "TokenInvalid", "RESET_MAX_AGE"]

RESET_MAX_AGE = 3600  # seconds


class TokenInvalid(Invalid):
    """Expired, tampered with, or already used; the message is safe to show."""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="paperboy.password-reset")


def make_reset_token(secret: str, user_id: int, password_hash: str) -> str:
    return _serializer(secret).dumps({"u": user_id, "p": fingerprint(password_hash)})


def read_reset_token(secret: str, token: str, *, max_age: int | None = None) -> tuple[int, str]:
    """(user id, password fingerprint) from a token; the caller compares the fingerprint."""
    try:
        data = _serializer(secret).loads(token, max_age=RESET_MAX_AGE if max_age is None else max_age)
    except SignatureExpired:
        raise TokenInvalid("This link has expired. Ask for a new one.") from None
    except BadSignature:
        raise TokenInvalid("This link is not valid. Ask for a new one.") from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("p"), str):
        raise TokenInvalid("This link is not valid. Ask for a new one.")
    return data["u"], data["p"]
