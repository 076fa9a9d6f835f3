"""Issue #22, items 2-4, through the doors people use (pages, the API, the CLI) with a real SMTP
server on loopback (aiosmtpd), on SQLite and PostgreSQL:

* an account is tied to an address (its digest subscription, mail) only once it has clicked a
  link mailed there; a stranger signing up with somebody's address sees and changes nothing of
  theirs, and cannot lock them out;
* one address normaliser: comments, case, invisible characters cannot make a second mailbox;
* international addresses are delivered (IDNA domains; SMTPUTF8 local parts where the server
  offers it) or refused at the form — never accepted and then silently lost;
* a password reset ends the account's API tokens.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from dataclasses import replace
from email import policy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from community_helpers import PASSWORD, csrf, login
from conftest import make_client, new_database_url, run_cli, site_settings
from paperboy.digest import subscriptions as subs
from paperboy.store.db import make_engine, upgrade, write_transaction
from paperboy.store.schema import outbox, rate_limits, subscribers, users
from smtp_server import start_smtp

BASE = "http://testserver"  # the TestClient's own: a https base_url makes cookies Secure


MAIL = {"smtp_host": "127.0.0.1", "base_url": BASE, "mail_from": "Paperboy <paperboy@papers.example.org>", "mail_retry_seconds": 0}


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request, tmp_path, smtp):
    """A fresh site (no papers needed) whose mail goes to the loopback SMTP server: ``site.inbox``."""
    url = new_database_url(request.param, tmp_path, request)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    with make_client(url, tmp_path, smtp_port=smtp.port, **MAIL) as c:
        c.inbox = smtp.handler
        yield c


def sign_up(c: TestClient, username: str, address: str):
    return c.post("/signup", data={"username": username, "email": address, "password": PASSWORD, "csrf_token": csrf(c, "/signup")},
                  follow_redirects=False)  # fmt: skip


def mails_to(c: TestClient, rcpt: str) -> list:
    return [email.message_from_bytes(e.content, policy=policy.default) for e in c.inbox.envelopes if rcpt in e.rcpt_tos]


def verify_link(c: TestClient, rcpt: str, n: int = -1) -> str:
    """The path of the confirmation link in the ``n``-th mail to ``rcpt``."""
    mail = [m for m in mails_to(c, rcpt) if m["Subject"] == "Confirm your address for Paperboy"][n]
    return re.search(re.escape(BASE) + r"(/verify/\S+)", mail.get_body(("plain",)).get_content()).group(1)


def click(c: TestClient, path: str):
    """Open a mailed link's page and press its button, as a person does."""
    return c.post(path, data={"csrf_token": csrf(c, path)}, follow_redirects=False)


def active_subscriber(c: TestClient, address: str, **prefs) -> subs.Subscriber:
    """A confirmed digest reader (no account) with preferences of their own."""
    from paperboy.digest.tokens import make_confirm_token

    with write_transaction(c.engine) as conn:
        subs.subscribe(conn, c.settings, email=address, ip="10.1.1.1")
        sub = subs._get(conn, subscribers.c.email_key == address.lower())
        sub = subs.confirm(conn, c.settings, make_confirm_token(c.settings.secret_key, sub))
        return subs.update_preferences(conn, sub, subs.Preferences(**{"frequency": "weekly", "trending_count": 7, "personal_count": 3, **prefs}))


def row(c: TestClient, address: str):
    with c.engine.connect() as conn:
        return conn.execute(select(subscribers).where(subscribers.c.email_key == address)).one()


def settings_form(c: TestClient, **values) -> dict:
    return {"frequency": "daily", "trending_count": "10", "personal_count": "5", "keywords": "", "authors": "", "categories": "",
            "csrf_token": csrf(c, "/digest/settings"), **values}  # fmt: skip


# --- item 2: verified addresses ----------------------------------------------------------------

