"""BibTeX for a paper, in the shape arXiv's own "Export BibTeX citation" produces.

People paste these straight into their .bib files, so the entry must look familiar (arXiv's
``@misc`` with ``eprint``/``archivePrefix``/``primaryClass``) and must always parse: a stray
brace in a title would swallow the rest of the .bib file, and a bare ``&``, ``%`` or ``#`` breaks
LaTeX or BibTeX. It must not run anything either: everyone who cites the paper typesets its title,
so TeX that reads or writes files or redefines TeX is written out as text (:func:`_value`). Non-ASCII
stays UTF-8 (biber and modern bibtex handle it; arXiv does the same).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol

from paperboy.papers.normalize import normalize_text

__all__ = ["bibtex_entry", "bibtex_entries", "DANGEROUS"]


class _Paper(Protocol):
    arxiv_id: str
    title: str
    authors: list[str]
    primary_category: str | None
    year: int | None
    doi: str | None
    journal_ref: str | None


# Words that make a poor citation key.
_STOPWORDS = frozenset(
    "a an the on of for in to and or with via from by at as is are towards toward into "
    "using do does can your our we what how why when".split()
)
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
# Letters NFKD cannot take apart.
_FOLD = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE",
                       "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D", "þ": "th", "ð": "d", "ı": "i"})  # fmt: skip
# TeX's tokens that need care: a control word or symbol (or a backslash at the end), and
# the characters that are special to BibTeX or LaTeX. Matched left to right, as TeX reads them.
_TOKEN = re.compile(r"\\(?:[A-Za-z]+|[^A-Za-z]|$)|[$&%#{}]")
_CARETS = re.compile(r"\^(?=\^)")
_BRACE = {(r"\{", False): r"\textbraceleft{}", (r"\}", False): r"\textbraceright{}",
          (r"\{", True): r"\lbrace{}", (r"\}", True): r"\rbrace{}"}  # fmt: skip
_FILECONTENTS = re.compile(r"\s*\{\s*filecontents")
#: TeX and LaTeX commands that read or write files, run programs (``\write18``), or change how TeX
#: reads what follows (catcodes, definitions, building command names): never useful in a title,
#: and a .bib entry is typeset by whoever cites the paper. Written out as text, not run.
DANGEROUS = frozenset(
    "input include includeonly InputIfFileExists IfFileExists openin openout read readline write immediate closein "
    "closeout newread newwrite special usepackage RequirePackage documentclass LoadClass verbatiminput lstinputlisting "
    "def edef gdef xdef let futurelet newcommand renewcommand providecommand DeclareRobustCommand newenvironment "
    "renewenvironment catcode lccode uccode sfcode mathcode delcode endlinechar escapechar newlinechar csname endcsname "
    "expandafter noexpand scantokens makeatletter makeatother global outer long protected everypar everymath "
    "everydisplay everyhbox everyvbox everyjob everycr everyeof afterassignment aftergroup shipout output dump "
    "batchmode nonstopmode scrollmode errorstopmode directlua latelua luaexec luadirect primitive pdfprimitive "
    "pdffiledump pdfmdfivesum pdffilesize pdffilemoddate filedump mdfivesum filesize filemoddate ShellEscape".split()
)
_NOT_LETTER = re.compile(r"[^a-z]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_COMMAND = re.compile(r"\\[A-Za-z]+")
# What _value has anything to do about beyond normalize_text (most names and many titles: nothing).
_CARE = re.compile(r"[\\$&%#{}^]")
_NEW_ID = re.compile(r"(\d{2})\d{2}\.\d{4,5}")
_OLD_ID = re.compile(r"[a-z-]+(?:\.[A-Za-z]{2})?/(\d{2})\d{5}")


def bibtex_entries(papers: list[_Paper]) -> str:
    """A .bib file of ``papers``, one entry each, keys made unique (``…2026attention``,
    ``…2026attentiona``, ``…2026attentionb``) so that BibTeX keeps every entry."""
    used: set[str] = set()
    out = []
    for paper in papers:
        base = _key(paper, paper.year or _year_from_id(paper.arxiv_id))
        key, n = base, 0
        while key in used:
            n += 1
            key = base + _suffix(n)
        used.add(key)
        out.append(bibtex_entry(paper, key=key))
    return "\n\n".join(out) + ("\n" if out else "")


def _suffix(n: int) -> str:
    """a, b, …, z, aa, ab, …: the n-th clash's letters."""
    letters = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        letters = chr(97 + r) + letters
    return letters


