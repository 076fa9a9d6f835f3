"""Known devices: a signed cookie a browser gets when it logs in to an account (or resets its password).

Online guessing is slowed per address and per account (see ``accounts/ratelimit.py``); counting
failures per account alone would let anyone lock an owner out by guessing wrong on purpose. A
browser that has proved the password before carries this cookie and is judged on its own failures
only, so the owner keeps getting in while a stranger is being throttled (OWASP's "device cookie"
defence). The cookie names the account and a random device id; nothing is stored server-side.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = ["DEVICE_DAYS", "issue", "device_id"]

DEVICE_DAYS = 365


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="paperboy.device")


def issue(secret: str, user_id: int, device: str | None = None) -> str:
    """A device cookie for ``user_id`` (keeping ``device``'s id when the browser already had one)."""
    return _serializer(secret).dumps({"u": user_id, "d": device or secrets.token_hex(8)})


def device_id(secret: str, cookie: str | None, user_id: int) -> str | None:
    """The device id if ``cookie`` is a valid, unexpired device cookie *for this account*, else None."""
    if not cookie or len(cookie) > 300:
        return None
    try:
        data = _serializer(secret).loads(cookie, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != user_id or not isinstance(data.get("d"), str):
        return None
    return data["d"]
