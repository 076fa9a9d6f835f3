"""The abstract excerpt under each search result, with the query's words marked: a template filter
(``{{ paper.abstract|snippet(query) }}``), so only the papers a page shows pay for it."""

from __future__ import annotations

import re
from functools import lru_cache

from markupsafe import Markup, escape

from paperboy.search.text import STOP_WORDS, words

__all__ = ["snippet"]

_SNIPPET_CHARS = 300


@lru_cache(maxsize=256)
def _snippet_pattern(query: str) -> re.Pattern | None:
    """One regex per query (not per result): word prefixes of the query's content words."""
    terms = {w for w in words(query) if w not in STOP_WORDS and len(w) > 1}
    if not terms:
        return None
    stems = sorted({t[: max(4, len(t) - 2)] for t in terms}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(s) for s in stems) + r")\w*", re.IGNORECASE)


def snippet(abstract: str, query: str) -> Markup:
    """About 300 characters of the abstract around the densest run of query words, words marked.

    Matching is by word prefix after folding (so "transformers" marks "Transformer"), and the
    text is escaped before any ``<mark>`` is added.
    """
    if not abstract:
        return Markup("")
    pattern = _snippet_pattern(query)
    spans = [(m.start(), m.end()) for m in pattern.finditer(abstract)] if pattern else []
    if len(abstract) <= _SNIPPET_CHARS:
        start, end = 0, len(abstract)
    else:
        best = 0
        if spans:
            counts = [sum(1 for s, _ in spans if a <= s < a + _SNIPPET_CHARS) for a, _ in spans]
            best = max(0, spans[counts.index(max(counts))][0] - 60)
        start = abstract.rfind(" ", 0, best) + 1 if best else 0
        end = abstract.find(" ", start + _SNIPPET_CHARS)
        end = len(abstract) if end == -1 else end
    out, pos = [], start
    for s, e in spans:
        if s < start or e > end:
            continue
        out.append(str(escape(abstract[pos:s])))
        out.append(f"<mark>{escape(abstract[s:e])}</mark>")
        pos = e
    out.append(str(escape(abstract[pos:end])))
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(abstract) else ""
    return Markup(prefix + "".join(out) + suffix)
