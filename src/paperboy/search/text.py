"""Text analysis shared by indexing and querying: the same words must come out of both.

Lower-case, accents folded, split on anything that is not a letter or digit, English stop words
dropped, Snowball (Porter 2) stems — the set-up that scores BM25 0.68 on BEIR SciFact. TeX control
words (``\\mathcal``) are dropped; their arguments stay.
"""

from __future__ import annotations

import re
import unicodedata

import Stemmer

__all__ = ["analyze", "words", "STOP_WORDS"]

_TEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# A short list on purpose: scientific text uses "not", "no", "without" meaningfully.
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the their these this those "
    "to was were which with we our can also than then there been being such via using use used".split()
)

_stemmer = Stemmer.Stemmer("english")
_stemmer.maxCacheSize = 200_000


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """Lower-cased, accent-folded words (no stemming, stop words kept) — for phrases and snippets."""
    return _WORD.findall(_fold(_TEX_COMMAND.sub(" ", text)))


def analyze(text: str) -> list[str]:
    """The terms a text is indexed and searched under."""
    return _stemmer.stemWords([w for w in words(text) if w not in STOP_WORDS and len(w) < 40])
