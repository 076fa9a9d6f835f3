"""Paperboy's own API, API tokens, CORS, Atom feeds and citation files, over HTTP on the corpus slice."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest

from community_helpers import as_user, csrf, make_user
from paperboy.accounts.api_tokens import NOT_VALID
from paperboy.store import feeds, repo, versions

DAY = "2026-06-30"
sqlite_only = pytest.mark.parametrize("client", ["sqlite"], indirect=True)


def a_paper(client, n: int = 0) -> str:
    with client.engine.connect() as conn:
        return feeds.feed_page(conn, dt.date(2026, 6, 30), dt.date(2026, 6, 30), limit=n + 1).papers[n].arxiv_id


def make_token(browser, scope: str, name: str = "script") -> str:
    token = csrf(browser, "/settings/tokens")
    r = browser.post("/settings/tokens", data={"name": name, "scope": scope, "csrf_token": token})
    assert r.status_code == 200, r.text
    secret = re.search(r'id="new-secret" class="token-secret" value="(pb_[^"]+)"', r.text).group(1)
    return secret


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


# --- tokens -----------------------------------------------------------------------------------

def test_tokens_are_shown_once_stored_hashed_and_revocable(client):
    alice = as_user(client.app, client.engine, "alice")
    secret = make_token(alice, "write", "my bot")
    with client.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash, prefix, scope FROM api_tokens").one()
    assert secret not in "".join(map(str, stored)) and stored[1] == secret[:10] and stored[2] == "write"
    listing = alice.get("/settings/tokens").text
    assert secret not in listing and f"{secret[:10]}…" in listing and "my bot" in listing  # shown once, then only its prefix
    me = client.get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200 and me.json()["username"] == "alice" and me.json()["token"]["scope"] == "write"
    token_id = me.json()["token"]["id"]
    r = alice.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf(alice, "/settings/tokens")})
    assert r.status_code == 200 and "is revoked" in r.text
    gone = client.get("/api/v1/me", headers=bearer(secret))
    assert gone.status_code == 401 and gone.json() == {"error": NOT_VALID, "status": 401}  # as for a token never made
    assert gone.headers["www-authenticate"].startswith("Bearer")


def test_token_pages_need_a_login_and_csrf(client):
    assert client.get("/settings/tokens", follow_redirects=False).status_code == 303
    bob = as_user(client.app, client.engine, "bob")
    assert bob.post("/settings/tokens", data={"name": "x", "scope": "read"}).status_code == 403  # no CSRF token
    mallory = as_user(client.app, client.engine, "mallory")
    secret = make_token(bob, "read")
    token_id = client.get("/api/v1/me", headers=bearer(secret)).json()["token"]["id"]
    r = mallory.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf(mallory, "/settings/tokens")})
    assert r.status_code == 404  # not hers
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200


# --- writes through the API ---------------------------------------------------------------------

def test_votes_and_comments_with_a_write_token(client):
    arxiv_id = a_paper(client)
    alice = as_user(client.app, client.engine, "alice")
    secret = make_token(alice, "write")
    r = client.post(f"/api/v1/papers/{arxiv_id}/vote", headers=bearer(secret))
    assert r.status_code == 200 and r.json() == {"paper": arxiv_id, "voted": True, "upvotes": 1}
    assert client.post(f"/api/v1/papers/{arxiv_id}/vote", headers=bearer(secret)).json()["upvotes"] == 1  # once per member
    r = client.post(f"/api/v1/papers/{arxiv_id}/comments", headers=bearer(secret), json={"body": "Nice <b>result</b>"})
    assert r.status_code == 201 and r.json()["body"] == "Nice <b>result</b>" and r.json()["author"]["username"] == "alice"
    listed = client.get(f"/api/v1/papers/{arxiv_id}/comments").json()
    assert listed["total"] == 1 and listed["comments"][0]["id"] == r.json()["id"]
    assert client.get(f"/api/papers/{arxiv_id}").json()["numComments"] == 1  # the cache follows the content version
    r = client.delete(f"/api/v1/papers/{arxiv_id}/vote", headers=bearer(secret))
    assert r.json() == {"paper": arxiv_id, "voted": False, "upvotes": 0}


def test_writes_are_refused_without_a_write_token_and_never_by_cookie(client):
    arxiv_id = a_paper(client)
    alice = as_user(client.app, client.engine, "alice")
    read_only = make_token(alice, "read")
    r = client.post(f"/api/v1/papers/{arxiv_id}/vote", headers=bearer(read_only))
    assert r.status_code == 403 and "read-only" in r.json()["error"]
    assert alice.post(f"/api/v1/papers/{arxiv_id}/vote").status_code == 401  # a logged-in browser's cookie is not enough
    assert client.post(f"/api/v1/papers/{arxiv_id}/vote", headers=bearer("pb_" + "x" * 40)).status_code == 401
    with client.engine.connect() as conn:
        assert repo.get_paper(conn, arxiv_id).upvotes == 0


def test_a_token_cannot_comment_faster_than_the_form(client):
    arxiv_id = a_paper(client)
    secret = make_token(as_user(client.app, client.engine, "alice"), "write")
    codes = [client.post(f"/api/v1/papers/{arxiv_id}/comments", headers=bearer(secret), json={"body": f"c{n}"}).status_code for n in range(11)]
    assert codes == [201] * 10 + [429]  # comment-user: 10 a minute, as through the page
    assert client.post(f"/api/v1/papers/{arxiv_id}/comments", headers=bearer(secret), json={"body": "x"}).headers["retry-after"]


def test_suspended_users_tokens_stop_working(client):
    from paperboy.community.moderation import suspend_user

    secret = make_token(as_user(client.app, client.engine, "alice"), "write")
    admin = make_user(client.engine, "admin1", admin=True)
    with client.engine.begin() as conn:
        suspend_user(conn, admin.id, "alice", True, "spam")
    assert client.post(f"/api/v1/papers/{a_paper(client)}/vote", headers=bearer(secret)).status_code == 401


def test_json_errors_everywhere_under_api(client):
    for url in ("/api/v1/papers/1234.56789", "/api/nothing-here", "/api/v1/trending?page=0", "/api/daily_papers?limit=x"):
        r = client.get(url)
        assert r.headers["content-type"].startswith("application/json"), url
        assert set(r.json()) == {"error", "status"} and r.json()["status"] == r.status_code, url
    r = client.post("/api/v1/papers/x/comments", json={"body": "hi"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/json")


# --- reads ----------------------------------------------------------------------------------------

@sqlite_only
def test_trending_profile_and_search_json(client):
    arxiv_id = a_paper(client)
    secret = make_token(as_user(client.app, client.engine, "alice"), "write")
    client.post(f"/api/v1/papers/{arxiv_id}/vote", headers=bearer(secret))
    with client.engine.begin() as conn:
        versions.bump_content_version(conn)  # votes may lag up to 10 s in cached answers; this test does not wait
    trending = client.get("/api/v1/trending").json()
    assert trending["papers"][0]["id"] == arxiv_id and trending["papers"][0]["score"] > 0
    profile = client.get("/api/v1/users/alice").json()
    assert profile["username"] == "alice" and [p["id"] for p in profile["upvoted"]] == [arxiv_id]
    assert client.get("/api/v1/users/nobody").status_code == 404
    found = client.get("/api/v1/search", params={"q": "graph neural network", "per_page": 3}).json()
    assert len(found["results"]) == 3 and set(found["results"][0]) >= {"id", "title", "authors", "url", "pdf_url"}
    assert client.get(f"/api/v1/papers/{arxiv_id}").json()["id"] == arxiv_id


@sqlite_only
def test_the_cli_and_the_api_share_the_paper_serializer(client, tmp_path):
    import json
    import os
    import subprocess
    import sys

    db = client.engine.url.database
    env = {**os.environ, "PAPERBOY_DATABASE_URL": f"sqlite:///{db}", "PAPERBOY_DATA_DIR": str(tmp_path), "PAPERBOY_SECRET_KEY": "x"}
    out = subprocess.run([sys.executable, "-m", "paperboy.cli", "search", "graph neural network", "--json", "--keyword-only", "--limit", "2"],
                         env=env, capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    cli = json.loads(out)["results"]
    api = client.get("/api/v1/search", params={"q": "graph neural network", "per_page": 2}).json()["results"]
    assert [p["id"] for p in cli] and set(cli[0]) == set(api[0])
    assert cli[0] == client.get(f"/api/v1/papers/{cli[0]['id']}").json()


# --- CORS ---------------------------------------------------------------------------------------

@sqlite_only
def test_cors_allows_public_reads_and_no_writes(client):
    origin = {"Origin": "https://elsewhere.example"}
    for url in ("/api/daily_papers", f"/api/papers/{a_paper(client)}", "/papers/feed.atom", f"/papers/{a_paper(client)}.bib", "/openapi.json"):
        r = client.get(url, headers=origin)
        assert r.headers["access-control-allow-origin"] == "*", url
        assert "access-control-allow-credentials" not in r.headers
    pre = client.options("/api/v1/trending", headers={**origin, "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 204 and "GET" in pre.headers["access-control-allow-methods"]
    write = client.options("/api/v1/papers/x/vote", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in write.headers
    post = client.post("/api/v1/papers/x/vote", headers=origin)
    assert "access-control-allow-origin" not in post.headers
    assert "access-control-allow-origin" not in client.get(f"/papers/{a_paper(client)}", headers=origin).headers  # pages: no


# --- feeds ----------------------------------------------------------------------------------------

@sqlite_only
def test_every_feed_is_valid_atom(client):
    import feedparser

    arxiv_id = a_paper(client)
    secret = make_token(as_user(client.app, client.engine, "alice"), "write")
    client.post(f"/api/v1/papers/{arxiv_id}/vote", headers=bearer(secret))
    with client.engine.connect() as conn:
        author = repo.get_paper(conn, arxiv_id).authors[0]
    urls = ["/papers/feed.atom", f"/papers/date/{DAY}/feed.atom", f"/papers/date/{DAY}/feed.atom?cat=cs.CL", "/papers/week/2026-W27/feed.atom",
            "/papers/month/2026-06/feed.atom", "/papers/trending/feed.atom", "/papers/category/cs.CL/feed.atom",
            f"/papers/author/{author}/feed.atom", "/search/feed.atom?q=diffusion", "/search/feed.atom?q=%22no+such+phrase+anywhere%22"]  # fmt: skip
    seen_ids = {}
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml"), url
        feed = feedparser.parse(r.content)
        assert not feed.bozo, (url, feed.get("bozo_exception"))
        assert feed.version == "atom10" and feed.feed.title and feed.feed.id, url
        for entry in feed.entries:
            assert entry.id.startswith("https://arxiv.org/abs/") and entry.title and entry.updated_parsed and entry.link, url
            seen_ids.setdefault(entry.id, entry.title)
            assert seen_ids[entry.id] == entry.title  # the same entry id means the same paper in every feed
    day = feedparser.parse(client.get(f"/papers/date/{DAY}/feed.atom").content)
    assert len(day.entries) == 530  # the whole day
    assert arxiv_id in feedparser.parse(client.get("/papers/trending/feed.atom").content).entries[0].id
    assert arxiv_id in {e.id.rsplit("/", 1)[1] for e in feedparser.parse(client.get(f"/papers/author/{author}/feed.atom").content).entries}
    assert client.get("/papers/date/2026-13-40/feed.atom").status_code == 404


@sqlite_only
def test_feed_math_is_readable_text(client):
    import feedparser

    feed = feedparser.parse(client.get(f"/papers/date/{DAY}/feed.atom").content)
    with client.engine.connect() as conn:
        ids = [pid for pid, in conn.exec_driver_sql("SELECT arxiv_id FROM papers WHERE announced = '2026-06-30' AND abstract LIKE '%\\mathbb{%'")]
    assert ids
    entry = next(e for e in feed.entries if e.id.endswith(ids[0]))
    assert "\\mathbb" not in entry.summary and "$" not in entry.summary
    assert entry.summary_detail.type == "text/plain"


@sqlite_only
def test_pages_link_their_feeds(client):
    for url, feed in (("/", "/papers/feed.atom"), (f"/papers/date/{DAY}?cat=cs.CL", f"/papers/date/{DAY}/feed.atom?cat=cs.CL"),
                      ("/papers/trending", "/papers/trending/feed.atom"), ("/search?q=diffusion", "/search/feed.atom?q=diffusion")):  # fmt: skip
        html = client.get(url).text
        assert '<link rel="alternate" type="application/atom+xml"' in html and f'href="{feed}"' in html.replace("&amp;", "&"), url


# --- citations ------------------------------------------------------------------------------------

@sqlite_only
def test_bibtex_files_parse_with_bibtexparser_without_warnings(client):
    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock

    arxiv_id = a_paper(client)
    for url, expected in ((f"/papers/{arxiv_id}.bib", 1), (f"/papers/date/{DAY}.bib", 530), ("/search.bib?q=diffusion", None)):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-bibtex"), url
        library = bibtexparser.parse_string(r.text)
        # bibtexparser 2 keeps the first entry of a repeated key and files the others as failed blocks
        duplicates = [b.key for b in library.failed_blocks if isinstance(b, DuplicateBlockKeyBlock)]
        assert not duplicates, (url, duplicates[:3])
        assert not library.failed_blocks, (url, [b.error for b in library.failed_blocks][:3])
        keys = [e.key for e in library.entries]
        assert len(keys) == len(set(keys)) and (expected is None or len(keys) == expected) and keys, url
        for entry in library.entries:
            assert entry.entry_type == "misc" and entry["eprint"] and entry["title"] and entry["archivePrefix"] == "arXiv"


@sqlite_only
def test_ris_files_parse_with_rispy(client):
    import rispy

    arxiv_id = a_paper(client)
    with client.engine.connect() as conn:
        paper = repo.get_paper(conn, arxiv_id)
    records = rispy.loads(client.get(f"/papers/{arxiv_id}.ris").text)
    assert len(records) == 1
    record = records[0]
    assert record["type_of_reference"] == "UNPB" and record["title"] == " ".join(paper.title.split())
    assert record["authors"] == paper.authors and record["urls"] == [f"https://arxiv.org/abs/{arxiv_id}"]
    assert len(rispy.loads(client.get(f"/papers/date/{DAY}.ris?cat=cs.CL").text)) == 136


class _Meta(HTMLParser):
    def __init__(self):
        super().__init__()
        self.meta: list[tuple[str, str]] = []
        self.coins: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and a.get("name", "").startswith("citation_"):
            self.meta.append((a["name"], a["content"]))
        if tag == "span" and a.get("class") == "Z3988":
            self.coins.append(a["title"])


@sqlite_only
def test_paper_pages_carry_what_zotero_reads(client):
    """Zotero's Embedded Metadata translator reads the citation_* meta tags; its COinS translator the Z3988 span."""
    from urllib.parse import parse_qs

    with client.engine.connect() as conn:
        arxiv_id = conn.exec_driver_sql("SELECT p.arxiv_id FROM papers p JOIN paper_authors a ON a.paper_id = p.id "
                                        "GROUP BY p.arxiv_id ORDER BY count(*) DESC, p.arxiv_id LIMIT 1").scalar()  # fmt: skip
        paper = repo.get_paper(conn, arxiv_id)
    parser = _Meta()
    parser.feed(client.get(f"/papers/{arxiv_id}").text)
    meta: dict[str, list[str]] = {}
    for name, content in parser.meta:
        meta.setdefault(name, []).append(content)
    assert meta["citation_title"] == [paper.title]
    assert len(paper.authors) > 50 and meta["citation_author"] == paper.authors  # every author, in order (the page used to stop at 50)
    assert meta["citation_date"] == [(paper.published or paper.announced).strftime("%Y/%m/%d")]
    assert meta["citation_arxiv_id"] == [arxiv_id]
    assert meta["citation_pdf_url"] == [f"https://arxiv.org/pdf/{arxiv_id}"]
    assert meta["citation_abstract_html_url"][0].endswith(f"/papers/{arxiv_id}")
    coins = parse_qs(parser.coins[0])
    assert coins["rft.atitle"] == [" ".join(paper.title.split())] and coins["rft.au"] == paper.authors
    assert f"info:arxiv/{arxiv_id}" in coins["rft_id"]
