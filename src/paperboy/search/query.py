"""The search box's little language, parsed into plain data.

    transformer "in-context learning" author:"Yann LeCun" cat:cs.CL after:2025-06 before:2026-01-01

* words are searched as keywords and by meaning;
* ``"quoted phrases"`` must appear as written (an unbalanced quote is just a character);
* ``author:`` / ``cat:`` / ``after:`` / ``before:`` filter (dates: ``YYYY``, ``YYYY-MM`` or
  ``YYYY-MM-DD``; ``after`` is inclusive from the start of that period, ``before`` exclusive);
* a whole query that is an arXiv id or arxiv.org URL goes straight to that paper.

Nothing here raises on user input: problems come back as messages in :attr:`ParsedQuery.notes`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.papers.normalize import ARXIV_CATEGORY

__all__ = ["ParsedQuery", "parse_query", "MAX_QUERY_CHARS"]

MAX_QUERY_CHARS = 1000
_TOKEN = re.compile(r'(?P<key>author|cat|after|before):(?:"(?P<qval>[^"]*)"|(?P<val>\S*))|"(?P<phrase>[^"]*)"|(?P<word>\S+)', re.I)


@dataclass
class ParsedQuery:
    text: str = ""  # free words, for BM25 and the embedding
    phrases: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    after: dt.date | None = None
    before: dt.date | None = None
    arxiv_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def searchable(self) -> str:
        """Everything that carries meaning: free words and phrase words."""
        return " ".join([self.text, *self.phrases]).strip()

    @property
    def has_filters(self) -> bool:
        return bool(self.authors or self.categories or self.after or self.before)

    @property
    def empty(self) -> bool:
        return not self.searchable and not self.has_filters


def _period_start(value: str) -> dt.date | None:
    """The first day of ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, or ``None`` if it is no date."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value)
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    except ValueError:
        return None


def parse_query(raw: str) -> ParsedQuery:
    q = ParsedQuery()
    raw = (raw or "").replace("\x00", " ")
    if len(raw) > MAX_QUERY_CHARS:
        q.notes.append(f"Your query was shortened to its first {MAX_QUERY_CHARS:,} characters.")
        raw = raw[:MAX_QUERY_CHARS]
    stripped = raw.strip()
    if stripped and " " not in stripped:
        try:
            q.arxiv_id = parse_arxiv_id(stripped).id
            return q
        except InvalidArxivId:
            pass
    # An unbalanced quote would swallow the rest of the query: treat the last one as a character.
    if raw.count('"') % 2:
        i = raw.rfind('"')
        raw = raw[:i] + " " + raw[i + 1 :]
    words: list[str] = []
    for m in _TOKEN.finditer(raw):
        if m["key"]:
            key = m["key"].lower()
            value = (m["qval"] if m["qval"] is not None else m["val"] or "").strip()
            if not value:
                q.notes.append(f"“{key}:” needs a value, e.g. {key}:{_EXAMPLES[key]}.")
            elif key == "author":
                q.authors.append(value[:100])
            elif key == "cat":
                if ARXIV_CATEGORY.fullmatch(value) and len(value) <= 32:
                    q.categories.append(value)
                else:
                    q.notes.append(f"“{value[:40]}” is not an arXiv category (e.g. cs.CL).")
            else:
                day = _period_start(value)
                if day is None:
                    q.notes.append(f"“{key}:{value[:40]}” is not a date (use YYYY, YYYY-MM or YYYY-MM-DD).")
                elif key == "after":
                    q.after = day
                else:
                    q.before = day
        elif m["phrase"] is not None:
            if m["phrase"].strip():
                q.phrases.append(m["phrase"].strip()[:200])
        else:
            words.append(m["word"])
    q.text = " ".join(words)
    if q.after and q.before and q.after >= q.before:
        q.notes.append("“after:” is not before “before:”, so nothing can match.")
    return q


_EXAMPLES = {"author": '"Ada Lovelace"', "cat": "cs.CL", "after": "2025-06", "before": "2026-01-01"}
