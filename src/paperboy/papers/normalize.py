"""Turning messy source text into what Paperboy stores.

arXiv metadata is real-world input: abstracts carry hard line breaks and indentation, titles wrap,
category lists mix arXiv categories with ACM and MSC classification codes, and author lists come
as lists, as one comma/"and"-separated string, or as (last, first, suffix) triples. TeX is kept
as written — it is rendered when shown, not here.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "normalize_text",
    "normalize_optional",
    "strip_bidi_controls",
    "split_classifications",
    "author_name",
    "split_author_string",
    "author_key",
    "split_glued_authors",
]

# Control characters that str.split() does not already treat as whitespace, and the bidirectional
# embedding/override/isolate controls (U+202A–U+202E, U+2066–U+2069): invisible, they reorder how
# the text around them is shown ("Trojan Source"), so a name or title could display as another.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f\u202a-\u202e\u2066-\u2069]")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")

# arXiv categories: "cs.AI", "hep-th", "astro-ph.CO", "q-bio.NC", "math-ph", "cond-mat.str-el".
ARXIV_CATEGORY = re.compile(r"[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]+(?:-[a-z]+)*)?")
# Every archive arXiv has had, current and retired, so that stray words are not taken for categories.
ARXIV_ARCHIVES = frozenset(
    "astro-ph cond-mat cs econ eess gr-qc hep-ex hep-lat hep-ph hep-th math math-ph nlin nucl-ex nucl-th "
    "physics q-bio q-fin quant-ph stat acc-phys adap-org alg-geom ao-sci atom-ph bayes-an chao-dyn chem-ph "
    "cmp-lg comp-gas dg-ga funct-an mtrl-th patt-sol plasm-ph q-alg solv-int supr-con".split()
)
# ACM Computing Classification (1998) codes: "I.2.7", "I.4", "F.2.2", "I.4.m", "H.5.2".
_ACM = re.compile(r"[A-K](?:\.(?:\d{1,2}|m))*")
# Mathematics Subject Classification: "68T05", "68Txx", "62-08", "68U10".
_MSC = re.compile(r"\d\d(?:[A-Z](?:\d\d|xx)|-(?:\d\d|XX)|xx)")


def normalize_text(text: str) -> str:
    """Collapse every run of whitespace (arXiv's hard line breaks) to one space; drop control chars."""
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return " ".join(text.split())


def strip_bidi_controls(text: str) -> str:
    """``text`` without bidirectional embedding, override and isolate controls (see ``_CONTROL``)."""
    return _BIDI.sub("", text) if _BIDI.search(text) else text


def normalize_optional(text: str | None) -> str | None:
    """Like :func:`normalize_text`, but ``None``/blank becomes ``None``."""
    if text is None:
        return None
    text = normalize_text(str(text))
    return text or None


def split_classifications(entries: list[str] | str) -> tuple[list[str], list[str], list[str]]:
    """Split a source's category entries into (arXiv categories, ACM codes, MSC codes).

    Order is kept and duplicates dropped, so the first arXiv category stays the primary one.
    Compound entries such as ``"I.2.7; K.4.1"`` or ``"68T50 (Primary) 68T07, 68Q32 (Secondary)"``
    are split; words that are none of the three (``"(Primary)"``) are dropped.
    """
    if isinstance(entries, str):
        entries = entries.split()
    arxiv: list[str] = []
    acm: list[str] = []
    msc: list[str] = []
    for entry in entries:
        for token in re.split(r"[;,\s]+", str(entry)):
            token = token.strip().strip("()")
            if not token:
                continue
            if _MSC.fullmatch(token):
                bucket = msc
            elif _ACM.fullmatch(token):
                bucket = acm
            elif ARXIV_CATEGORY.fullmatch(token) and token.split(".", 1)[0] in ARXIV_ARCHIVES:
                bucket = arxiv
            else:
                continue
            if token not in bucket:
                bucket.append(token)
    return arxiv, acm, msc


def author_name(last: str, first: str = "", suffix: str = "") -> str:
    """A display name from arXiv's parsed (last, first, suffix) triple: ``"First Last Suffix"``.

    arXiv's parser splits hyphenated initials ("C.-P." becomes "C. -P."); they are joined again.
    """
    name = normalize_text(" ".join(p for p in (first, last, suffix) if p))
    return _SPLIT_INITIAL.sub("-", name)


_SPLIT_INITIAL = re.compile(r"(?<=\.) -(?=\w)")


_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+", re.IGNORECASE)
_PARENS = re.compile(r"\([^()]*\)")


def split_author_string(authors: str) -> list[str]:
    """Split arXiv's one-string author list (``"A. One, B. Two and C. Three (MIT)"``) into names.

    Affiliations in parentheses are dropped; they belong to no single name reliably.
    """
    text = normalize_text(authors)
    while True:
        stripped = _PARENS.sub("", text)
        if stripped == text:
            break
        text = stripped
    return [normalize_text(n) for n in _AUTHOR_SPLIT.split(text) if normalize_text(n)]


_GLUED_AND = re.compile(r"(?<=[a-z])and (?=[A-Z])")
LONG_NAME = 60


def split_glued_authors(names: list[str]) -> list[str]:
    """Repair author lists where a source lost the spaces around "and".

    Seen in real arXiv data: one "name" of 400 characters, ``"Xiangyu Kongand Xiaoxia Xingand Fan
    Wang…"``. Only implausibly long names are split, so a real "Rolland Smith" is left alone.
    """
    out: list[str] = []
    for name in names:
        if len(name) > LONG_NAME and _GLUED_AND.search(name):
            out.extend(n.strip() for n in _GLUED_AND.split(name) if n.strip())
        else:
            out.append(name)
    return out


def author_key(name: str) -> str:
    """A case- and accent-insensitive key for looking papers up by author ("Moreno D'Incà" → "moreno d'inca")."""
    if name.isascii():  # most names: nothing to fold (a third of an import's time went to folding them)
        return " ".join(name.split()).casefold() if not _CONTROL.search(name) else normalize_text(name).casefold()
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return normalize_text(folded).casefold()
