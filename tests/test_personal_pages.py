"""Shared pages with personal fragments (issue #10.4 and #13.1): what one visitor sees never reaches
another, a member sees their own state at once, and a write redoes only the pages it changed."""

import re

from fastapi.testclient import TestClient

from community_helpers import as_user, csrf, login, make_user
from conftest import make_app
from paperboy.http.site import site_of
from paperboy.store import versions
from paperboy.store.db import write_transaction
from paperboy.web.personal import split

PAPER, OTHER, DAY = "2606.30212", "2606.28354", "/papers/date/2026-06-30"


def stored_text(client) -> str:
    """Everything the page cache holds, as text: the logged-out copies and the marked renderings."""
    cache = site_of(client.app).page_cache
    out = []
    for page in list(cache._entries.values()):
        out.append(cache.body(page).decode())
        if page.shared:
            out.append("".join(p.decode() if isinstance(p, bytes) else p for p in cache.parts(page, split)))
    return "\n".join(out)


def bump_content(engine):
    with write_transaction(engine) as conn:
        versions.bump_content_version(conn)


def test_a_flash_message_never_enters_the_shared_cache(client):
    make_user(client.engine, "grace")
    visitor = TestClient(client.app)
    # A flash cookie as a finished password reset leaves it (the redirect not followed).
    from paperboy.web.context import FLASH_COOKIE, _flash_serializer

    message = "Your password has been changed. Log in with the new one."
    visitor.cookies.set(FLASH_COOKIE, _flash_serializer("test-secret").dumps(message))
    bump_content(client.engine)  # a content change: the next request renders the home page afresh
    mine = visitor.get("/")
    assert message in mine.text  # the visitor sees their message …
    stranger = TestClient(client.app).get("/")
    assert message not in stranger.text  # … nobody else does
    assert message not in stored_text(client)


def test_nothing_per_visitor_is_stored_in_a_shared_page(client):
    alice = as_user(client.app, client.engine, "alice-secret-name")
    token = csrf(alice, f"/papers/{PAPER}")
    alice.post(f"/papers/{PAPER}/vote", data={"up": "1", "csrf_token": token})
    for path in ("/", DAY, f"/papers/{PAPER}", "/papers/trending"):
        assert alice.get(path).status_code == 200
    stored = stored_text(client)
    assert "alice-secret-name" not in stored and token not in stored and "Log out" not in stored
    assert 'aria-pressed="true"' not in stored  # nobody's vote state either


def test_two_members_on_the_same_page_see_their_own_votes_only(client):
    alice = as_user(client.app, client.engine, "alice")
    bob = as_user(client.app, client.engine, "bob")
    alice.post(f"/papers/{PAPER}/vote", data={"up": "1", "csrf_token": csrf(alice, f"/papers/{PAPER}")})
    bob.post(f"/papers/{OTHER}/vote", data={"up": "1", "csrf_token": csrf(bob, f"/papers/{OTHER}")})
    pages = {name: c.get(DAY).text for name, c in (("alice", alice), ("bob", bob), ("alice again", alice))}

    def pressed(html: str) -> set[str]:
        return set(re.findall(r'action="/papers/([^"]+)/vote"[^>]*>\s*<input[^>]*>\s*<input type="hidden" name="up" value="0"', html))

    assert pressed(pages["alice"]) == {PAPER} == pressed(pages["alice again"])
    assert pressed(pages["bob"]) == {OTHER}
    assert "alice" in pages["alice"] and ">bob<" not in pages["alice"] and ">alice<" not in pages["bob"]
    # Each member's forms carry their own CSRF token.
    tokens = {n: set(re.findall(r'name="csrf_token" value="([0-9a-f]+)"', h)) for n, h in pages.items()}
    assert len(tokens["alice"]) == 1 and len(tokens["bob"]) == 1 and tokens["alice"] != tokens["bob"]


def test_members_see_fresh_counts_while_logged_out_copies_may_lag(client):
    alice = as_user(client.app, client.engine, "alice")
    anonymous = TestClient(client.app)
    assert anonymous.get(f"/papers/{PAPER}").status_code == 200  # cached with 0 votes
    bob = as_user(client.app, client.engine, "bob")
    bob.post(f"/papers/{PAPER}/vote", data={"up": "1", "csrf_token": csrf(bob, f"/papers/{PAPER}")})
    member_view = alice.get(f"/papers/{PAPER}").text
    assert re.search(r'<span class="vote-count">1</span>', member_view)  # as fresh as the database


def test_a_comment_redoes_its_paper_page_and_no_other(client):
    alice = as_user(client.app, client.engine, "alice")
    anonymous = TestClient(client.app)
    for path in (DAY, f"/papers/{PAPER}", f"/papers/{OTHER}"):
        anonymous.get(path)
    cache = site_of(client.app).page_cache
    before = {k: id(v) for k, v in cache._entries.items()}
    alice.post(f"/papers/{PAPER}/comments", data={"body": "A comment worth reading", "csrf_token": csrf(alice, f"/papers/{PAPER}")})
    assert "A comment worth reading" in anonymous.get(f"/papers/{PAPER}").text  # at once, for everyone
    anonymous.get(DAY)
    anonymous.get(f"/papers/{OTHER}")
    after = {k: id(v) for k, v in cache._entries.items()}
    assert after[f"/papers/{OTHER}?"] == before[f"/papers/{OTHER}?"]  # untouched
    assert after[DAY + "?"] == before[DAY + "?"]  # the card's count may lag a few seconds, the page stays
    assert after[f"/papers/{PAPER}?"] != before[f"/papers/{PAPER}?"]


def test_a_session_ended_in_one_process_ends_in_every_process(client, tmp_path):
    """Two web processes on one database: a log-out in one is seen by the other's session cache."""
    other = make_app(str(client.engine.url), tmp_path)
    make_user(client.engine, "carol")
    here = TestClient(client.app)
    assert login(here, "carol").status_code == 303
    there = TestClient(other)
    there.cookies.set("pb_session", here.cookies.get("pb_session"))
    assert ">carol<" in there.get("/").text  # the other process knows the session (and caches it)
    here.post("/logout", data={"csrf_token": csrf(here, "/")})
    assert ">carol<" not in there.get("/").text and "Log in" in there.get("/").text
