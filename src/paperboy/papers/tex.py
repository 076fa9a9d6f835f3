"""Render arXiv titles and abstracts that contain TeX math as safe HTML with MathML.

Titles and abstracts are untrusted text with TeX in them: ``$...$``, ``\\(...\\)`` (inline),
``$$...$$``, ``\\[...\\]`` (display). We render on the server so that pages need no JavaScript
(Chromium and Firefox render MathML Core natively) and so that the CSP can stay strict.

Safety: everything outside math goes through :func:`markupsafe.escape`. Math goes through
``latex2mathml``, but we never use its string output: it builds an element tree and then
*unescapes* the serialised XML, so ``$\\text{<script>}$`` comes out as a live ``<script>`` tag,
and ``\\href``, ``\\style``, ``\\class`` become ``href``/``style``/``class`` attributes. We take the
element tree instead and serialise it ourselves: known MathML elements only, an allowlist of
presentational attributes (no ``on*``, ``href``, ``style``, ``class``, ``id``), every text node
escaped.

arXiv authors write ``$`` for money too ("costs $5 and $10"), so :func:`render_math` pairs
dollars the way a reader would (see :func:`_inline_end`); a ``$`` that opens nothing is shown as
is. Math the converter rejects, and an unclosed delimiter in front of TeX, are shown as raw TeX in
``<code class="tex">``: the page still renders and the reader still sees what the author wrote.
"""

from __future__ import annotations

import re
from functools import lru_cache
from xml.etree.ElementTree import Element

from latex2mathml.converter import convert_to_element
from markupsafe import Markup, escape

__all__ = ["render_math", "math_text", "plain_text", "has_math", "stored_math", "MATH_VERSION"]

# Anything that can start math. Text without it takes the fast path.
_MATH_START = re.compile(r"\$|\\[(\[]")
# Tokens the scanner stops at: TeX escapes of special characters, then the math openers.
_TOKEN = re.compile(r"\\[%&_#${}]|\$\$|\$|\\\(|\\\[")
# TeX escapes outside math that mean "this character": \% \& \_ \# \$ \{ \}.
_TEXT_ESCAPE = re.compile(r"\\([%&_#${}])")
# Where a math segment ends, per opener; ``\\.`` skips escaped characters such as ``\$``.
_CLOSE = {
    "$": re.compile(r"((?:\\.|[^\\$])+)\$", re.S),
    "$$": re.compile(r"((?:\\.|[^\\])*?)\$\$", re.S),
    "\\(": re.compile(r"((?:\\[^)]|[^\\])*?)\\\)", re.S),
    "\\[": re.compile(r"((?:\\[^\]]|[^\\])*?)\\\]", re.S),
}
# Three words in a row: prose, not math. Used to spot "$1.5M to re-prefill but only ~$20".
_PROSE = re.compile(r"[A-Za-z]{3,}[,.;:]? [A-Za-z]{3,}[,.;:]? [A-Za-z]{3,}")
# A lowercase word standing alone ("and", "of"): with a leading digit, "$5 and $x$" is money.
_WORD = re.compile(r" [a-z]{2,}[,.;:]?(?: |$)")
_CHAR_REF = re.compile(r"&#(x[0-9a-fA-F]{1,8}|[0-9]{1,8});")

# Bounds that keep hostile text linear: a closer is looked for at most this far after its opener
# (the longest math in the 75k-paper corpus is 324 characters), and after this many openers the
# rest of the text is shown as it is, escaped (the corpus's most is 49). Without them, 20,000
# characters of "\[" took ~3 s (each opener scanned to the end of the text).
MAX_MATH_CHARS = 2000
MAX_MATH_SEGMENTS = 200
#: Bumped when rendering changes, so stored renderings (papers.title_html …) are made again.
#: 2: ``\pmod``'s parentheses no longer stretch to the height of everything before them.
MATH_VERSION = 2

# MathML elements latex2mathml produces (MathML Core plus menclose/mstyle). Others become mrow.
_ELEMENTS = frozenset(
    "math mrow mi mn mo ms mtext mspace msub msup msubsup mfrac msqrt mroot mover munder "
    "munderover mtable mtr mtd mstyle mpadded mphantom menclose merror mmultiscripts "
    "mprescripts none semantics annotation".split()
)
# Presentational attributes only: nothing that can run script, link, or carry inline CSS.
_ATTRIBUTES = frozenset(
    "accent accentunder columnalign columnlines columnspacing depth displaystyle fence form "
    "frame height largeop linebreak linethickness lspace mathbackground mathcolor mathsize "
    "mathvariant maxsize minsize movablelimits notation rowalign rowlines rowspacing rspace "
    "scriptlevel separator stretchy symmetric voffset width".split()
)


def has_math(text: str) -> bool:
    """Whether ``text`` has anything that can start math (then :func:`render_math` is worth storing)."""
    return bool(_MATH_START.search(text))


def stored_math(text: str) -> str | None:
    """What a paper stores for ``text``: its rendering when it has math, else None (escaping the
    rest at view time costs microseconds)."""
    return str(render_math(text)) if has_math(text) else None


