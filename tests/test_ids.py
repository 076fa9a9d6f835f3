"""arXiv identifiers: every form people paste, canonical storage without version, clear refusals."""

import pytest

from paperboy.papers.ids import ArxivId, InvalidArxivId, is_arxiv_id, parse_arxiv_id


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2406.01234", ArxivId("2406.01234", None)),
        ("2406.01234v2", ArxivId("2406.01234", 2)),
        ("arXiv:2406.01234v12", ArxivId("2406.01234", 12)),
        ("  2503.11731\n", ArxivId("2503.11731", None)),
        ("0704.0001", ArxivId("0704.0001", None)),  # first new-style id, four digits
        ("1412.9999v1", ArxivId("1412.9999", 1)),
        ("https://arxiv.org/abs/2406.01234", ArxivId("2406.01234", None)),
        ("https://arxiv.org/abs/2406.01234v3", ArxivId("2406.01234", 3)),
        ("http://arxiv.org/pdf/2406.01234v2.pdf", ArxivId("2406.01234", 2)),
        ("https://arxiv.org/pdf/2406.01234", ArxivId("2406.01234", None)),
        ("arxiv.org/abs/2406.01234?context=cs", ArxivId("2406.01234", None)),
        ("https://export.arxiv.org/abs/2406.01234v1", ArxivId("2406.01234", 1)),
        ("hep-th/9901001", ArxivId("hep-th/9901001", None)),
        ("hep-th/9711200v3", ArxivId("hep-th/9711200", 3)),
        ("math/0211159", ArxivId("math/0211159", None)),
        ("math.GT/0309136", ArxivId("math.GT/0309136", None)),
        ("cond-mat/0101001", ArxivId("cond-mat/0101001", None)),
        ("https://arxiv.org/abs/cs/0112017v1", ArxivId("cs/0112017", 1)),
        ("arXiv:quant-ph/0201082v1", ArxivId("quant-ph/0201082", 1)),
    ],
)
def test_parses_every_common_form_to_the_canonical_id(text, expected):
    assert parse_arxiv_id(text) == expected


def test_versioned_form_round_trips():
    assert parse_arxiv_id("2406.01234v2").versioned == "2406.01234v2"
    assert str(parse_arxiv_id("hep-th/9901001v1")) == "hep-th/9901001v1"
    assert parse_arxiv_id("hep-th/9901001").is_old_style


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("abc", "not an arXiv id"),
        ("2413.01234", "month 13"),
        ("2400.01234", "month 00"),
        ("2406.1234", "digits"),  # four digits are only valid before 2015
        ("1406.12345", "digits"),  # five digits only from 2015
        ("2406.01234v0", "v1"),
        ("hep-th/9913001", "month 13"),
        ("HEP-TH/9901001", "not an arXiv id"),
        ("2406.01234; DROP TABLE papers", "not an arXiv id"),
        ("<script>alert(1)</script>", "not an arXiv id"),
        ("1" * 500, "too long"),
    ],
)
def test_refuses_what_is_not_an_id_and_says_why(text, reason):
    with pytest.raises(InvalidArxivId, match=reason):
        parse_arxiv_id(text)
    assert not is_arxiv_id(text)


def test_non_text_is_refused():
    with pytest.raises(InvalidArxivId):
        parse_arxiv_id(None)  # type: ignore[arg-type]