def test_a_stranger_signing_up_with_a_readers_address_sees_and_changes_nothing_of_theirs(site):
    active_subscriber(site, "victim@example.com", keywords=["protein folding"], authors=["Jane Doe"], categories=["q-bio.BM"])
    attacker = TestClient(site.app)
    assert sign_up(attacker, "attacker1", "VICTIM@example.com").status_code == 303
    page = attacker.get("/digest/settings")
    assert page.status_code == 200 and "Confirm your account's address" in page.text
    assert "protein folding" not in page.text and "Jane Doe" not in page.text and "q-bio.BM" not in page.text and "subscribed." not in page.text
    changed = attacker.post("/digest/settings", data=settings_form(attacker, keywords="attacker stuff", more_like_votes="on"))
    assert changed.status_code == 403 and "Confirm your e-mail address first" in changed.text
    gone = attacker.post("/digest/settings/unsubscribe", data={"csrf_token": csrf(attacker, "/digest/settings")})
    assert gone.status_code == 403
    relinked = attacker.post("/digest/subscribe", data={"csrf_token": csrf(attacker, "/digest/subscribe")})
    assert relinked.status_code == 403 and "Confirm your e-mail address first" in relinked.text
    preview = attacker.get("/digest/preview?part=text")
    assert "protein folding" not in preview.text
    victim = row(site, "victim@example.com")
    assert (victim.status, victim.user_id, victim.keywords, victim.more_like_votes) == ("active", None, "protein folding", False)


def test_the_owner_of_the_address_can_still_sign_up_and_takes_it_from_the_squatter(site):
    active_subscriber(site, "victim@example.com", keywords=["protein folding"])
    attacker, owner = TestClient(site.app), TestClient(site.app)
    assert sign_up(attacker, "attacker1", "VICTIM@example.com").status_code == 303
    squatter_link = verify_link(site, "VICTIM@example.com")  # mailed to the victim's own mailbox
    r = sign_up(owner, "victim", "victim@example.com")
    assert r.status_code == 303, r.text  # not locked out by an unverified account naming the address
    done = click(owner, verify_link(site, "victim@example.com"))
    assert done.status_code == 303 and done.headers["location"] == "/account/verify"
    page = owner.get("/digest/settings")
    assert "protein folding" in page.text and "subscribed." in page.text
    with site.engine.connect() as conn:
        owner_id = conn.execute(select(users.c.id).where(users.c.username == "victim")).scalar()
    assert row(site, "victim@example.com").user_id == owner_id
    # The squatter's link (the owner might click it) can no longer verify the address for them.
    late = click(attacker, squatter_link)
    assert late.status_code == 400 and "already belongs to another account" in late.text
    assert "protein folding" not in attacker.get("/digest/settings").text
    # Log-in and password resets by address now reach the verified account.
    assert login(TestClient(site.app), "Victim@Example.com").status_code == 303
    assert "Log out" in owner.get("/account/verify").text


def test_a_confirmation_link_verifies_once_and_clicking_again_changes_nothing(site):
    ada = TestClient(site.app)
    r = sign_up(ada, "ada", "Ada@Example.org")
    assert r.status_code == 303
    (mail,) = mails_to(site, "Ada@example.org")
    assert mail["To"] == "Ada@example.org" and "ada" in mail.get_body(("plain",)).get_content()
    link = verify_link(site, "Ada@example.org")
    assert "not confirmed yet" in ada.get("/account/verify").text
    page = TestClient(site.app).get(link)  # a mail scanner following the link confirms nothing
    assert page.status_code == 200 and "Confirm my address" in page.text
    with site.engine.connect() as conn:
        assert conn.execute(select(users.c.email_verified_at).where(users.c.username == "ada")).scalar() is None
    assert click(ada, link).status_code == 303
    assert "is confirmed as your account's address" in ada.get("/account/verify").text
    assert click(ada, link).status_code == 303  # again: still fine, nothing new
    assert "Subscribe as Ada@example.org" in ada.get("/digest/settings").text


def test_pressing_confirm_is_limited_per_client_address(site):
    """Confirming is a write: limited per client address like every other (a signed link cannot be
    guessed, but a loop of presses still costs a transaction each)."""
    from paperboy.accounts.ratelimit import RULES

    ada = TestClient(site.app)
    sign_up(ada, "ada", "ada@example.org")
    link = verify_link(site, "ada@example.org")
    allowed = RULES["verify-ip"].limit
    assert [click(ada, link).status_code for _ in range(allowed)] == [303] * allowed
    refused = click(ada, link)
    assert refused.status_code == 429 and "Too many" in refused.text


