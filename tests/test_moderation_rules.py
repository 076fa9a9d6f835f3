"""Who may moderate whom, and the rules on writes a probe found missing (issue #10.5, #10.9)."""

import re

import pytest
from sqlalchemy import select

from community_helpers import as_user, csrf, make_user
from paperboy.store.db import write_transaction
from paperboy.store.schema import comments, users

PAPER = "2606.30212"


def suspend(actor, username: str, suspended: bool = True):
    return actor.post(f"/admin/users/{username}/suspend", data={"suspended": "1" if suspended else "0",
                      "csrf_token": csrf(actor, f"/u/{actor_name(actor)}")}, follow_redirects=False)  # fmt: skip


def actor_name(c) -> str:
    return re.search(r'class="me">([^<]+)<', c.get("/").text).group(1)


def is_suspended(engine, username: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(users.c.suspended_at).where(users.c.username == username)).scalar() is not None


def test_admins_cannot_suspend_admins_only_the_owner_can(client):
    from paperboy.accounts.users import create_user

    with write_transaction(client.engine) as conn:
        create_user(conn, "founder", "founder@example.org", "correct horse battery staple", is_owner=True)
    from fastapi.testclient import TestClient

    from community_helpers import login

    owner = TestClient(client.app)
    assert login(owner, "founder").status_code == 303
    mod_a = as_user(client.app, client.engine, "mod-a", admin=True)
    as_user(client.app, client.engine, "mod-b", admin=True)
    make_user(client.engine, "member")

    refused = suspend(mod_a, "mod-b")
    assert refused.status_code == 403 and not is_suspended(client.engine, "mod-b")
    assert suspend(mod_a, "founder").status_code == 403 and not is_suspended(client.engine, "founder")
    assert suspend(mod_a, "member").status_code == 303 and is_suspended(client.engine, "member")  # members, yes
    assert suspend(owner, "mod-b").status_code == 303 and is_suspended(client.engine, "mod-b")
    assert suspend(owner, "mod-b", suspended=False).status_code == 303 and not is_suspended(client.engine, "mod-b")


def test_authorship_claims_on_hidden_papers_are_refused(client):
    admin = as_user(client.app, client.engine, "chief", admin=True)
    payel = as_user(client.app, client.engine, "payel")
    token = csrf(payel, f"/papers/{PAPER}")
    admin.post(f"/admin/papers/{PAPER}/hide", data={"hidden": "1", "csrf_token": csrf(admin, f"/papers/{PAPER}")})
    r = payel.post(f"/papers/{PAPER}/claim", data={"position": "0", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 404
    assert "Payel" not in admin.get("/admin").text.split("Audit log")[0]


def test_comment_edits_are_rate_limited(client):
    alice = as_user(client.app, client.engine, "alice")
    token = csrf(alice, f"/papers/{PAPER}")
    alice.post(f"/papers/{PAPER}/comments", data={"body": "first take", "csrf_token": token})
    with client.engine.connect() as conn:
        cid = conn.execute(select(comments.c.id)).scalar()
    codes = [alice.post(f"/comments/{cid}/edit", data={"body": f"take {n}", "csrf_token": token}, follow_redirects=False).status_code
             for n in range(21)]  # fmt: skip
    assert codes == [303] * 20 + [429]
    with client.engine.connect() as conn:
        assert conn.execute(select(comments.c.body).where(comments.c.id == cid)).scalar() == "take 19"


def test_bidirectional_override_characters_are_dropped_from_comments_and_imported_names(client):
    alice = as_user(client.app, client.engine, "alice")
    token = csrf(alice, f"/papers/{PAPER}")
    alice.post(f"/papers/{PAPER}/comments", data={"body": "great \u202egnp.exe\u202c paper \u2066x\u2069", "csrf_token": token})
    with client.engine.connect() as conn:
        assert conn.execute(select(comments.c.body)).scalar() == "great gnp.exe paper x"

    from paperboy.ingest.dumps import parse_paperboy

    rec = parse_paperboy({"id": "2601.00001", "title": "Evil \u202eeltit", "abstract": "x", "authors": ["Mal\u202elory"],
                          "categories": ["cs.CL"], "announced": "2026-01-02"})  # fmt: skip
    assert rec.title == "Evil eltit" and rec.authors == ["Mallory"]


def test_a_new_owner_takes_the_place_of_the_one_before(engine):
    """One owner at most, whoever makes one (``user create --owner`` calls this): the rule lives
    in accounts, and the account before stays an admin."""
    from paperboy.accounts.users import UserError, create_user, get_user_by_name

    with write_transaction(engine) as conn:
        create_user(conn, "founder", "founder@example.org", "correct horse battery staple", is_owner=True)
    with write_transaction(engine) as conn:
        create_user(conn, "heir", "heir@example.org", "correct horse battery staple", is_owner=True)
    with engine.connect() as conn:
        founder, heir = get_user_by_name(conn, "founder"), get_user_by_name(conn, "heir")
    assert heir.is_owner and not founder.is_owner and founder.is_admin
    with pytest.raises(UserError), write_transaction(engine) as conn:  # taken: refused, and the owner stays
        create_user(conn, "founder", "other@example.org", "correct horse battery staple", is_owner=True)
    with engine.connect() as conn:
        assert get_user_by_name(conn, "heir").is_owner
