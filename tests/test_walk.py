"""One paper's walk through the whole site: from arXiv's OAI-PMH XML (the real recording, served on
loopback) through ``paperboy ingest oai`` into the database, then out of every door — the page, its
JSON (/api/v1 and the Hugging Face–compatible API), the Atom entry of its day, its BibTeX, RIS and
Markdown. Every door renders the same view, so each must say the same thing about the paper."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import make_client, run_cli
from fake_arxiv import serve_fake_arxiv
from paperboy.store import repo
from paperboy.store.db import make_engine

ARXIV_ID = "0704.0716"  # four versions in the recording: the latest is kept, older ids redirect
TITLE = "Limit distributions and scaling functions"
AUTHOR = "Christoph Richard"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def harvested(tmp_path_factory):
    """The recording harvested into a fresh SQLite database by the real command, as an operator would."""
    folder = tmp_path_factory.mktemp("walk")
    with serve_fake_arxiv() as fake:
        done = run_cli(["ingest", "oai", "--set", "cs", "--from", "2026-06-01", "--base-url", fake.oai_url, "--min-interval", "0.05",
                        "--migrate"], folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = f"sqlite:///{folder / 'paperboy.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        paper = repo.find_paper(conn, ARXIV_ID)
    engine.dispose()
    return url, folder, paper


def test_the_harvest_stored_the_latest_version_as_arxiv_wrote_it(harvested):
    _, _, paper = harvested
    assert (paper.title, paper.version, paper.authors, paper.categories) == (TITLE, 4, [AUTHOR], ["math-ph", "math.MP"])
    assert paper.abstract.startswith("We discuss")


def test_every_door_says_the_same_of_the_paper(harvested):
    url, folder, paper = harvested
    day = paper.announced.isoformat()
    with make_client(url, folder) as c:
        assert c.get(f"/papers/{ARXIV_ID}v2", follow_redirects=False).headers["location"] == f"/papers/{ARXIV_ID}"
        page = c.get(f"/papers/{ARXIV_ID}")
        assert page.status_code == 200 and TITLE in page.text and AUTHOR in page.text and day in page.text

        v1 = c.get(f"/api/v1/papers/{ARXIV_ID}").json()
        assert (v1["title"], v1["version"], v1["authors"], v1["abstract"], v1["announced"]) == (TITLE, 4, [AUTHOR], paper.abstract, day)

        hf = c.get(f"/api/papers/{ARXIV_ID}").json()
        assert (hf["id"], hf["title"], [a["name"] for a in hf["authors"]], hf["summary"]) == (ARXIV_ID, TITLE, [AUTHOR], paper.abstract)

        feed = ET.fromstring(c.get(f"/papers/date/{day}/feed.atom").content)
        entries = {e.findtext(f"{ATOM}title"): e for e in feed.iter(f"{ATOM}entry")}
        entry = entries[TITLE]
        assert [a.findtext(f"{ATOM}name") for a in entry.iter(f"{ATOM}author")] == [AUTHOR]
        assert any(link.get("href", "").endswith(f"/papers/{ARXIV_ID}") for link in entry.iter(f"{ATOM}link"))

        bib = c.get(f"/papers/{ARXIV_ID}.bib").text
        fields = " ".join(bib.split())
        assert f"title={{{TITLE}}}" in fields and f"author={{{AUTHOR}}}" in fields and f"eprint={{{ARXIV_ID}}}" in fields
        ris = c.get(f"/papers/{ARXIV_ID}.ris").text
        assert f"TI  - {TITLE}" in ris and f"AU  - {AUTHOR}" in ris
        md = c.get(f"/papers/{ARXIV_ID}.md").text
        assert TITLE in md and AUTHOR in md
