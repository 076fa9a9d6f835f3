r"""Untrusted text in Markdown: shown as the characters it is, never as markup.

A title, an author or an abstract comes from arXiv (and Hugging Face, and members' submissions);
the Markdown we serve (``/papers/{id}.md``) is rendered by whoever reads it — a chat client, a
notebook, a static site — most of them with raw HTML allowed. So ``<script>``, ``<a href=…>``,
``[x](javascript:…)``, ``![](…)``, a ``#`` heading or a ``>`` quote in the data must come out as text.

:func:`markdown_text` backslash-escapes (CommonMark §2.4) every character that can start inline
markup — ``\ ` * _ [ ] < & ~ #`` (``&`` only where it would start an entity, ``\`` only where it
would escape something) — and, at the start of a line, what would open a block: a list marker
(``-``, ``+``, ``1.``, ``1)``), a quote (``>``), a setext underline (``=``). Rendered, the text is
exactly what was given, after :func:`~paperboy.papers.normalize.normalize_text` (one line, control
and bidi characters gone). TeX is left as written (``$\alpha$`` stays ``$\alpha$``): ``$`` is not
Markdown, and backslashes before letters are not escapes.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from paperboy.papers.normalize import normalize_text

__all__ = ["markdown_text", "markdown_link"]

# Inline markup: code spans, emphasis, links and images, raw HTML and autolinks, strikethrough, and
# "#" (a heading's closing sequence); "&" only before an entity's name; "\" before what it would escape
# or at the end of the text (a hard line break before the next line).
_INLINE = re.compile(r"[`*_\[\]<~#]|&(?=#?[0-9A-Za-z]+;)|\\(?=[!-/:-@\[-`{-~]|$)")
# What can open a block at the start of a line: "- ", "+ ", "---", "> ", "===", "1. ", "1) ".
_BLOCK_START = re.compile(r"^(?:[-+>=]|\d{1,9}(?=[.)](?: |$)))")


def markdown_text(text: str) -> str:
    """``text`` as Markdown that renders as exactly that text, one line (see the module's docstring)."""
    text = _INLINE.sub(r"\\\g<0>", normalize_text(text))
    m = _BLOCK_START.match(text)
    if m:
        end = m.end()
        text = text[:end] + "\\" + text[end:] if m.group()[0].isdigit() else "\\" + text
    return text


def markdown_link(url: str, text: str | None = None) -> str:
    r"""A link to an http(s) ``url`` (``<url>``, or ``[text](url)``); anything else is shown as text.

    The URL is percent-encoded where Markdown would read it (spaces, ``<>()``, ``\``), so it cannot
    end the link early; other schemes (``javascript:``, ``data:``) never become links."""
    url = normalize_text(url)
    if not url.lower().startswith(("https://", "http://")):
        return markdown_text(text or url)
    target = quote(url, safe="/:;=?@!$&'*+,-._~%#[]")
    return f"[{markdown_text(text)}]({target})" if text is not None else f"<{target}>"
