"""Community over HTTP and in the domain: votes, comments, moderation, profiles, claims, trending."""

import datetime as dt
import re
import threading

import pytest
from sqlalchemy import func, select

from community_helpers import as_user, csrf, make_user
from paperboy.community.votes import set_vote
from paperboy.feed.trending import trending, trending_score
from paperboy.http.site import site_of
from paperboy.papers.model import PaperRecord
from paperboy.store import repo
from paperboy.store.schema import audit_log, papers, votes

PAPER = "2606.30212"


def upvotes(engine, arxiv_id=PAPER) -> int:
    with engine.connect() as conn:
        return repo.get_paper(conn, arxiv_id).upvotes


# --- votes ----------------------------------------------------------------------------------------

def test_vote_toggles_in_place_with_htmx_and_counts_everywhere(client):
    alice = as_user(client.app, client.engine, "alice")
    token = csrf(alice, f"/papers/{PAPER}")
    r = alice.post(f"/papers/{PAPER}/vote", data={"up": "1"}, headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 200
    assert 'aria-pressed="true"' in r.text and '<span class="vote-count">1</span>' in r.text and "<html" not in r.text
    assert upvotes(client.engine) == 1
    # The same click again (a double submit) keeps one vote.
    alice.post(f"/papers/{PAPER}/vote", data={"up": "1"}, headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert upvotes(client.engine) == 1
    day = alice.get("/papers/date/2026-06-30").text
    assert day.index(f'/papers/{PAPER}/vote') < day.index('data-paper-link')  # the voted paper is now first
    r = alice.post(f"/papers/{PAPER}/vote", data={"up": "0"}, headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert 'aria-pressed="false"' in r.text and upvotes(client.engine) == 0


def test_logged_out_vote_leads_to_log_in_and_back(client):
    page = client.get(f"/papers/{PAPER}").text
    assert f'href="/login?next=/papers/{PAPER}"' in page  # the vote control is a link when logged out
    r = client.post(f"/papers/{PAPER}/vote", data={"up": "1"}, headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"] == f"/login?next=/papers/{PAPER}"
    r = client.post(f"/papers/{PAPER}/vote", data={"up": "1"}, follow_redirects=False)
    assert r.headers["location"] == f"/login?next=/papers/{PAPER}"
    make_user(client.engine, "bob")
    form = client.get(r.headers["location"]).text
    assert f'name="next" value="/papers/{PAPER}"' in form


def test_voting_twice_concurrently_counts_once(client):
    make_user(client.engine, "carol")
    with client.engine.connect() as conn:
        uid = conn.execute(select(func.max(votes.c.user_id))).scalar()
        from paperboy.accounts.users import get_user_by_name

        uid = get_user_by_name(conn, "carol").id
        pid = repo.get_paper(conn, PAPER).id
    barrier = threading.Barrier(8)
    errors = []

    def vote():
        from paperboy.store.db import write_transaction

        try:
            barrier.wait()
            with write_transaction(client.engine) as conn:
                set_vote(conn, uid, pid, True)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=vote) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with client.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(votes).where(votes.c.paper_id == pid)).scalar() == 1
    assert upvotes(client.engine) == 1


def test_one_vote_per_user_per_paper_is_a_database_constraint(client):
    make_user(client.engine, "dan")
    from sqlalchemy.exc import IntegrityError

    with client.engine.connect() as conn:
        from paperboy.accounts.users import get_user_by_name

        uid = get_user_by_name(conn, "dan").id
        pid = repo.get_paper(conn, PAPER).id
    row = {"user_id": uid, "paper_id": pid, "created_at": dt.datetime.now(dt.timezone.utc)}
    with client.engine.begin() as conn:
        conn.execute(votes.insert().values(**row))
    with pytest.raises(IntegrityError), client.engine.begin() as conn:
        conn.execute(votes.insert().values(**row))


# --- comments -------------------------------------------------------------------------------------

def test_comments_are_plain_text_with_links_and_show_on_cards(client):
    alice = as_user(client.app, client.engine, "alice")
    body = 'Nice! <script>alert(1)</script> see https://example.org/x?a=1&b=2. Also <a href="javascript:alert(2)">x</a> javascript:alert(3)'
    r = alice.post(f"/papers/{PAPER}/comments", data={"body": body, "csrf_token": csrf(alice, f"/papers/{PAPER}")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/papers/{PAPER}#c")
    html = client.get(f"/papers/{PAPER}").text  # anonymous view
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="https://example.org/x?a=1&amp;b=2" rel="nofollow ugc noopener">' in html
    assert 'href="javascript' not in html
    assert "1 comment" in html
    day = client.get("/papers/date/2026-06-30?cat=cs.IT").text
    assert re.search(rf'href="/papers/{PAPER}#comments">.*?</svg> 1<span class="visually-hidden"> comment on “', day)  # names its paper


def test_edit_and_delete_your_own_comment_but_not_others(client):
    alice = as_user(client.app, client.engine, "alice")
    mallory = as_user(client.app, client.engine, "mallory")
    alice.post(f"/papers/{PAPER}/comments", data={"body": "First version", "csrf_token": csrf(alice, f"/papers/{PAPER}")})
    cid = int(re.search(r'id="c(\d+)"', client.get(f"/papers/{PAPER}").text).group(1))
    denied = mallory.post(f"/comments/{cid}/delete", data={"csrf_token": csrf(mallory, f"/papers/{PAPER}")})
    assert denied.status_code == 403 and "own comments" in denied.text
    denied = mallory.post(f"/comments/{cid}/edit", data={"body": "pwned", "csrf_token": csrf(mallory, f"/papers/{PAPER}")})
    assert denied.status_code == 403
    alice.post(f"/comments/{cid}/edit", data={"body": "Second version", "csrf_token": csrf(alice, f"/papers/{PAPER}")})
    page = client.get(f"/papers/{PAPER}").text
    assert "Second version" in page and "(edited)" in page and "pwned" not in page
    alice.post(f"/comments/{cid}/delete", data={"csrf_token": csrf(alice, f"/papers/{PAPER}")})
    page = client.get(f"/papers/{PAPER}").text
    assert "Second version" not in page and "0 comments" in page


def test_comments_paginate(client):
    from dataclasses import replace

    site_of(client.app).settings = replace(site_of(client.app).settings, comment_page_size=3)
    make_user(client.engine, "talker")
    from paperboy.accounts.users import get_user_by_name
    from paperboy.community.comments import add_comment

    with client.engine.begin() as conn:
        uid = get_user_by_name(conn, "talker").id
        pid = repo.get_paper(conn, PAPER).id
        for i in range(7):
            add_comment(conn, pid, uid, f"comment number {i}")
    first = client.get(f"/papers/{PAPER}").text
    assert "comment number 0" in first and "comment number 3" not in first and "Page 1 of 3" in first
    last = client.get(f"/papers/{PAPER}?cpage=3").text
    assert "comment number 6" in last and "comment number 0" not in last


# --- moderation -----------------------------------------------------------------------------------

def test_admin_hides_a_paper_from_feeds_and_it_is_audited(client):
    admin = as_user(client.app, client.engine, "root-admin", admin=True)
    r = admin.post(f"/admin/papers/{PAPER}/hide", data={"hidden": "1", "csrf_token": csrf(admin, f"/papers/{PAPER}")}, follow_redirects=False)
    assert r.status_code == 303
    assert PAPER not in client.get("/papers/date/2026-06-30?cat=cs.IT").text
    assert client.get(f"/papers/{PAPER}").status_code == 404
    assert "Hidden by the moderators" in admin.get(f"/papers/{PAPER}").text
    audit = admin.get("/admin").text
    assert "hide-paper" in audit and f"paper:{PAPER}" in audit and "root-admin" in audit


def test_only_admins_moderate(client):
    alice = as_user(client.app, client.engine, "alice")
    token = csrf(alice, f"/papers/{PAPER}")
    assert alice.post(f"/admin/papers/{PAPER}/hide", data={"csrf_token": token}).status_code == 403
    assert alice.post("/admin/users/alice/suspend", data={"csrf_token": token}).status_code == 403
    assert alice.get("/admin").status_code == 403
    with client.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar() == 0


def test_admin_hides_a_comment(client):
    admin = as_user(client.app, client.engine, "moderator1", admin=True)
    troll = as_user(client.app, client.engine, "troll")
    troll.post(f"/papers/{PAPER}/comments", data={"body": "spam spam spam", "csrf_token": csrf(troll, f"/papers/{PAPER}")})
    cid = int(re.search(r'id="c(\d+)"', client.get(f"/papers/{PAPER}").text).group(1))
    admin.post(f"/admin/comments/{cid}/hide", data={"hidden": "1", "csrf_token": csrf(admin, f"/papers/{PAPER}")})
    assert "spam spam spam" not in client.get(f"/papers/{PAPER}").text
    assert "hide-comment" in admin.get("/admin").text


def test_a_suspended_user_is_refused_everywhere(client):
    admin = as_user(client.app, client.engine, "boss", admin=True)
    sam = as_user(client.app, client.engine, "sam")
    sam_token = csrf(sam, f"/papers/{PAPER}")
    r = admin.post("/admin/users/sam/suspend", data={"suspended": "1", "reason": "spam", "csrf_token": csrf(admin, "/u/sam")}, follow_redirects=False)
    assert r.status_code == 303
    # Every session of sam's is gone: each action now meets the log-in page or a refusal.
    assert sam.post(f"/papers/{PAPER}/vote", data={"up": "1", "csrf_token": sam_token}, follow_redirects=False).headers["location"].startswith("/login")
    assert sam.post(f"/papers/{PAPER}/comments", data={"body": "x", "csrf_token": sam_token}, follow_redirects=False).headers["location"].startswith("/login")
    assert sam.post("/submit", data={"paper": PAPER, "csrf_token": sam_token}, follow_redirects=False).headers["location"].startswith("/login")
    assert sam.get("/submit", follow_redirects=False).headers["location"].startswith("/login")
    relogin = sam.post("/login", data={"login": "sam", "password": "correct horse battery staple", "csrf_token": csrf(sam, "/login")})
    assert relogin.status_code == 403 and "suspended" in relogin.text
    assert upvotes(client.engine) == 0
    assert "suspend-user" in admin.get("/admin").text and "spam" in admin.get("/admin").text


# --- profiles and claims --------------------------------------------------------------------------

def test_profile_shows_submitted_and_upvoted_papers(client):
    alice = as_user(client.app, client.engine, "alice")
    alice.post(f"/papers/{PAPER}/vote", data={"up": "1", "csrf_token": csrf(alice, f"/papers/{PAPER}")})
    with client.engine.begin() as conn:
        from paperboy.accounts.users import get_user_by_name

        conn.execute(papers.update().where(papers.c.arxiv_id == "2606.28354").values(
            submitted_by=get_user_by_name(conn, "alice").id, submitted_at=dt.datetime.now(dt.timezone.utc)))  # fmt: skip
    page = client.get("/u/alice").text
    submitted, upvoted = page.split('id="upvoted-h"')
    assert "/papers/2606.28354" in submitted and f"/papers/{PAPER}" in upvoted
    assert client.get("/u/nobody").status_code == 404


def test_claim_authorship_then_admin_approves_and_the_name_links_to_the_profile(client):
    payel = as_user(client.app, client.engine, "payel")
    admin = as_user(client.app, client.engine, "chief", admin=True)
    r = payel.post(f"/papers/{PAPER}/claim", data={"position": "0", "csrf_token": csrf(payel, f"/papers/{PAPER}")}, follow_redirects=False)
    assert r.status_code == 303
    again = payel.post(f"/papers/{PAPER}/claim", data={"position": "0", "csrf_token": csrf(payel, f"/papers/{PAPER}")})
    assert again.status_code == 400 and "already claimed" in again.text
    assert "/u/payel" not in client.get(f"/papers/{PAPER}").text  # not before approval
    queue = admin.get("/admin").text
    claim_id = re.search(r'action="/admin/claims/(\d+)"', queue).group(1)
    assert "Payel Chandra" in queue
    admin.post(f"/admin/claims/{claim_id}", data={"decision": "approve", "csrf_token": csrf(admin, "/admin")})
    page = client.get(f"/papers/{PAPER}").text
    assert re.search(r'<a class="author verified" href="/u/payel"[^>]*>Payel Chandra <span class="check"', page)
    assert "Verified author of" in client.get("/u/payel").text
    assert "approve-claim" in admin.get("/admin").text


# --- trending -------------------------------------------------------------------------------------

def test_trending_score_rules():
    assert trending_score([1.0] * 10) > trending_score([24 * 7.0] * 50)  # a recent burst beats an old total
    assert trending_score([1.0, 1.0]) > trending_score([1.0])
    assert trending_score([5.0]) > trending_score([50.0])
    assert trending_score([]) == 0


def _voters(engine, n):
    out = []
    for i in range(n):
        out.append(make_user(engine, f"voter{i}x").id)
    return out


def _paper(engine, arxiv_id, day):
    with engine.begin() as conn:
        repo.upsert_papers(conn, [PaperRecord(arxiv_id=arxiv_id, title=f"Paper {arxiv_id}", abstract="A.", authors=["A. B"],
                                              categories=["cs.CL"], announced=day)])  # fmt: skip
        return repo.get_paper(conn, arxiv_id).id


def _vote_at(engine, user_id, paper_id, when):
    with engine.begin() as conn:
        conn.execute(votes.insert().values(user_id=user_id, paper_id=paper_id, created_at=when))
        conn.execute(papers.update().where(papers.c.id == paper_id).values(upvotes=papers.c.upvotes + 1))


def test_trending_equal_votes_newer_first_burst_beats_old_hidden_never(engine):
    now = dt.datetime(2026, 7, 1, 12, tzinfo=dt.timezone.utc)
    voters = _voters(engine, 12)
    older = _paper(engine, "2606.00001", dt.date(2026, 6, 29))
    newer = _paper(engine, "2606.00002", dt.date(2026, 6, 30))
    for uid in voters[:3]:
        for pid in (older, newer):
            _vote_at(engine, uid, pid, now - dt.timedelta(hours=5))
    with engine.connect() as conn:
        assert [pid for pid, _ in trending(conn, now=now)] == [newer, older]
    old_total = _paper(engine, "2606.00003", dt.date(2026, 6, 20))
    for uid in voters:
        _vote_at(engine, uid, old_total, now - dt.timedelta(days=9))
    burst = _paper(engine, "2606.00004", dt.date(2026, 6, 20))
    for uid in voters[:4]:
        _vote_at(engine, uid, burst, now - dt.timedelta(minutes=30))
    with engine.connect() as conn:
        ranked = [pid for pid, _ in trending(conn, now=now)]
    assert ranked.index(burst) < ranked.index(old_total)
    assert ranked[0] == burst
    with engine.begin() as conn:
        conn.execute(papers.update().where(papers.c.id == burst).values(hidden_at=now))
    with engine.connect() as conn:
        assert burst not in [pid for pid, _ in trending(conn, now=now)]


def test_trending_page(client):
    alice = as_user(client.app, client.engine, "alice")
    alice.post(f"/papers/{PAPER}/vote", data={"up": "1", "csrf_token": csrf(alice, f"/papers/{PAPER}")})
    page = client.get("/papers/trending")
    assert page.status_code == 200 and f"/papers/{PAPER}" in page.text
    assert page.text.count("data-paper-link") == 1


def test_username_and_titles_render_inert(client):
    with client.engine.begin() as conn:
        repo.upsert_papers(conn, [PaperRecord(arxiv_id="2606.99997", title='<img src=x onerror=alert(1)> "quoted"', abstract="a",
                                              authors=["<script>x</script>"], categories=["cs.CR"], announced=dt.date(2026, 6, 30))])  # fmt: skip
    alice = as_user(client.app, client.engine, "alice")
    alice.post("/papers/2606.99997/vote", data={"up": "1", "csrf_token": csrf(alice, "/papers/2606.99997")})
    for page in (client.get("/papers/2606.99997").text, client.get("/u/alice").text, client.get("/papers/trending").text):
        assert "<img src=x" not in page and "<script>x" not in page