def render_math(text: str) -> Markup:
    """Return ``text`` as HTML: plain text escaped, TeX math as MathML.

    >>> render_math("<b> & 10\\\\%")
    Markup('&lt;b&gt; &amp; 10%')
    """
    if not _MATH_START.search(text):
        # ~92% of abstracts: no math, nothing to cache.
        return escape(_TEXT_ESCAPE.sub(r"\1", text))
    return _render_cached(text)


@lru_cache(maxsize=4096)
def _render_cached(text: str) -> Markup:
    """Render the pieces :func:`_pieces` finds.

    Cached because the same abstracts are shown all day. Only text with math gets here, and an
    entry (key plus output) is ~4 KiB, so 4096 entries cost ~16 MiB and hold far more math
    abstracts than a day's pages show.
    """
    out: list[str] = []
    for kind, value, block, source in _pieces(text):
        if kind == "text":
            out.append(escape(value))
        elif kind == "raw":
            out.append(_raw(value))
        else:
            out.append(_math(value, block) or _raw(source))
    return Markup("".join(out))


def _pieces(text: str):
    """Scan ``text`` once, left to right, into ``(kind, value, block, source)`` pieces: ``"text"``
    (plain text, TeX escapes such as ``\\%`` undone), ``"math"`` (the TeX inside a pair of
    delimiters; ``block`` for display math; ``source`` with its delimiters) and ``"raw"`` (TeX
    that opens math without closing it, shown as written)."""
    pos = 0
    segments = 0
    while segments < MAX_MATH_SEGMENTS and (m := _TOKEN.search(text, pos)):
        yield "text", text[pos : m.start()], False, ""
        token = m.group()
        pos = m.end()
        if token[0] == "\\" and token[1] not in "([":
            yield "text", token[1], False, ""  # \% -> %
            continue
        segments += 1
        end = _inline_end(text, pos) if token == "$" else _display_end(text, pos, token)
        if end is None:
            kind, value, pos = _unclosed(text, m.start(), token)
            yield kind, value, False, value
            continue
        latex, pos = end
        yield "math", latex, token in ("$$", "\\["), text[m.start() : pos]
    yield "text", text[pos:], False, ""


def math_text(text: str) -> str:
    """``text`` with its TeX math as readable plain text, for where no MathML can go (Atom feeds,
    e-mail): ``$\\mathcal{O}(n^2)$`` → ``𝒪(n^2)``, ``$\\alpha \\leq \\beta$`` → ``α≤β``. Text outside math
    is left as written (TeX escapes undone); math that cannot be converted stays as TeX."""
    if not _MATH_START.search(text):
        return _TEXT_ESCAPE.sub(r"\1", text)
    out: list[str] = []
    for kind, value, _block, source in _pieces(text):
        out.append(_latex_text(value, source) if kind == "math" else value)
    return "".join(out)


# A TeX command or group outside math ("\\'e", "\\emph{...}") that plain text should not show as written.
_TEXT_COMMAND = re.compile(r"\\[A-Za-z'`^\"~=.]|[{}]")


def plain_text(text: str) -> str:
    """``text`` as plain text without TeX, for where no markup can go at all: the browser tab's
    ``<title>``, link previews (Open Graph, Twitter cards), ``<meta name="description">``.

    Like :func:`math_text`, and also: ``$`` delimiters gone, TeX commands and groups outside math
    turned into their characters (``Schr\\"odinger`` → ``Schrödinger``, ``\\emph{x}`` → ``x``, via
    pylatexenc), whitespace collapsed. Bounded like :func:`render_math` (the same scanner).
    """
    if not _MATH_START.search(text) and not _TEXT_COMMAND.search(text):
        return " ".join(_TEXT_ESCAPE.sub(r"\1", text).split())
    out: list[str] = []
    for kind, value, _block, source in _pieces(text):
        if kind == "math":
            out.append(_latex_text(value, value))
        elif kind == "raw":
            out.append(value.lstrip("$").removeprefix("\\(").removeprefix("\\["))
        elif "%" not in value and _TEXT_COMMAND.search(value):
            out.append(_latex_text(value, value, math=False))  # "%" would start a TeX comment: left as it is
        else:
            out.append(value)
    return " ".join("".join(out).split())


@lru_cache(maxsize=4096)
def _latex_text(latex: str, source: str, math: bool = True) -> str:
    from pylatexenc.latex2text import LatexNodes2Text

    try:
        converted = LatexNodes2Text(math_mode="text", strict_latex_spaces=True).latex_to_text(latex)
        if not math:  # text between math keeps its edge spaces ("a $x$ b")
            return converted if converted.strip() else source
        return " ".join(converted.split()) or source
    except Exception:  # pylatexenc raises several types on malformed input
        return source


def _inline_end(text: str, start: int) -> tuple[str, int] | None:
    """Find the closing ``$`` of inline math opened just before ``start``; ``None`` when the
    pair is really two prices (see :func:`_is_money`)."""
    c = _CLOSE["$"].match(text, start, start + MAX_MATH_CHARS)
    if not c or _is_money(c.group(1), text[c.end() : c.end() + 1]):
        return None
    return c.group(1), c.end()


