"""arXiv identifiers: parse anything a person might paste, keep one canonical form.

arXiv has two identifier schemes:

* new style (April 2007 on): ``YYMM.NNNN`` (2007-2014) or ``YYMM.NNNNN`` (2015 on), e.g. ``2406.01234``;
* old style (1991 to March 2007): ``archive[.SUBJ]/YYMMNNN``, e.g. ``hep-th/9901001`` or ``math.GT/0309136``.

Either may carry a version suffix ``vN``. A paper's key in Paperboy is the id *without* version; the
version is kept next to it. People paste ids as ``arXiv:2406.01234v2``, abs or pdf URLs, or with
stray whitespace, so :func:`parse_arxiv_id` accepts all of those and says clearly why it refuses
anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ArxivId", "InvalidArxivId", "parse_arxiv_id", "is_arxiv_id"]

_NEW = re.compile(r"(?P<yymm>\d{4})\.(?P<num>\d{4,5})(?:v(?P<v>\d+))?")
# Old-style archives are lowercase words with dashes (hep-th, cond-mat, q-bio); some carry a
# subject class (math.GT, cs.AI). The number is YYMMNNN.
_OLD = re.compile(r"(?P<archive>[a-z]+(?:-[a-z]+)*)(?:\.(?P<subj>[A-Za-z]{2}))?/(?P<num>\d{7})(?:v(?P<v>\d+))?")
_URL_PREFIX = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html|format)/", re.IGNORECASE
)


class InvalidArxivId(ValueError):
    """Raised with a human-readable reason when a string is not an arXiv identifier."""


@dataclass(frozen=True, slots=True)
class ArxivId:
    """A parsed arXiv id: ``id`` is canonical and versionless, ``version`` is ``None`` when not given."""

    id: str
    version: int | None = None

    @property
    def versioned(self) -> str:
        return f"{self.id}v{self.version}" if self.version else self.id

    @property
    def is_old_style(self) -> bool:
        return "/" in self.id

    def __str__(self) -> str:
        return self.versioned


def parse_arxiv_id(text: str) -> ArxivId:
    """Parse an arXiv id, ``arXiv:`` id, or arxiv.org abs/pdf URL into its canonical form.

    >>> parse_arxiv_id("https://arxiv.org/pdf/2406.01234v2.pdf")
    ArxivId(id='2406.01234', version=2)
    >>> parse_arxiv_id("hep-th/9901001")
    ArxivId(id='hep-th/9901001', version=None)
    """
    if not isinstance(text, str):
        raise InvalidArxivId("an arXiv id must be text")
    s = text.strip()
    if not s:
        raise InvalidArxivId("empty arXiv id")
    if len(s) > 200:
        raise InvalidArxivId("too long to be an arXiv id")
    s = _URL_PREFIX.sub("", s)
    if s[:6].lower() == "arxiv:":
        s = s[6:].strip()
    s = s.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if s.lower().endswith(".pdf"):
        s = s[:-4]

    m = _NEW.fullmatch(s)
    if m:
        month = int(m["yymm"][2:])
        if not 1 <= month <= 12:
            raise InvalidArxivId(f"{text.strip()!r}: month {month:02d} does not exist")
        yy = int(m["yymm"][:2])
        # Five-digit numbers started in January 2015; four-digit ones ended in December 2014.
        if (len(m["num"]) == 5) != (yy >= 15):
            raise InvalidArxivId(f"{text.strip()!r}: wrong number of digits for 20{yy:02d}")
        return ArxivId(f"{m['yymm']}.{m['num']}", _version(m["v"]))

    m = _OLD.fullmatch(s)
    if m:
        month = int(m["num"][2:4])
        if not 1 <= month <= 12:
            raise InvalidArxivId(f"{text.strip()!r}: month {month:02d} does not exist")
        archive = m["archive"] + (f".{m['subj'].upper()}" if m["subj"] else "")
        return ArxivId(f"{archive}/{m['num']}", _version(m["v"]))

    raise InvalidArxivId(
        f"{text.strip()[:80]!r} is not an arXiv id (expected e.g. 2406.01234, hep-th/9901001 or an arxiv.org URL)"
    )


def is_arxiv_id(text: str) -> bool:
    """True when :func:`parse_arxiv_id` would accept ``text``."""
    try:
        parse_arxiv_id(text)
    except InvalidArxivId:
        return False
    return True


#: Versions above this are refused (arXiv's most revised papers have a few dozen); the store keeps
#: versions in an integer column that a 20-digit "v…" would overflow.
MAX_VERSION = 10_000


def _version(v: str | None) -> int | None:
    if v is None:
        return None
    if len(v) > 5 or not 1 <= int(v) <= MAX_VERSION:
        raise InvalidArxivId(f"arXiv versions run from v1 to v{MAX_VERSION:,}, not v{v[:20]}")
    return int(v)
