"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommended profile)."""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["hash_password", "verify_password", "needs_rehash", "verify_dummy", "fingerprint", "MIN_LENGTH", "MAX_LENGTH"]

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps one request from costing much

_hasher = PasswordHasher()  # type ID argon2id
_DUMMY = _hasher.hash("paperboy-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Spend the same time as a real check, so response times don't reveal unknown accounts."""
    verify_password(_DUMMY, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def fingerprint(password_hash: str) -> str:
    """A short digest of the current hash: tokens that embed it die when the password changes."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]
