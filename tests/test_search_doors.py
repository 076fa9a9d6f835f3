"""Every door into search checks its parameters one way: the same bad value gets the same message
from the results page, /api/v1, the Hugging Face–compatible search, the Atom feed of a search, its
citation file and ``paperboy search``; and an arXiv id for a query finds that paper through each."""

import pytest

from conftest import run_cli

BAD = [
    ({"sort": "best"}, "sort must be one of relevance, date, upvotes"),
    ({"page": "0"}, "page must be a number from 1 to 50"),
    ({"page": "51"}, "page must be a number from 1 to 50"),
    ({"page": "two"}, "page must be a number from 1 to 50"),
    ({"cat": "cs.CL OR 1=1"}, "cat must be an arXiv category such as cs.CL"),
    ({"from": "2026-13-40"}, "from must be a date like 2026-06-30"),
    ({"to": "yesterday"}, "to must be a date like 2026-06-30"),
]
HTTP_DOORS = ["/search", "/api/v1/search", "/api/papers/search", "/search/feed.atom", "/search.bib", "/search.ris"]
CLI_OPTIONS = {"sort": "--sort", "page": "--page", "cat": "--cat", "from": "--from", "to": "--to"}


def test_a_bad_parameter_gets_one_message_from_every_web_door(client):
    for bad, message in BAD:
        for door in HTTP_DOORS:
            r = client.get(door, params={"q": "graph neural networks", **bad})
            assert r.status_code == 400, (door, bad, r.status_code)
            if r.headers["content-type"].startswith("application/json"):
                assert r.json()["error"] == message, (door, bad)
            else:
                assert message in r.text, (door, bad)


@pytest.mark.parametrize("bad,message", BAD, ids=[f"{k}={v}" for bad, _ in BAD for k, v in bad.items()])
def test_a_bad_parameter_gets_the_same_message_from_the_cli(tmp_path, bad, message):
    (name, value), = bad.items()
    done = run_cli(["search", "graph neural networks", CLI_OPTIONS[name], value], tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"error: {message}" in " ".join(done.stderr.split())


def test_an_arxiv_id_finds_that_paper_through_every_door(client):
    assert client.get("/search", params={"q": "arXiv:2606.30212v2"}, follow_redirects=False).headers["location"] == "/papers/2606.30212"
    api = client.get("/api/v1/search", params={"q": "arXiv:2606.30212v2"}).json()
    assert api["redirect"] == "/papers/2606.30212"
    hf = client.get("/api/papers/search", params={"q": "arXiv:2606.30212v2"}).json()
    assert [entry["paper"]["id"] for entry in hf] == ["2606.30212"]
    assert client.get("/api/papers/search", params={"q": "2101.99999"}).json() == []  # no such paper


def test_the_json_doors_take_the_pages_filters(client):
    """/api/v1/search and the Hugging Face–compatible search filter by category, author and dates as the page does."""
    page = client.get("/api/v1/search", params={"q": "learning", "cat": "cs.LG", "per_page": 50}).json()["results"]
    assert page and all("cs.LG" in p["categories"] for p in page)
    everything = client.get("/api/v1/search", params={"q": "learning", "per_page": 50}).json()["total"]
    assert client.get("/api/v1/search", params={"q": "learning", "cat": "cs.LG"}).json()["total"] < everything
    day = page[0]["announced"]
    dated = client.get("/api/v1/search", params={"q": "learning", "from": day, "to": day, "per_page": 50}).json()["results"]
    assert dated and {p["announced"] for p in dated} == {day}
    author = page[0]["authors"][0]
    by = client.get("/api/papers/search", params={"q": "learning", "author": author}).json()
    assert by and all(author in [a["name"] for a in e["paper"]["authors"]] for e in by)