def test_a_link_for_an_address_the_account_no_longer_has_or_a_forged_one_is_refused(site):
    grace = TestClient(site.app)
    sign_up(grace, "grace", "grace@example.org")
    link = verify_link(site, "grace@example.org")
    with site.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "grace").values(email="grace@elsewhere.org", email_key="grace@elsewhere.org"))
    r = click(grace, link)
    assert r.status_code == 400 and "no longer has" in r.text
    forged = click(grace, link[:-4] + "AAAA")
    assert forged.status_code == 400 and "not valid" in forged.text
    with site.engine.connect() as conn:
        assert conn.execute(select(users.c.email_verified_at).where(users.c.username == "grace")).scalar() is None


def test_sending_the_link_again_is_limited_per_account_and_per_mailbox(site):
    one, two = TestClient(site.app), TestClient(site.app)
    sign_up(one, "one", "shared@example.org")  # mail 1 to the mailbox
    sign_up(two, "two", "Shared@example.org")  # mail 2 (the same mailbox, another account)
    again = one.post("/account/verify", data={"csrf_token": csrf(one, "/account/verify")})
    assert again.status_code == 200 and "We have mailed a new link" in again.text  # mail 3
    refused = two.post("/account/verify", data={"csrf_token": csrf(two, "/account/verify")})
    assert refused.status_code == 429 and "Several confirmation mails went to this address today" in refused.text
    assert len(mails_to(site, "shared@example.org")) + len(mails_to(site, "Shared@example.org")) == 3
    assert one.post("/account/verify", data={}).status_code == 403  # CSRF
    assert TestClient(site.app).get("/account/verify", follow_redirects=False).status_code == 303  # log in first


def test_a_password_reset_by_mail_verifies_the_address_and_ends_api_tokens(site):
    from paperboy.accounts.api_tokens import create_token

    owner = TestClient(site.app)
    sign_up(owner, "joan", "joan@example.org")
    with write_transaction(site.engine) as conn:
        joan = conn.execute(select(users.c.id).where(users.c.username == "joan")).scalar()
        secret = create_token(conn, joan, "bot made by whoever had the password", "write").secret
    bearer = {"Authorization": f"Bearer {secret}"}
    assert site.get("/api/v1/me", headers=bearer).status_code == 200
    site.post("/reset", data={"email": "JOAN@example.org", "csrf_token": csrf(site, "/reset")})
    mail = [m for m in mails_to(site, "joan@example.org") if m["Subject"] == "Reset your Paperboy password"][0]
    link = re.search(re.escape(BASE) + r"(/reset/\S+)", mail.get_body(("plain",)).get_content()).group(1)
    r = site.post(link, data={"password": "a brand new password", "csrf_token": csrf(site, link)}, follow_redirects=False)
    assert r.status_code == 303
    gone = site.get("/api/v1/me", headers=bearer)
    assert gone.status_code == 401 and "revoked" in gone.json()["error"]
    with site.engine.connect() as conn:
        assert conn.execute(select(users.c.email_verified_at).where(users.c.id == joan)).scalar() is not None


# --- item 3: one mailbox, one key, one limit ---------------------------------------------------

def test_comments_cannot_make_ten_mailboxes_of_one(site):
    for n in range(10):
        r = site.post("/digest/subscribe", data={"email": f"victim@example.com({n})", "csrf_token": csrf(site, "/digest/subscribe")})
        assert r.status_code == 400 and "no name, comment, quotes or brackets" in r.text
    for spelling in ["victim@example.com", "Victim@example.com", "VICTIM@EXAMPLE.COM", " victim@Example.com", "victim@example.COM"]:
        r = site.post("/digest/subscribe", data={"email": spelling, "csrf_token": csrf(site, "/digest/subscribe")})
        assert r.status_code == 200 and "Check your inbox" in r.text
    # However it is spelt it is one mailbox: one row, one per-mailbox counter (3 a day), one recipient.
    with site.engine.connect() as conn:
        assert conn.execute(select(subscribers.c.email_key)).scalars().all() == ["victim@example.com"]
        counters = conn.execute(select(rate_limits.c.key, rate_limits.c.count).where(rate_limits.c.key.like("digest-subscribe-address:%"))).all()
    assert counters == [("digest-subscribe-address:victim@example.com", 5)]
    assert 1 <= len(site.inbox.envelopes) <= 3 and {tuple(e.rcpt_tos) for e in site.inbox.envelopes} == {("victim@example.com",)}
    r = sign_up(TestClient(site.app), "sneaky", "victim@example.com(0)")
    assert r.status_code == 400 and "comment" in r.text


# --- item 4: international addresses ------------------------------------------------------------

