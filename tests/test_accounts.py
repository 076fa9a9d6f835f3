"""Accounts over HTTP: sign-up, log-in, log-out, CSRF, rate limits, password reset by real SMTP."""

import re
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from community_helpers import PASSWORD, as_user, csrf, login, make_user, user
from conftest import make_app, make_client, slice_database_url
from paperboy.accounts.passwords import verify_password
from paperboy.http.site import site_of
from paperboy.store.schema import sessions, users
from smtp_server import start_smtp


def test_sign_up_logs_in_and_stores_an_argon2id_hash(client):
    token = csrf(client, "/signup")
    r = client.post("/signup", data={"username": "ada", "email": "ada@example.org", "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "pb_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    home = client.get("/")
    assert 'href="/u/ada"' in home.text and "Log out" in home.text
    with client.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == "ada")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD)


@pytest.mark.parametrize(
    "form, message",
    [
        ({"username": "ab", "email": "x@example.org", "password": PASSWORD}, "3 to 32"),
        ({"username": "admin", "email": "x@example.org", "password": PASSWORD}, "reserved"),
        ({"username": "<script>", "email": "x@example.org", "password": PASSWORD}, "3 to 32"),
        ({"username": "grace", "email": "not-an-email", "password": PASSWORD}, "valid e-mail"),
        ({"username": "grace", "email": "g@example.org", "password": "short"}, "at least 8"),
    ],
)
def test_sign_up_refusals_are_clear(client, form, message):
    r = client.post("/signup", data={**form, "csrf_token": csrf(client, "/signup")})
    assert r.status_code == 400 and message in r.text


def test_duplicate_accounts_are_refused_without_confirming_the_email(client):
    make_user(client.engine, "linus", email="linus@example.org")
    same_name = client.post("/signup", data={"username": "LINUS", "email": "other@example.org", "password": PASSWORD, "csrf_token": csrf(client, "/signup")})
    assert same_name.status_code == 400 and "taken" in same_name.text
    same_mail = client.post("/signup", data={"username": "linus2", "email": "Linus@Example.org", "password": PASSWORD, "csrf_token": csrf(client, "/signup")})
    assert same_mail.status_code == 400 and "linus@example.org" not in same_mail.text.lower().split("value=")[0]
    assert "log in or reset your password" in same_mail.text


def test_log_in_by_name_or_email_and_log_out(client):
    make_user(client.engine, "margaret", email="margaret@example.org")
    assert login(client, "MARGARET@example.org").status_code == 303
    assert 'href="/u/margaret"' in client.get("/papers/date/2026-06-30").text
    r = client.post("/logout", data={"csrf_token": csrf(client, "/submit")}, follow_redirects=False)
    assert r.status_code == 303
    assert "Log in" in client.get("/").text
    with client.engine.connect() as conn:
        assert conn.execute(select(sessions)).first() is None  # the session is gone server-side


