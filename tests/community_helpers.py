"""Helpers for tests that act as users of the web app (a TestClient per person)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from paperboy.accounts.users import create_user, get_user_by_name

PASSWORD = "correct horse battery staple"


def csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token of a page's forms (sets the CSRF cookie on the client as a browser would)."""
    html = client.get(path).text
    m = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def make_user(engine, username: str, *, admin: bool = False, email: str | None = None, verified: bool = True):
    """An account made directly; ``verified``: its address confirmed, as if its mailed link was clicked."""
    with engine.begin() as conn:
        return create_user(conn, username, email or f"{username}@example.org", PASSWORD, is_admin=admin, verified=verified)


def add_active(engine, settings, emails, **prefs):
    """Digest subscribers made directly, confirmed and with ``prefs``, their confirmation mails cancelled."""
    from sqlalchemy import func, update

    from paperboy.digest import subscriptions as subs
    from paperboy.store.db import write_transaction
    from paperboy.store.schema import outbox, subscribers

    with write_transaction(engine) as conn:
        for address in emails:
            subs.subscribe(conn, settings, email=address, ip=f"10.0.{len(address)}.{hash(address) % 250}")
    with write_transaction(engine) as conn:
        conn.execute(update(subscribers).where(subscribers.c.email_key.in_([e.lower() for e in emails]))
                     .values(status="active", confirmed_at=func.now(), **prefs))  # fmt: skip
        conn.execute(update(outbox).where(outbox.c.status == "queued").values(status="cancelled"))  # their confirmations


def mailed_verify_link(engine, address: str) -> str:
    """The path of the newest address-confirmation link queued for ``address`` (read from the outbox,
    so it works whether or not a mail server took the mail)."""
    from sqlalchemy import select

    from paperboy.store.schema import outbox, outbox_bodies

    with engine.connect() as conn:
        body = conn.execute(select(outbox_bodies.c.body_text).join(outbox, outbox.c.id == outbox_bodies.c.outbox_id)
                            .where(outbox.c.to_addr == address, outbox.c.idempotency_key.startswith("verify:"))
                            .order_by(outbox.c.id.desc())).scalars().first()  # fmt: skip
    assert body, f"no confirmation mail queued for {address}"
    return re.search(r"https?://[^/\s]+(/verify/\S+)", body).group(1)


def login(client: TestClient, username: str, password: str = PASSWORD):
    token = csrf(client, "/login")
    return client.post("/login", data={"login": username, "password": password, "csrf_token": token}, follow_redirects=False)


def as_user(app, engine, username: str, *, admin: bool = False) -> TestClient:
    """A new client (its own cookie jar) logged in as a new user."""
    make_user(engine, username, admin=admin)
    c = TestClient(app)
    r = login(c, username)
    assert r.status_code == 303, r.text
    return c


def user(engine, username: str):
    with engine.connect() as conn:
        return get_user_by_name(conn, username)
