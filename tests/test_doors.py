"""One rule, one limit and one message per parameter, whichever door a feed, trending, a paper or a
profile is asked for by (issue #23.1): the page, its Atom feed, its citation files, ``/api/v1`` and
the Hugging Face–compatible API all call the same view (``feed/views.py``), which checks what the
door received through ``paperboy.params``.

Errors are asked for as JSON (``Accept: application/json``) so the message of a page and of an API
answer can be compared as they are.
"""

from __future__ import annotations

import datetime as dt

import pytest

from community_helpers import make_user
from paperboy.errors import Invalid
from paperboy.store import feeds

DAY = "2026-06-30"
AS_JSON = {"Accept": "application/json"}


def refusal(client, url: str) -> tuple[int, str]:
    r = client.get(url, headers=AS_JSON, follow_redirects=False)
    return r.status_code, r.json()["error"]


def a_paper(client) -> str:
    with client.engine.connect() as conn:
        return feeds.feed_page(conn, dt.date(2026, 6, 30), dt.date(2026, 6, 30), limit=1).papers[0].arxiv_id


def test_a_bad_category_is_refused_alike_by_every_door_of_a_feed(client):
    doors = ["/?cat=cs..CL", f"/papers/date/{DAY}?cat=cs..CL", "/papers/week/2026-W27?cat=cs..CL", f"/papers/date?day={DAY}&cat=cs..CL",
             "/papers/feed.atom?cat=cs..CL", f"/papers/date/{DAY}/feed.atom?cat=cs..CL", "/papers/month/2026-06/feed.atom?cat=cs..CL",
             f"/papers/date/{DAY}.bib?cat=cs..CL", "/papers/week/2026-W27.ris?cat=cs..CL"]  # fmt: skip
    # Hugging Face's daily_papers takes no category: no door there.
    for url in doors:
        assert refusal(client, url) == (400, "cat must be an arXiv category such as cs.CL"), url


@pytest.mark.parametrize("page", ["0", "10001", "two"])
def test_a_bad_page_number_is_refused_alike_by_every_door(client, page):
    paper = a_paper(client)
    expected = "page must be a number from 1 to 10,000"
    for url in (f"/papers/date/{DAY}?page={page}", f"/papers/trending?page={page}", f"/api/v1/trending?page={page}",
                f"/api/v1/papers/{paper}/comments?page={page}"):  # fmt: skip
        assert refusal(client, url) == (400, expected), url
    assert refusal(client, f"/papers/{paper}?cpage={page}") == (400, expected.replace("page", "cpage"))
    if page != "0":  # Hugging Face counts pages from 0: the same rule, from 0
        assert refusal(client, f"/api/daily_papers?p={page}") == (400, "p must be a number from 0 to 10,000")


def test_the_api_takes_the_deepest_page_every_door_takes(client):
    """``/api/v1`` stopped at page 1,000 where the pages and Hugging Face's API go to 10,000."""
    for url in ("/api/v1/trending?page=10000", "/api/daily_papers?p=10000"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text)
    assert client.get("/api/v1/trending?page=10000").json()["papers"] == []


@pytest.mark.parametrize("kind, slug", [("week", "2026-W60"), ("date", "2026-02-30"), ("month", "2026-13")])
def test_a_bad_period_in_a_path_is_not_found_on_the_page_the_feed_and_the_citation_file(client, kind, slug):
    answers = {refusal(client, url) for url in (f"/papers/{kind}/{slug}", f"/papers/{kind}/{slug}/feed.atom",
                                                f"/papers/{kind}/{slug}.bib", f"/papers/{kind}/{slug}.ris")}  # fmt: skip
    assert len(answers) == 1, answers
    [(status, message)] = answers
    assert status == 404 and slug in message


@pytest.mark.parametrize("value", ["2026-W60", "W27", "2026-27"])
def test_a_bad_week_parameter_is_a_bad_request_naming_the_shape(client, value):
    """A malformed week was refused by FastAPI's pattern check in its own words, an impossible one by the view."""
    assert refusal(client, f"/api/daily_papers?week={value}") == (400, "Invalid 'week', expected YYYY-Www")


def test_a_bad_daily_sort_is_refused_by_the_view_in_its_words(client):
    """HF's sort was a Literal that FastAPI refused in its own words before the view saw it."""
    assert refusal(client, "/api/daily_papers?sort=upvotes") == (400, "sort must be one of publishedAt, trending")


def test_a_missing_paper_reads_the_same_on_the_page_the_api_and_its_citation_files(client):
    expected = (404, "Paperboy has no paper 2601.99999 yet.")
    for url in ("/papers/2601.99999", "/api/v1/papers/2601.99999", "/api/v1/papers/2601.99999/comments", "/papers/2601.99999.bib",
                "/papers/2601.99999v2.ris"):  # fmt: skip
        assert refusal(client, url) == expected, url
    # Hugging Face's paths answer in Hugging Face's words, which its client and scripts match on.
    assert refusal(client, "/api/papers/2601.99999") == (404, "Paper not found")
    assert refusal(client, "/papers/2601.99999.md") == (404, "Paper not found")


def test_the_profile_page_and_its_json_are_one_view(client):
    make_user(client.engine, "alice")
    page = client.get("/u/alice")
    api = client.get("/api/v1/users/alice")
    assert page.status_code == api.status_code == 200 and api.json()["username"] == "alice" and "alice" in page.text
    assert refusal(client, "/u/nobody") == refusal(client, "/api/v1/users/nobody") == (404, "No such user.")


def test_views_check_what_a_door_passes_them(engine):
    from paperboy.feed.views import daily_list, feed_view, paper_view, trending_view

    with engine.connect() as conn:
        for call in (lambda: feed_view(conn, None, category="cs..CL"), lambda: feed_view(conn, None, page="0"),
                     lambda: trending_view(conn, page="10001"), lambda: paper_view(conn, "2601.00001", comment_page="x"),
                     lambda: daily_list(conn, week="2026-W60"), lambda: daily_list(conn, sort="upvotes"),
                     lambda: daily_list(conn, date=DAY, month="2026-06")):  # fmt: skip
            with pytest.raises(Invalid):
                call()
