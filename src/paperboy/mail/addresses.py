"""E-mail addresses: the one place that decides what an address is, where mail to it goes, and
which mailbox it names.

Every door that takes an address — sign-up, password reset, digest subscribe and CSV import, the
CLI, the outbox at enqueue — calls :func:`normalize`, so they cannot disagree. It returns two
strings:

* ``address``: what mail is sent to. The local part as typed (NFC), the domain lower-cased and in
  its ASCII (IDNA A-label) form, which every SMTP server can route.
* ``key``: the mailbox, for uniqueness and per-mailbox rate limits — the address lower-cased. One
  mailbox has one key: case, a Unicode domain written either way, Unicode composed or decomposed
  all give the same key, and the spellings that used to give a second key (an RFC 5322 comment
  ``a@b.c(1)``, a display name, a quoted local part, an invisible character) are refused.

Why refuse rather than strip: an address is something people type and servers route; a
comment or a zero-width space in it is either a mistake or a trick, and guessing what was meant
is how two spellings of one mailbox come about. Refusing says so at the form.

International addresses: a Unicode *domain* is always deliverable (IDNA). A Unicode *local part*
(``ü@example.com``) can only be sent with SMTPUTF8 (RFC 6531), which needs the site's SMTP server
to offer it: with ``PAPERBOY_SMTP_UTF8`` off (the default) such an address is refused at the form;
on, it is accepted and sent with SMTPUTF8 — and should the server not offer it after all, the mail
fails for good with that reason recorded (``mail/outbox.py``), never silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import idna

from paperboy.errors import Invalid

__all__ = ["AddressError", "Mailbox", "needs_smtputf8", "normalize", "mailbox_key"]

MAX_LENGTH = 254  # RFC 5321's path limit less the angle brackets
MAX_LOCAL = 64
# The local part's characters (RFC 5322 dot-atom text), plus any non-ASCII letter, mark or number.
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Characters that make an address something other than one plain address: comments, display
# names, quoted parts, lists, domain literals.
_SYNTAX = set('()<>[]",;:\\')
# Unicode categories never allowed anywhere: controls, format characters (zero-width spaces and
# joiners, bidi overrides), separators (spaces of every width), private use, surrogates, unassigned.
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp"}

PLAIN = "Enter a valid e-mail address, like name@example.org."


class AddressError(Invalid, ValueError):
    """Not an address mail can be sent to; the message says why and is safe to show. A ValueError
    too: to the outbox a bad recipient is a bad mail, like a header with a line break."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str  # what mail goes to
    key: str  # the mailbox, for uniqueness and rate limits

    @property
    def smtputf8(self) -> bool:
        return needs_smtputf8(self.address)


def needs_smtputf8(address: str) -> bool:
    """Whether mail to ``address`` (normalised: its domain is ASCII) needs the SMTPUTF8 extension."""
    return not address.isascii()


def normalize(raw: str | None, *, smtputf8: bool = False) -> Mailbox:
    """The :class:`Mailbox` ``raw`` names, or :class:`AddressError` saying what is wrong.

    ``smtputf8``: the site's SMTP server takes SMTPUTF8 (``PAPERBOY_SMTP_UTF8``), so a non-ASCII
    local part can be delivered; without it such an address is refused. Surrounding whitespace is
    forgiven (forms and CSV cells carry it); anything else is taken as typed or refused.
    """
    text = unicodedata.normalize("NFC", (raw or "").strip())
    if not text:
        raise AddressError(PLAIN)
    if len(text) > MAX_LENGTH:
        raise AddressError(f"That e-mail address is too long (at most {MAX_LENGTH} characters).")
    for c in text:
        if unicodedata.category(c) in _INVISIBLE:
            raise AddressError("That e-mail address contains a space, an invisible or a control character "
                               f"({_describe(c)}). Type the address again without it.")  # fmt: skip
        if c in _SYNTAX:
            raise AddressError(f"Enter only the address itself, like name@example.org: no name, comment, "
                               f"quotes or brackets ({c!r} is not allowed).")  # fmt: skip
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or "@" in local:
        raise AddressError(PLAIN)
    if len(local.encode()) > MAX_LOCAL or not all(_ATEXT.fullmatch(part) or (part and not part.isascii() and _unicode_atom(part))
                                                  for part in local.split(".")):  # fmt: skip
        raise AddressError("The part before the @ is not valid. " + PLAIN)
    if not local.isascii() and not smtputf8:
        raise AddressError("This site's mail server cannot deliver to addresses with letters like ü or 例 before the @. "
                           "Use another address, or ask the site's operator to enable SMTPUTF8.")  # fmt: skip
    address = f"{local}@{_ascii_domain(domain)}"
    if len(address.encode()) > MAX_LENGTH:
        raise AddressError(f"That e-mail address is too long (at most {MAX_LENGTH} characters).")
    return Mailbox(address, address.lower())


def mailbox_key(raw: str | None) -> str:
    """The mailbox key of ``raw`` for a *look-up* (log-in, reset request): never raises — text that
    is no address gets a key no stored address has, so the look-up finds nothing."""
    try:
        return normalize(raw, smtputf8=True).key
    except AddressError:
        return "\0" + (raw or "").strip().lower()


def _unicode_atom(part: str) -> bool:
    """A local-part atom with non-ASCII characters: ASCII atext or any letter, mark or number."""
    return all(_ATEXT.fullmatch(c) or unicodedata.category(c)[0] in "LMN" for c in part)


def _ascii_domain(domain: str) -> str:
    """The domain lower-cased in its A-label form (IDNA 2008 with UTS #46 mapping), checked label by label."""
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii") if not domain.isascii() else domain.lower()
    except (idna.IDNAError, UnicodeError):
        raise AddressError("The part after the @ is not a valid domain name.") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise AddressError("The part after the @ is not a domain name like example.org.")
    return ascii_domain


def _describe(c: str) -> str:
    return f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed character').lower()}"
