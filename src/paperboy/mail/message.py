"""Building mail: one function that turns settings and text into a standards-conforming message.

Recipients, subjects and extra headers come from users and the database, so every header value is
checked for CR/LF: a newline in a header is how "Bcc: everyone" gets smuggled into a message.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr

from paperboy import clock

__all__ = ["compose", "check_header", "check_address", "sender_domain"]


def check_header(name: str, value: str) -> None:
    """Raise ValueError if ``value`` (or the header ``name``) could start a new header line."""
    if not name or any(c in name for c in ":\r\n\0 \t"):
        raise ValueError(f"invalid mail header name {name!r}")
    if any(c in str(value) for c in "\r\n\0"):
        raise ValueError(f"mail header {name} may not contain line breaks")


def check_address(to: str) -> None:
    """Raise ValueError unless ``to`` is exactly one address (no header tricks, no extra recipients)."""
    check_header("To", to)
    if len(getaddresses([to])) != 1 or "@" not in parseaddr(to)[1]:
        raise ValueError(f"not a single e-mail address: {to!r}")


def sender_domain(settings) -> str:
    """The domain of the From address, for Message-IDs (``localhost`` if it has none)."""
    return parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"


def compose(
    settings,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict | None = None,
) -> EmailMessage:
    """A mail from ``settings.mail_from`` to ``to``: plain text, or multipart/alternative with ``html``.

    ``headers`` add to or replace the standard ones (a caller may pass its own ``Message-ID``, as the
    outbox does so that a resent mail keeps its identity). Raises ValueError on header injection.
    """
    check_address(to)
    check_header("Subject", subject)
    extra = dict(headers or {})
    for name, value in extra.items():
        check_header(name, value)

    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain=sender_domain(settings))
    for name, value in extra.items():
        del msg[name]  # replace, never duplicate (a no-op when absent)
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg
