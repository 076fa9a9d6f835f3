"""Reading fields out of what the services send: XML parsed safely, element text, dates, arXiv ids.

The parsers (:mod:`~paperboy.ingest.arxiv_api`, :mod:`~paperboy.ingest.oai`,
:mod:`~paperboy.ingest.listings`, :mod:`~paperboy.ingest.hf`, :mod:`~paperboy.ingest.dumps`) share
these, so that a date or an id written the same way is read the same way whichever source it came
from. All of them are lenient: a field that cannot be read is ``None``, and the caller decides
whether that costs the record.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from xml.etree.ElementTree import Element

import defusedxml
import defusedxml.ElementTree as SafeET

from paperboy.ingest.http import ServiceError, ServiceUnavailable
from paperboy.papers.ids import ArxivId, InvalidArxivId, parse_arxiv_id

__all__ = ["arxiv_id", "iso_day", "iso_stamp", "rfc2822", "text", "utc_day", "xml_root"]

log = logging.getLogger(__name__)


def xml_root(body: bytes, what: str) -> Element:
    """The root element of ``body`` (``what`` names it in messages: "the listing").

    XML that declares a DTD or entities is refused unread (:class:`ServiceError`): no service we read
    sends them, and expanding them is how "billion laughs" and external-entity attacks work. A body
    that is not well-formed XML — typically cut short — is :class:`ServiceUnavailable`, so that it is
    fetched again.
    """
    try:
        return SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as e:
        raise ServiceError(f"refused {what}: it declares a DTD or entities ({type(e).__name__})") from None
    except SafeET.ParseError as e:
        raise ServiceUnavailable(f"{what} is not well-formed XML (truncated?): {e}") from None
    except (LookupError, ValueError) as e:  # an encoding Python does not know ("x-evil"), or a bad one
        raise ServiceError(f"refused {what}: it declares an encoding that cannot be read ({e})") from None


def text(parent: Element, tag: str) -> str | None:
    """All the text inside ``parent``'s first ``tag`` child (markup inside it dropped), or ``None``."""
    el = parent.find(tag)
    return None if el is None else "".join(el.itertext())


def iso_day(value) -> dt.date | None:
    """The day a timestamp starts with (``2014-12-22``, ``2014-12-22T10:00:00Z``), as written."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def iso_stamp(value) -> dt.datetime | None:
    """An ISO 8601 timestamp (``2024-05-28T17:47:19.000Z``, ``…-04:00``) as a UTC datetime; one
    without a zone is taken to be UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.strip())  # "Z" included (Python 3.11)
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.timezone.utc) if stamp.tzinfo is None else stamp.astimezone(dt.timezone.utc)


def utc_day(value) -> dt.date | None:
    """The UTC day of an Atom timestamp (``2016-05-26T17:59:46Z``, ``…-04:00``), or of a bare date."""
    stamp = iso_stamp(value)
    return stamp.date() if stamp else iso_day(value)


def rfc2822(value) -> dt.datetime | None:
    """An RFC 2822 date (``Tue, 3 Apr 2007 22:04:11 GMT``) as an aware datetime in its own zone;
    one without a zone is taken to be UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def arxiv_id(value, *, what: str) -> ArxivId | None:
    """``value`` as an arXiv id, or ``None`` — logged, as "``what`` with an unusable id skipped" —
    when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_arxiv_id(value)
    except InvalidArxivId:
        log.warning("%s with an unusable id skipped: %r", what, value[:100])
        return None
