"""Normalisation of real, messy arXiv metadata (examples taken from the shared corpus)."""

import orjson

from conftest import corpus_lines
from paperboy.papers.normalize import (
    author_key,
    author_name,
    normalize_optional,
    normalize_text,
    split_author_string,
    split_classifications,
    split_glued_authors,
)


def test_abstract_hard_line_breaks_become_single_spaces_and_tex_is_kept():
    raw = (
        "Sensor simulation is pivotal for scalable validation of autonomous driving\n"
        "systems, yet existing Neural Radiance Fields (NeRF) based methods face\n"
        "  applicability and efficiency challenges with $\\mathcal{O}(n^2)$ cost.\n"
    )
    assert normalize_text(raw) == (
        "Sensor simulation is pivotal for scalable validation of autonomous driving systems, yet existing "
        "Neural Radiance Fields (NeRF) based methods face applicability and efficiency challenges with "
        "$\\mathcal{O}(n^2)$ cost."
    )


def test_every_real_abstract_in_a_corpus_sample_normalises_to_one_line():
    for line in corpus_lines("2026-06-30", "2026-06-30", limit=200):
        obj = orjson.loads(line)
        text = normalize_text(obj["abstract"])
        assert "\n" not in text and "  " not in text
        assert text == text.strip()
        # Nothing but whitespace is lost: TeX and punctuation are kept as written.
        assert text.replace(" ", "") == "".join(obj["abstract"].split())


def test_control_characters_are_dropped():
    assert normalize_text("a\x00b\x07c\td") == "abc d"
    assert normalize_optional("   \n ") is None
    assert normalize_optional(None) is None


def test_acm_and_msc_codes_are_kept_apart_from_arxiv_categories():
    arxiv, acm, msc = split_classifications(
        ["cs.CL", "cs.AI", "I.2.7; K.4.1", "68T50 (Primary) 68T07, 68Q32 (Secondary)", "cond-mat.str-el", "62-08", "A.I"]
    )
    assert arxiv == ["cs.CL", "cs.AI", "cond-mat.str-el"]  # primary stays first
    assert acm == ["I.2.7", "K.4.1"]
    assert msc == ["68T50", "68T07", "68Q32", "62-08"]


def test_space_separated_categories_and_unknown_words():
    arxiv, acm, msc = split_classifications("hep-th math.GT secondary")
    assert arxiv == ["hep-th", "math.GT"] and acm == [] and msc == []


def test_author_names_from_parsed_triples_and_strings():
    assert author_name("Balázs", "C.", "") == "C. Balázs"
    assert author_name("Yuan", "C. -P.", "") == "C.-P. Yuan"
    assert author_name("King", "Martin Luther", "Jr") == "Martin Luther King Jr"
    assert split_author_string("A. One, B. Two (MIT), and C. Three") == ["A. One", "B. Two", "C. Three"]
    assert split_author_string("Ashish Vaswani, Noam Shazeer,\n  Niki Parmar and Jakob Uszkoreit") == [
        "Ashish Vaswani", "Noam Shazeer", "Niki Parmar", "Jakob Uszkoreit"
    ]  # fmt: skip


def test_glued_author_lists_from_the_real_corpus_are_repaired():
    # Line 13402 of the shared corpus lists 21 authors as one "name" with the spaces around "and" lost.
    glued = "Xiangyu Kongand Xiaoxia Xingand Fan Wangand Suejin Hanand MinKyu Parkand Tianyu Zhangand Xin Luoand Yeda Chen"
    assert split_glued_authors([glued, "Rolland Smith"]) == [
        "Xiangyu Kong", "Xiaoxia Xing", "Fan Wang", "Suejin Han", "MinKyu Park", "Tianyu Zhang", "Xin Luo", "Yeda Chen",
        "Rolland Smith",
    ]  # fmt: skip


def test_author_key_ignores_case_and_accents():
    assert author_key("Moreno D'Incà") == author_key("moreno d'inca") == "moreno d'inca"
