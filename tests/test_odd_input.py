"""Odd and hostile input gets a clear answer, never a 500 or unbounded work (issue #10.6, #10.7, #10.9)."""

import pytest

from paperboy.papers import tex


@pytest.mark.parametrize("path", [
    "/papers/week/9999-W52", "/papers/month/9999-12", "/papers/date/9999-12-31", "/papers/week/9999-W01",
    "/papers/date/0001-01-01", "/papers/month/0001-01", "/papers/week/0001-W01",
])  # fmt: skip
def test_far_away_periods_are_not_found_not_server_errors(client, path):
    r = client.get(path)
    assert r.status_code == 404 and "outside the years" in r.text


def test_the_last_and_first_showable_periods_work(client):
    for path in ("/papers/week/9998-W52", "/papers/month/9998-12", "/papers/date/9998-12-31", "/papers/month/1900-01"):
        assert client.get(path).status_code == 200, path


def test_head_answers_like_get_without_a_body(client):
    for path in ("/", "/papers/2606.30212", "/papers/date/2026-06-30", "/search?q=codes", "/login", "/healthz"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert client.head("/papers/2101.00001").status_code == 404


def test_method_not_allowed_says_what_is_allowed(client):
    r = client.post("/papers/date/2026-06-30")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    r = client.delete("/api/papers/2606.30212/related")
    assert r.status_code == 405 and r.json()["error"] and "GET" in r.headers["allow"]


def test_a_flood_of_math_openers_is_scanned_in_bounded_steps():
    """20,000 characters of "\\[" cost ~3 s per process before: every opener scanned to the end."""
    hostile = "\\[" * 10_000
    html = tex._render_cached.__wrapped__(hostile)
    assert html.count('<code class="tex">') == tex.MAX_MATH_SEGMENTS  # then the rest is plain, escaped text
    assert str(html).endswith("\\[" * 100)
    # A closer further away than MAX_MATH_CHARS is not looked for: the opener shows as raw TeX.
    far = "$\\alpha" + "x" * (tex.MAX_MATH_CHARS + 10) + "$"
    assert "<math" not in tex._render_cached.__wrapped__(far)


def test_real_math_near_the_bounds_still_renders():
    many = " ".join(f"$x_{{{i}}}$" for i in range(tex.MAX_MATH_SEGMENTS))
    assert str(tex.render_math(many)).count("<math") == tex.MAX_MATH_SEGMENTS
    long_formula = "$" + " + ".join(f"a_{{{i}}}" for i in range(200)) + "$"  # ~1,900 characters
    assert len(long_formula) < tex.MAX_MATH_CHARS and "<math" in tex.render_math(long_formula)


def test_math_is_rendered_when_a_paper_is_stored_not_per_view(engine):
    from paperboy.papers.model import PaperRecord
    from paperboy.store import repo
    from paperboy.store.db import write_transaction

    with write_transaction(engine) as conn:
        repo.upsert_papers(conn, [PaperRecord("2601.00001", "On $\\alpha$-codes", "We bound $d \\le n$.", ["A. B."], ["cs.IT"])])
        repo.upsert_papers(conn, [PaperRecord("2601.00002", "Plain title", "No math at all.", ["C. D."], ["cs.IT"])])
    with engine.connect() as conn:
        math, plain = repo.get_paper(conn, "2601.00001"), repo.get_paper(conn, "2601.00002")
    assert "<math" in math.title_html and "<math" in math.abstract_html
    assert plain.title_html is None and plain.abstract_html is None  # nothing worth storing
    assert str(math.title_markup) == math.title_html and str(plain.abstract_markup) == "No math at all."