def bibtex_entry(paper: _Paper, *, key: str | None = None) -> str:
    """Return a BibTeX ``@misc`` entry for ``paper`` (any object with the attributes of ``_Paper``).

    >>> from types import SimpleNamespace as P
    >>> print(bibtex_entry(P(arxiv_id="1706.03762", title="Attention Is All You Need",
    ...     authors=["Ashish Vaswani"], primary_category="cs.CL", year=2017, doi=None,
    ...     journal_ref=None)))
    @misc{vaswani2017attention,
          title={Attention Is All You Need},
          author={Ashish Vaswani},
          year={2017},
          eprint={1706.03762},
          archivePrefix={arXiv},
          primaryClass={cs.CL},
          url={https://arxiv.org/abs/1706.03762},
    }
    """
    year = paper.year or _year_from_id(paper.arxiv_id)
    fields = [
        ("title", _value(paper.title)),
        ("author", " and ".join(_author(a) for a in paper.authors if a.strip())),
        ("year", str(year) if year else None),
        ("eprint", paper.arxiv_id),
        ("archivePrefix", "arXiv"),
        ("primaryClass", _value(paper.primary_category) if paper.primary_category else None),
        ("url", f"https://arxiv.org/abs/{paper.arxiv_id}"),
        ("doi", _value(paper.doi) if paper.doi else None),
        ("note", _value(paper.journal_ref) if paper.journal_ref else None),
    ]
    body = "".join(f"      {name}={{{value}}},\n" for name, value in fields if value)
    return f"@misc{{{key or _key(paper, year)},\n{body}}}"


def _key(paper: _Paper, year: int | None) -> str:
    """``lastname + year + one or two title words``, ASCII letters/digits only, like arXiv's."""
    first = next((a for a in paper.authors if a.strip()), "")
    if "," in first:  # "Last, First" rather than "First Last"
        first = first.split(",")[0]
    name = next((p for p in reversed(_ascii(first).split()) if _letters(p) not in _SUFFIXES), "")
    significant = _title_words(paper.title)
    title = significant[0] if significant else ""
    if 0 < len(title) < 5 and len(significant) > 1:  # "lora" alone says little: "loralowrank"
        title += significant[1]
    return f"{_letters(name) or 'anonymous'}{year or ''}{title}"


def _title_words(title: str) -> list[str]:
    """The title's first two words that are not stopwords (else its first two words), as key letters.

    Only as far into the title as needed: a month's export keys 2,000 titles."""
    significant: list[str] = []
    first: list[str] = []
    for raw in title.replace("-", "").split():
        word = _alnum(raw)
        if not word:
            continue
        if len(first) < 2:
            first.append(word)
        if word not in _STOPWORDS:
            significant.append(word)
            if len(significant) == 2:
                break
    return significant or first


def _year_from_id(arxiv_id: str) -> int | None:
    """arXiv ids carry their submission year: 2503.11731 -> 2025, hep-th/9901001 -> 1999."""
    m = _NEW_ID.fullmatch(arxiv_id) or _OLD_ID.fullmatch(arxiv_id)
    if not m:
        return None
    yy = int(m.group(1))
    return (1900 if yy >= 91 else 2000) + yy


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return decomposed.encode("ascii", "ignore").decode()


def _letters(word: str) -> str:
    return _NOT_LETTER.sub("", word.lower())