def test_wrong_password_and_unknown_user_get_the_same_message(client):
    make_user(client.engine, "barbara")
    wrong = login(client, "barbara", "not the password")
    unknown = login(client, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 400
    message = "Wrong username, e-mail or password."
    assert message in wrong.text and message in unknown.text


def test_post_without_csrf_token_is_refused(client):
    make_user(client.engine, "alan")
    r = client.post("/login", data={"login": "alan", "password": PASSWORD})
    assert r.status_code == 403 and "expired or came from another site" in r.text
    token = csrf(client, "/login")
    forged = client.post("/login", data={"login": "alan", "password": PASSWORD, "csrf_token": token[:-2] + "00"})
    assert forged.status_code == 403
    other = TestClient(client.app)  # a token from another visitor's page is no good here
    other_token = csrf(other, "/login")
    assert client.post("/login", data={"login": "alan", "password": PASSWORD, "csrf_token": other_token}).status_code == 403


def test_every_state_changing_form_needs_the_token(client):
    alice = as_user(client.app, client.engine, "alice", admin=True)
    for path in ["/logout", "/papers/2606.30212/vote", "/submit", "/papers/2606.30212/comments", "/papers/2606.30212/claim",
                 "/admin/papers/2606.30212/hide", "/admin/users/alice/suspend", "/admin/claims/1", "/signup", "/reset"]:  # fmt: skip
        r = alice.post(path, data={"body": "x", "up": "1", "paper": "2606.30212"}, follow_redirects=False)
        assert r.status_code == 403, path


def test_log_in_rate_limit_triggers(client):
    make_user(client.engine, "eve")
    for _ in range(10):
        assert login(client, "eve", "guess").status_code == 400
    blocked = login(client, "eve", PASSWORD)  # from this address and browser, even the right password waits
    assert blocked.status_code == 429 and "Too many attempts" in blocked.text
    assert login(client, "someone-else", "guess").status_code == 400  # other accounts unaffected


def test_sign_up_rate_limit_per_address(client):
    for i in range(5):
        r = client.post("/signup", data={"username": f"bot{i}x", "email": f"bot{i}@example.org", "password": PASSWORD, "csrf_token": csrf(client, "/signup")})
        assert r.status_code in (200, 303, 400)
        client.cookies.delete("pb_session")
    r = client.post("/signup", data={"username": "bot9x", "email": "bot9@example.org", "password": PASSWORD, "csrf_token": csrf(client, "/signup")})
    assert r.status_code == 429


def test_next_parameter_only_goes_to_this_site(client):
    make_user(client.engine, "tim")
    for evil, expected in [("https://evil.example/", "/"), ("//evil.example/", "/"), ("/\\evil.example", "/"),
                           ("/papers/2606.30212", "/papers/2606.30212")]:  # fmt: skip
        browser = TestClient(client.app)
        token = csrf(browser, "/login")
        r = browser.post("/login", data={"login": "tim", "password": PASSWORD, "csrf_token": token, "next": evil}, follow_redirects=False)
        assert r.headers["location"] == expected


# --- password reset through a real SMTP server on loopback -----------------------------------------

class Inbox:
    def __init__(self):
        self.messages = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.arrived:
            self.messages.append(envelope)
            self.arrived.notify_all()
        return "250 OK"

    def wait(self, n=1, timeout=10):
        """The messages once ``n`` have arrived (or ``timeout`` seconds have passed)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= n, timeout=timeout)
            return self.messages


@pytest.fixture
def smtp_client(request, tmp_path):
    inbox = Inbox()
    controller = start_smtp(inbox)
    url = slice_database_url("sqlite", tmp_path, request)
    with make_client(url, tmp_path, smtp_host="127.0.0.1", smtp_port=controller.port, base_url="http://testserver") as c:
        c.inbox = inbox
        yield c
    controller.stop()


def reset_link(envelope) -> str:
    from email import message_from_bytes, policy

    message = message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "Reset your Paperboy password"
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://testserver(/reset/\S+)", body).group(1)


def test_password_reset_by_mail_works_once(smtp_client):
    c = smtp_client
    make_user(c.engine, "grace", email="grace@example.org")
    r = c.post("/reset", data={"email": "grace@example.org", "csrf_token": csrf(c, "/reset")})
    assert r.status_code == 200 and "If an account exists" in r.text
    (mail,) = c.inbox.wait(1)
    assert mail.rcpt_tos == ["grace@example.org"]
    link = reset_link(mail)
    form = c.get(link)
    assert form.status_code == 200 and "Choose a new password" in form.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text).group(1)
    done = c.post(link, data={"password": "a brand new password", "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert login(c, "grace", "a brand new password").status_code == 303
    assert login(TestClient(c.app), "grace", PASSWORD).status_code == 400
    # The link worked once: it is dead now.
    again = c.get(link)
    assert again.status_code == 400 and "already been used" in again.text


def test_reset_for_unknown_address_reads_the_same_and_sends_nothing(smtp_client):
    c = smtp_client
    r = c.post("/reset", data={"email": "nobody@example.org", "csrf_token": csrf(c, "/reset")})
    assert r.status_code == 200 and "If an account exists" in r.text
    # Nothing was queued: delivering the outbox now (what the response's background task does) sends nothing.
    from paperboy.digest.delivery import deliver

    assert deliver(c.engine, site_of(c.app).settings).sent == 0
    assert c.inbox.messages == []


def test_reset_links_expire(smtp_client, monkeypatch):
    import paperboy.accounts.tokens as tokens

    c = smtp_client
    make_user(c.engine, "katherine", email="k@example.org")
    c.post("/reset", data={"email": "k@example.org", "csrf_token": csrf(c, "/reset")})
    link = reset_link(c.inbox.wait(1)[0])
    monkeypatch.setattr(tokens, "RESET_MAX_AGE", -1)  # as if more than the hour had passed
    r = c.get(link)
    assert r.status_code == 400 and "expired" in r.text


def test_tampered_reset_link_is_refused(smtp_client):
    c = smtp_client
    make_user(c.engine, "hedy", email="hedy@example.org")
    c.post("/reset", data={"email": "hedy@example.org", "csrf_token": csrf(c, "/reset")})
    link = reset_link(c.inbox.wait(1)[0])
    r = c.get(link[:-3] + "abc")
    assert r.status_code == 400 and "not valid" in r.text


def test_reset_ends_every_session(smtp_client):
    c = smtp_client
    other_device = as_user(c.app, c.engine, "joan")
    with c.engine.begin() as conn:
        conn.execute(users.update().where(users.c.username == "joan").values(email="joan@example.org", email_key="joan@example.org"))
    c.post("/reset", data={"email": "joan@example.org", "csrf_token": csrf(c, "/reset")})
    link = reset_link(c.inbox.wait(1)[0])
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', c.get(link).text).group(1)
    c.post(link, data={"password": "another new password", "csrf_token": token})
    assert "Log in" in other_device.get("/submit", follow_redirects=True).text
    assert user(c.engine, "joan") is not None


def test_cookies_are_secure_when_the_site_is_https(request, tmp_path):
    app = make_app(slice_database_url("sqlite", tmp_path, request), tmp_path, base_url="https://papers.example.org")
    c = TestClient(app, base_url="https://testserver")
    make_user(site_of(app).engine, "sec")
    r = login(c, "sec")
    assert "secure" in r.headers["set-cookie"].lower() and "httponly" in r.headers["set-cookie"].lower()
    assert "max-age=31536000" in c.get("/").headers["strict-transport-security"]