@pytest.mark.parametrize("address, message", [
    ("üser@example.com", "cannot deliver to addresses with letters like ü"),
    ("user@example.com\u200b", "U+200B zero width space"),
])  # fmt: skip
def test_addresses_no_mail_can_reach_are_refused_at_every_form(site, address, message):
    r = sign_up(TestClient(site.app), "someone", address)
    assert r.status_code == 400 and message in r.text
    r = site.post("/digest/subscribe", data={"email": address, "csrf_token": csrf(site, "/digest/subscribe")})
    assert r.status_code == 400 and message in r.text
    with site.engine.connect() as conn:
        assert conn.execute(select(users.c.id)).all() == [] and conn.execute(select(subscribers.c.id)).all() == []
    assert site.inbox.envelopes == []


def test_a_unicode_domain_is_accepted_and_its_mail_arrives_by_idna(site):
    r = sign_up(TestClient(site.app), "uni", "uni@例え.jp")
    assert r.status_code == 303
    (envelope,) = site.inbox.envelopes
    assert envelope.rcpt_tos == ["uni@xn--r8jz45g.jp"]
    assert email.message_from_bytes(envelope.content, policy=policy.default)["To"] == "uni@xn--r8jz45g.jp"
    r = site.post("/digest/subscribe", data={"email": "UNI@例え.JP", "csrf_token": csrf(site, "/digest/subscribe")})
    assert r.status_code == 200 and len(site.inbox.envelopes) == 2 and site.inbox.envelopes[1].rcpt_tos == ["UNI@xn--r8jz45g.jp"]  # the local part as typed


@pytest.fixture(params=["sqlite", "postgresql"])
def utf8_db(request, tmp_path):
    url = new_database_url(request.param, tmp_path, request)
    engine = make_engine(url)
    upgrade(engine)
    yield url, engine
    engine.dispose()


@pytest.mark.parametrize("server_utf8", [True, False])
def test_with_smtputf8_on_a_unicode_local_part_is_delivered_or_fails_for_good_with_the_reason(utf8_db, tmp_path, server_utf8):
    from paperboy.accounts.flows import sign_up as sign_up_flow
    from paperboy.digest.delivery import deliver

    url, engine = utf8_db
    controller = start_smtp(enable_SMTPUTF8=server_utf8)
    try:
        settings = site_settings(url, tmp_path, smtp_port=controller.port, smtp_utf8=True, **MAIL)
        with write_transaction(engine) as conn:
            done = sign_up_flow(conn, settings, username="uber", email="üser@例え.jp", password=PASSWORD, ip="10.0.0.1")
        assert done.user.email == "üser@xn--r8jz45g.jp"
        report = deliver(engine, settings)
        with engine.connect() as conn:
            status, error = conn.execute(select(outbox.c.status, outbox.c.last_error)).one()
        if server_utf8:
            assert report.sent == 1 and status == "sent"
            (envelope,) = controller.handler.envelopes
            assert envelope.rcpt_tos == ["üser@xn--r8jz45g.jp"] and "SMTPUTF8" in envelope.mail_options
            assert email.message_from_bytes(envelope.content, policy=policy.default)["To"] == "üser@xn--r8jz45g.jp"
        else:
            assert report.bounced == 1 and status == "bounced" and controller.handler.envelopes == []
            assert "need SMTPUTF8" in error and "does not offer it" in error
            assert deliver(engine, settings).sent == 0  # not retried
    finally:
        controller.stop()


def test_a_stored_address_that_cannot_be_encoded_fails_with_an_explanation_not_a_bare_unicode_error(engine, smtp):
    """An old row (queued before addresses were checked) whose address only SMTPUTF8 could carry."""
    from paperboy.digest.delivery import deliver
    from paperboy.store.schema import outbox_bodies

    settings = replace(smtp.settings, mail_retry_seconds=0)
    with engine.begin() as conn:
        pk = conn.execute(insert(outbox).returning(outbox.c.id).values(
            idempotency_key="reset:1:x", to_addr="Zoë Z <zoë@example.org>", subject="Hi", status="queued", attempts=0,
            created_at=dt.datetime.now(dt.timezone.utc))).scalar_one()  # fmt: skip
        conn.execute(insert(outbox_bodies).values(outbox_id=pk, body_text="hello"))
    report = deliver(engine, settings)
    with engine.connect() as conn:
        status, error = conn.execute(select(outbox.c.status, outbox.c.last_error)).one()
    assert report.sent == 0 and status in ("bounced", "failed") and "SMTPUTF8" in error
    assert deliver(engine, settings).sent == 0 and smtp.handler.envelopes == []