def _is_money(between: str, after: str) -> bool:
    """Whether ``$between$after`` is text between two dollar amounts rather than math.

    Money: a closing ``$`` with a space before it and a digit after it ("$250, and an average
    of $306"); backslash-free content that starts with a digit and ends with a space or holds a
    word ("$5 and $x$", "($1.33M) and Mistral ($0.70M)"); backslash-free prose ("$1.5M to
    re-prefill but only ~$20"). Real math passes: ``512$\\times$512`` has no space before its
    closer, and math with words in it uses TeX commands. Tuned on ~6,000 arXiv titles and
    abstracts with dollars in them: no real math is rejected by these rules.
    """
    if between[-1].isspace() and after.isdigit():
        return True
    if "\\" in between:
        return False
    if between[0].isdigit() and (between[-1].isspace() or _WORD.search(between)):
        return True
    return bool(_PROSE.search(between))


def _display_end(text: str, start: int, token: str) -> tuple[str, int] | None:
    c = _CLOSE[token].match(text, start, start + MAX_MATH_CHARS)
    if not c or not c.group(1).strip():
        return None
    return c.group(1), c.end()


def _unclosed(text: str, start: int, token: str) -> tuple[str, str, int]:
    """The piece for an opener without a closer — ``("text", "$")`` or ``("raw", tex)`` — and
    where to go on scanning.

    A lone ``$`` before money, a space or punctuation is just a dollar sign ("over $1 billion",
    "Modeling$ (WorldPM)"). Before TeX ("$\\alpha-divergence") it is shown as raw TeX with the
    rest of its word, as are ``$$``, ``\\(`` and ``\\[`` without a closer.
    """
    end = start + len(token)
    if token == "$":
        if end >= len(text) or not (text[end] in "\\{" or text[end].isalpha()):
            return "text", "$", end
        while end < len(text) and not text[end].isspace():
            end += 1
    return "raw", text[start:end], end


def _raw(tex: str) -> str:
    return f'<code class="tex">{escape(tex)}</code>'


def _math(latex: str, block: bool) -> str | None:
    """Convert TeX to sanitised MathML, or ``None`` when latex2mathml cannot."""
    try:
        root = convert_to_element(latex.strip(), display="block" if block else "inline")
        _unstretch_mod(root)
        out: list[str] = []
        _serialise(root, out, is_root=True)
    except Exception:  # latex2mathml raises many types (and RecursionError on deep nesting)
        return None
    return "".join(out)


def _unstretch_mod(root: Element) -> None:
    """``\\pmod{n}``: latex2mathml writes ``<mo>(</mo><mi>mod</mi>…<mo>)</mo>`` among the row's other
    children, and a fence ``mo`` stretches to its row's height — so "a/b (mod n)" got parentheses as
    tall as the fraction. TeX's ``\\pmod`` parentheses never stretch: say so (``stretchy="false"``),
    and inline math gets TeX's narrower space before them."""
    def text(el: Element) -> str:  # latex2mathml writes "(" as "&#x00028;"
        return _CHAR_REF.sub(_char, el.text or "").strip()

    for el in root.iter():
        kids = list(el)
        for i, kid in enumerate(kids[:-1]):
            if kid.tag == "mo" and text(kid) == "(" and kids[i + 1].tag == "mi" and text(kids[i + 1]) == "mod":
                kid.set("stretchy", "false")
                if i and kids[i - 1].tag == "mspace" and root.get("display") != "block":
                    kids[i - 1].set("width", "0.444em")  # TeX: \mkern8mu before the "(" in text style, 18mu in display
                depth = 0
                for later in kids[i + 1 :]:
                    text_ = text(later) if later.tag == "mo" else ""
                    if text_ == "(":
                        depth += 1
                    elif text_ == ")":
                        if depth == 0:
                            later.set("stretchy", "false")
                            break
                        depth -= 1


def _serialise(el: Element, out: list[str], is_root: bool = False) -> None:
    """Write ``el`` as MathML, keeping only allowed elements and attributes, text escaped."""
    tag = el.tag if isinstance(el.tag, str) and el.tag in _ELEMENTS else "mrow"
    if tag == "math" and not is_root:
        tag = "mrow"
    attrs = "".join(
        f' {k}="{_text(v)}"'
        for k, v in el.attrib.items()
        if k in _ATTRIBUTES or (is_root and k == "display")
    )
    out.append(f"<{tag}{attrs}>")
    if el.text:
        out.append(_text(el.text))
    for child in el:
        _serialise(child, out)
    out.append(f"</{tag}>")
    if el.tail:
        out.append(_text(el.tail))


def _text(s: str) -> str:
    """Escape a text node or attribute value. latex2mathml writes symbols as ``&#x...;``
    strings (it relies on its unescape step), so decode those first, then escape everything."""
    if "&#" in s:
        s = _CHAR_REF.sub(_char, s)
    return str(escape(s))


def _char(m: re.Match[str]) -> str:
    ref = m.group(1)
    code = int(ref[1:], 16) if ref[0] == "x" else int(ref)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)
