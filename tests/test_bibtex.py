"""bibtex_entry: arXiv-style @misc entries that always parse."""

from dataclasses import dataclass, field

from paperboy.papers.bibtex import bibtex_entry


@dataclass
class Paper:
    arxiv_id: str = "2503.11731"
    title: str = "A Title"
    authors: list[str] = field(default_factory=lambda: ["Ada Lovelace"])
    primary_category: str | None = "cs.CV"
    year: int | None = 2025
    doi: str | None = None
    journal_ref: str | None = None


def key(entry: str) -> str:
    return entry.split("{", 1)[1].split(",", 1)[0]


def field_value(entry: str, name: str) -> str | None:
    for line in entry.splitlines():
        if line.strip().startswith(name + "={"):
            return line.strip()[len(name) + 2 : -2]
    return None


def assert_braces_balanced(entry: str) -> None:
    depth = 0
    for ch in entry:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0


def test_matches_arxiv_export_format():
    paper = Paper(
        title="Industrial-Grade Sensor Simulation via Gaussian Splatting",
        authors=["Xianming Zeng", "Sicong Du", "Qifeng Chen"],
    )
    assert bibtex_entry(paper) == (
        "@misc{zeng2025industrialgrade,\n"
        "      title={Industrial-Grade Sensor Simulation via Gaussian Splatting},\n"
        "      author={Xianming Zeng and Sicong Du and Qifeng Chen},\n"
        "      year={2025},\n"
        "      eprint={2503.11731},\n"
        "      archivePrefix={arXiv},\n"
        "      primaryClass={cs.CV},\n"
        "      url={https://arxiv.org/abs/2503.11731},\n"
        "}"
    )


def test_key_skips_leading_stopwords():
    paper = Paper(title="On the Origin of Species", authors=["Charles Darwin"], year=1859)
    assert key(bibtex_entry(paper)) == "darwin1859origin"


def test_key_adds_second_word_when_first_is_short():
    paper = Paper(title="LoRA: Low-Rank Adaptation of Large Language Models", authors=["Edward Hu"])
    assert key(bibtex_entry(paper)) == "hu2025loralowrank"


def test_key_folds_accents_and_apostrophes_to_ascii():
    paper = Paper(title="Safe Vision-Language Models via Unsafe Weights Manipulation", authors=["Moreno D'Incà"])
    assert key(bibtex_entry(paper)) == "dinca2025safevisionlanguage"
    paper = Paper(title="AnyCalib: On-Manifold Learning", authors=["Javier Tirado-Garín"])
    assert key(bibtex_entry(paper)) == "tiradogarin2025anycalib"
    paper = Paper(title="Über Graphen", authors=["Jürgen Weiß"])
    assert key(bibtex_entry(paper)) == "weiss2025ubergraphen"


def test_key_ignores_name_suffixes():
    paper = Paper(title="Learning Things", authors=["Martin Luther King Jr."])
    assert key(bibtex_entry(paper)) == "king2025learning"


def test_key_is_anonymous_without_authors_and_author_field_is_omitted():
    entry = bibtex_entry(Paper(title="Learning Things", authors=[]))
    assert key(entry) == "anonymous2025learning"
    assert "author=" not in entry


def test_key_for_non_latin_name_falls_back_to_anonymous():
    assert key(bibtex_entry(Paper(title="Learning Things", authors=["王小明"]))) == "anonymous2025learning"


def test_key_drops_tex_from_title_words():
    # arXiv 2504.00218
    paper = Paper(
        title=r"$\textit{Agents Under Siege}$: Breaking Pragmatic Multi-Agent LLM Systems",
        authors=["Rana Muhammad Shahroz Khan", "Zhen Tan"],
    )
    assert key(bibtex_entry(paper)) == "khan2025agents"


def test_non_ascii_is_kept_as_utf8_in_values():
    entry = bibtex_entry(Paper(title="Über Graphen", authors=["Václav Truhlařík", "F. Çengel"]))
    assert field_value(entry, "title") == "Über Graphen"
    assert field_value(entry, "author") == "Václav Truhlařík and F. Çengel"


def test_year_comes_from_new_style_id_when_missing():
    entry = bibtex_entry(Paper(arxiv_id="1706.03762", title="Attention Is All You Need", year=None))
    assert field_value(entry, "year") == "2017"
    assert key(entry) == "lovelace2017attention"


def test_old_style_id_without_category_or_year():
    entry = bibtex_entry(
        Paper(arxiv_id="hep-th/9901001", title="Strings", primary_category=None, year=None)
    )
    assert field_value(entry, "eprint") == "hep-th/9901001"
    assert field_value(entry, "url") == "https://arxiv.org/abs/hep-th/9901001"
    assert field_value(entry, "year") == "1999"
    assert "primaryClass" not in entry


def test_doi_and_journal_ref_are_added_when_present():
    entry = bibtex_entry(Paper(doi="10.1000/xyz123", journal_ref="Nature 123, 45-67 (2025)"))
    assert field_value(entry, "doi") == "10.1000/xyz123"
    assert field_value(entry, "note") == "Nature 123, 45-67 (2025)"
    assert entry.endswith("},\n}")