# --- the CLI ----------------------------------------------------------------------------------------

def test_cli_digest_preview_of_an_international_address_writes_the_mail_and_refuses_a_comment(tmp_path):
    """The issue's ``digest preview --email 'ünï@example.com'``: a subscriber of that address (one
    accepted before, or with PAPERBOY_SMTP_UTF8 on) gets a preview — the .eml's To: in UTF-8, as
    an SMTPUTF8 mail carries it — instead of a UnicodeEncodeError traceback."""
    assert run_cli(["db", "upgrade"], tmp_path).returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'paperboy.db'}")
    with engine.begin() as conn:
        conn.execute(insert(subscribers).values(email="ünï@example.com", email_key="ünï@example.com", status="active", frequency="daily",
                                                trending_count=3, personal_count=0, created_at=dt.datetime.now(dt.timezone.utc)))  # fmt: skip
    engine.dispose()
    eml = tmp_path / "preview.eml"
    r = run_cli(["digest", "preview", "--email", "ÜNÏ@EXAMPLE.COM", "--out", str(eml)], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert email.message_from_bytes(eml.read_bytes(), policy=policy.default)["To"] == "ünï@example.com"
    r = run_cli(["digest", "preview", "--email", "ünï@example.com(1)"], tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "comment" in r.stderr


def test_cli_user_create_counts_the_typed_address_as_verified(tmp_path):
    assert run_cli(["db", "upgrade"], tmp_path).returncode == 0
    r = run_cli(["user", "create", "--password-stdin", "chief", "Chief@Example.org"], tmp_path, input="a long admin password\n")
    assert r.returncode == 0, r.stderr
    r = run_cli(["user", "create", "--password-stdin", "second", "chief@example.org"], tmp_path, input="a long admin password\n")
    assert r.returncode == 1 and "log in or reset your password" in r.stderr
    r = run_cli(["user", "create", "--password-stdin", "third", "x@example.com\u200b"], tmp_path, input="a long admin password\n")
    assert r.returncode == 1 and "invisible" in r.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'paperboy.db'}")
    with engine.connect() as conn:
        assert conn.execute(select(users.c.email, users.c.email_verified_at.is_not(None))).all() == [("Chief@example.org", True)]
    engine.dispose()


# --- the migration ------------------------------------------------------------------------------------

def test_upgrade_leaves_every_account_unverified_and_drops_links_to_subscriptions(request, tmp_path):
    """Data from before 0011: a stranger's account re-linked to a reader's subscription (issue
    #22). After the upgrade the account is unverified and the link is gone; only verification ties
    an account to an address again, and one address has one verified account at most."""
    from sqlalchemy.exc import IntegrityError

    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    for kind in ("sqlite", "postgresql"):
        engine = make_engine(new_database_url(kind, tmp_path, request))
        upgrade(engine, "0010")
        with engine.begin() as conn:
            attacker = conn.execute(insert(users).returning(users.c.id).values(
                username="attacker1", username_key="attacker1", email="VICTIM@example.com", email_key="victim@example.com",
                password_hash="x", created_at=now)).scalar_one()  # fmt: skip
            conn.execute(insert(subscribers).values(
                email="victim@example.com", email_key="victim@example.com", user_id=attacker, status="active", frequency="daily",
                trending_count=10, personal_count=5, more_like_votes=True, keywords="protein folding", created_at=now))  # fmt: skip
        upgrade(engine)
        with engine.begin() as conn:
            assert conn.execute(select(users.c.email_verified_at)).scalar() is None
            sub = conn.execute(select(subscribers)).one()
            assert sub.user_id is None and sub.keywords == "protein folding" and sub.status == "active"
            for name in ("victim", "victim2"):  # unverified accounts may share the address
                conn.execute(insert(users).values(username=name, username_key=name, email="victim@example.com",
                                                  email_key="victim@example.com", password_hash="x", created_at=now))  # fmt: skip
            conn.execute(update(users).where(users.c.username == "victim").values(email_verified_at=now))
        with pytest.raises(IntegrityError), engine.begin() as conn:  # a second verified account for it: never
            conn.execute(update(users).where(users.c.username == "victim2").values(email_verified_at=now))
        engine.dispose()
