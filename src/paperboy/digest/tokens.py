"""The signed links in digest mail: confirm a subscription, and manage (or leave) it.

Both follow ``accounts/tokens.py``: ``itsdangerous``-signed with the site's secret and a salt of
their own (a confirm token is never a manage token), carrying the subscriber id and a fingerprint
of the subscription — its id, its address and its ``token_version``. A link therefore stops working
once the address changes, the row is deleted (a new row for the same address has another id) or
the version is bumped; no table of issued tokens is needed.

* Confirm links expire (``PAPERBOY_DIGEST_CONFIRM_HOURS``).
* Manage links (preferences, one-click unsubscribe) do not: every digest carries one, and an
  unsubscribe link in a months-old mail must still work (RFC 8058 asks for that).
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperboy.accounts.tokens import TokenInvalid

__all__ = ["TokenInvalid", "fingerprint", "make_confirm_token", "make_manage_token", "read_confirm_token", "read_manage_token"]

_CONFIRM = "paperboy.digest.confirm"
_MANAGE = "paperboy.digest.manage"


def fingerprint(subscriber_id: int, email_key: str, token_version: int) -> str:
    return hashlib.sha256(f"{subscriber_id}\0{email_key}\0{token_version}".encode()).hexdigest()[:20]


def _make(secret: str, salt: str, sub) -> str:
    return URLSafeTimedSerializer(secret, salt=salt).dumps([sub.id, fingerprint(sub.id, sub.email_key, sub.token_version)])


def make_confirm_token(secret: str, sub) -> str:
    return _make(secret, _CONFIRM, sub)


def make_manage_token(secret: str, sub) -> str:
    return _make(secret, _MANAGE, sub)


def _read(secret: str, salt: str, token: str, max_age: int | None) -> tuple[int, str]:
    try:
        data = URLSafeTimedSerializer(secret, salt=salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenInvalid("This confirmation link has expired. Subscribe again to get a new one.") from None
    except BadSignature:
        raise TokenInvalid("This link is not valid.") from None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], int) and isinstance(data[1], str)):
        raise TokenInvalid("This link is not valid.")
    return data[0], data[1]


def read_confirm_token(secret: str, token: str, *, max_age: int) -> tuple[int, str]:
    """(subscriber id, fingerprint); the caller compares the fingerprint with the row's."""
    return _read(secret, _CONFIRM, token, max_age)


def read_manage_token(secret: str, token: str) -> tuple[int, str]:
    return _read(secret, _MANAGE, token, None)