def test_bare_ampersand_percent_hash_are_escaped():
    # arXiv 2503.20108 and 2503.14797
    assert field_value(bibtex_entry(Paper(title="Peepers & Pixels: Human Recognition")), "title") == (
        r"Peepers \& Pixels: Human Recognition"
    )
    assert field_value(bibtex_entry(Paper(title="FACTS&EVIDENCE: 100% of #1")), "title") == (
        r"FACTS\&EVIDENCE: 100\% of \#1"
    )


def test_already_escaped_characters_are_not_escaped_twice():
    title = r"R\&D at 10\% with \#tags"
    assert field_value(bibtex_entry(Paper(title=title)), "title") == title


def test_specials_inside_math_are_left_alone():
    title = r"Matrices $A & B$ cost 5% more"
    assert field_value(bibtex_entry(Paper(title=title)), "title") == r"Matrices $A & B$ cost 5\% more"


def test_balanced_braces_are_kept():
    title = r"X$^{2}$-Gaussian: {4D} Radiative Splatting"
    entry = bibtex_entry(Paper(title=title))
    assert field_value(entry, "title") == title
    assert_braces_balanced(entry)


def test_unbalanced_braces_are_removed():
    for title in ["FA^{3-CLIP: Cues", "A } broken { title", r"Sets \{ open"]:
        entry = bibtex_entry(Paper(title=title, journal_ref="Proc. {X", authors=["Ann} Smith"]))
        assert_braces_balanced(entry)
    assert field_value(bibtex_entry(Paper(title="FA^{3-CLIP: Cues")), "title") == "FA^3-CLIP: Cues"


def test_lone_dollar_is_escaped_so_latex_does_not_enter_math_mode():
    # arXiv title: "PUSA V1.0: Surpassing Wan-I2V with $500 Training Cost by ..."
    entry = bibtex_entry(Paper(title="Surpassing Wan-I2V with $500 Training Cost"))
    assert field_value(entry, "title") == r"Surpassing Wan-I2V with \$500 Training Cost"


def test_whitespace_and_newlines_are_collapsed():
    entry = bibtex_entry(Paper(title="A   Title\n  Over Lines"))
    assert field_value(entry, "title") == "A Title Over Lines"


def test_author_named_with_and_is_braced():
    entry = bibtex_entry(Paper(authors=["Research and Development Team", "Ada Lovelace"]))
    assert field_value(entry, "author") == "{Research and Development Team} and Ada Lovelace"


def test_last_first_author_form_uses_the_surname_for_the_key():
    assert key(bibtex_entry(Paper(title="Learning Things", authors=["Lovelace, Ada"]))) == "lovelace2025learning"


def parsed_title(entry: str) -> str:
    import bibtexparser

    library = bibtexparser.parse_string(entry)
    assert not library.failed_blocks and len(library.entries) == 1
    return library.entries[0]["title"]


def test_a_trailing_backslash_cannot_escape_the_closing_brace():
    entry = bibtex_entry(Paper(title="Trailing backslash \\", authors=["Ada Lovelace\\"]))
    assert parsed_title(entry) == r"Trailing backslash \textbackslash{}"
    assert field_value(entry, "author") == r"Ada Lovelace\textbackslash{}"


def test_commands_that_read_write_or_redefine_are_written_out_as_text():
    for title, expected in [
        (r"\input{/etc/passwd}", r"\textbackslash{}input{/etc/passwd}"),
        (r"\immediate\write18{rm -rf /}", r"\textbackslash{}immediate\textbackslash{}write18{rm -rf /}"),
        (r"\csname input\endcsname", r"\textbackslash{}csname input\textbackslash{}endcsname"),
        (r"\catcode`\^^M=13 \def\x{y}", r"\textbackslash{}catcode`\^{}^M=13 \textbackslash{}def\x{y}"),
        ("^^5cinput{/etc/passwd}", "^{}^5cinput{/etc/passwd}"),
        (r"\begin{filecontents}{a.tex}", r"\textbackslash{}begin{filecontents}{a.tex}"),
    ]:
        assert parsed_title(bibtex_entry(Paper(title=title))) == expected


def test_math_accents_and_formatting_stay_as_written():
    title = r"$\mathcal{O}(n^2)$ Schr\"odinger na\"ive \emph{Fast} \textbf{LLMs}: $x_i \leq \beta$"
    assert field_value(bibtex_entry(Paper(title=title)), "title") == title


def test_escaped_braces_are_spelt_so_that_bibtex_and_bibtexparser_agree():
    # BibTeX counts "\{" as a brace, bibtexparser does not: either could end the field early.
    entry = bibtex_entry(Paper(title=r"Sets \{x\} and $\{y\}$"))
    assert parsed_title(entry) == r"Sets \textbraceleft{}x\textbraceright{} and $\lbrace{}y\rbrace{}$"
    assert_braces_balanced(entry)


def test_dropping_unpaired_braces_cannot_make_a_command():
    entry = bibtex_entry(Paper(title=r"\inp{}ut{/etc/passwd} } and ^{^5c"))
    assert parsed_title(entry) == r"\textbackslash{}input/etc/passwd and ^{}^5c"


def test_a_line_break_before_a_brace_keeps_bibtexparser_in_step():
    assert parsed_title(bibtex_entry(Paper(title="Lines \\\\{x} \\\\"))) == "Lines \\\\ {x} \\\\ "