def _alnum(word: str) -> str:
    # Drop TeX commands (\textbf, \mathcal) so "$\alpha$-Nets" and "\textit{Foo}" key sensibly.
    return _NOT_ALNUM.sub("", _COMMAND.sub("", _ascii(word)).lower())


def _author(name: str) -> str:
    """One author; a name containing the word "and" is braced so BibTeX keeps it whole."""
    value = _value(name)
    return f"{{{value}}}" if re.search(r"\band\b", value) else value


def _value(text: str) -> str:
    r"""Make ``text`` (TeX as arXiv gives it) safe inside ``{...}``: for BibTeX, for bibtexparser and
    for the LaTeX run that typesets it. One left-to-right pass over TeX's own tokens, so ``\\&``
    (a line break, then a bare ``&``) is read as TeX reads it:

    * one line, control and bidi characters dropped (:func:`~paperboy.papers.normalize.normalize_text`);
    * bare ``%`` and ``#`` escaped everywhere, bare ``&`` outside math (``$A & B$`` stays an alignment);
      a lone ``$`` ("with $500 Training Cost") would start math mode, so when the bare dollars don't
      pair up they are all escaped;
    * ``\{`` and ``\}`` become ``\textbraceleft{}``/``\textbraceright{}`` (``\lbrace{}``/``\rbrace{}``
      in math): BibTeX counts escaped braces and bibtexparser does not, so one of them always read
      the field's end wrongly; bare braces that don't balance are dropped;
    * commands that read or write files, run programs or redefine TeX (:data:`DANGEROUS`), TeX's
      ``^^5c`` spelling of a backslash and a trailing backslash (which escaped the field's closing
      brace) are written out as text: ``\textbackslash{}input``, ``^{}^``; a line break ``\\`` before
      a brace or at the end gets a space after it (bibtexparser reads a brace after any backslash as
      escaped).

    Everything else — accents, ``\emph``, math — is kept as written, so citations read as on arXiv.
    """
    text = normalize_text(text)
    if not _CARE.search(text):
        return text
    tokens = list(_TOKEN.finditer(text))
    if not _balanced(m.group() for m in tokens):
        # Dropped before anything else is read, so that "\inp{}ut" cannot become a command here.
        text = " ".join("".join(_pieces_without_braces(text, tokens)).split())
    if "^^" in text:  # TeX reads "^^5c" as a backslash, even right after one ("\^^5c")
        text = _CARETS.sub("^{}", text)
    tokens = list(_TOKEN.finditer(text))
    escape_dollars = sum(m.group() == "$" for m in tokens) % 2 == 1
    out: list[str] = []
    pos = 0
    math = False
    for m in tokens:
        out.append(text[pos : m.start()])
        pos = m.end()
        token = m.group()
        if token == "$":
            if escape_dollars:
                out.append(r"\$")
            else:
                math = not math
                out.append(token)
        elif token in ("&", "%", "#"):
            out.append(token if token == "&" and math else "\\" + token)
        elif token in ("{", "}"):
            out.append(token)
        elif token == "\\":  # at the very end: it would escape the field's closing brace
            out.append(r"\textbackslash{}")
        elif token in (r"\{", r"\}"):
            out.append(_BRACE[token, math])
        elif token == "\\\\" and text[pos : pos + 1] in ("{", "}", ""):
            out.append("\\\\ ")  # bibtexparser takes any brace after a backslash for an escaped one
        elif token[1:] in DANGEROUS or (token == r"\begin" and _FILECONTENTS.match(text, pos)):
            out.append(r"\textbackslash{}" + token[1:])
        else:
            out.append(token)
    out.append(text[pos:])
    return "".join(out)


def _pieces_without_braces(text: str, tokens: list[re.Match]):
    pos = 0
    for m in tokens:
        if m.group() in ("{", "}"):
            yield text[pos : m.start()]
            pos = m.end()
    yield text[pos:]


def _balanced(tokens) -> bool:
    """Whether the bare braces among ``tokens`` pair up (escaped ones become commands, see :func:`_value`)."""
    depth = 0
    for ch in tokens:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
