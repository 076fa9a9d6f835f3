"""Guessing passwords is throttled without handing strangers a way to lock owners out (issue #10.3).

Rules (accounts/ratelimit.py, accounts/flows.py): blocked per address and per (account, address);
slower, never blocked, per account across addresses; a browser that logged in to the account
before is judged on its own failures only; the browser that completed a reset is such a browser.
"""

import datetime as dt

from fastapi.testclient import TestClient

from community_helpers import PASSWORD, csrf, login, make_user
from paperboy import clock


def browser(client, ip: str) -> TestClient:
    """A new browser (its own cookies) at client address ``ip``."""
    return TestClient(client.app, client=(ip, 40000))


class Clock:
    """The one clock (paperboy.clock.now), held still and moved by hand."""

    def __init__(self, monkeypatch):
        self.now = clock.now()
        monkeypatch.setattr(clock, "now", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def test_a_strangers_wrong_passwords_never_lock_the_owner_out_of_their_browser(client):
    make_user(client.engine, "owner")
    mine = browser(client, "10.0.0.1")
    assert login(mine, "owner").status_code == 303  # this browser is now a known device of the account
    mine.post("/logout", data={"csrf_token": csrf(mine, "/")})
    for n in range(12):  # from three other addresses: past the account-wide limit
        assert login(browser(client, f"10.9.9.{n % 3}"), "owner", "wrong guess").status_code in (400, 429)
    assert login(mine, "owner").status_code == 303


def test_guessing_from_one_address_is_blocked_for_that_account(client, monkeypatch):
    time = Clock(monkeypatch)
    make_user(client.engine, "eve")
    make_user(client.engine, "frank")
    guesser = browser(client, "10.1.1.1")
    for _ in range(10):
        assert login(guesser, "eve", "guess").status_code == 400
    blocked = login(guesser, "eve", PASSWORD)  # the right password waits too: this address is guessing
    assert blocked.status_code == 429 and "Too many attempts" in blocked.text
    assert login(guesser, "frank", PASSWORD).status_code == 303  # other accounts from it are not blocked
    time.advance(2)  # the account answers unknown browsers a little slower now (1 s after the last failure)
    assert login(browser(client, "10.1.1.2"), "eve", PASSWORD).status_code == 303  # the owner elsewhere gets in


def test_many_addresses_slow_an_account_down_without_locking_it(client, monkeypatch):
    time = Clock(monkeypatch)
    make_user(client.engine, "grace")
    for n in range(14):  # 14 failures from 14 addresses, a minute apart: the account is 4 over its back-off limit
        assert login(browser(client, f"10.2.0.{n}"), "grace", "guess").status_code == 400
        time.advance(61)
    time.advance(-61)
    fresh = browser(client, "10.2.1.1")
    slowed = login(fresh, "grace", PASSWORD)
    assert slowed.status_code == 429 and "Try again in 16 seconds" in slowed.text  # 2 ** 4 after the last failure
    time.advance(17)
    assert login(fresh, "grace", PASSWORD).status_code == 303


def test_the_account_wide_delay_has_a_ceiling(client, monkeypatch):
    time = Clock(monkeypatch)
    make_user(client.engine, "hal")
    for n in range(16):  # all within the 15-minute window: a second apart, then past each growing delay
        assert login(browser(client, f"10.3.0.{n}"), "hal", "guess").status_code == 400
        time.advance(2 if n < 9 else 61)
    time.advance(-61)
    slowed = login(browser(client, "10.3.1.1"), "hal", PASSWORD)
    assert slowed.status_code == 429 and "Try again in 60 seconds" in slowed.text  # 2 ** 6 = 64, capped


def test_a_known_browser_is_limited_on_its_own_failures(client):
    make_user(client.engine, "ida")
    mine = browser(client, "10.4.0.1")
    assert login(mine, "ida").status_code == 303
    for _ in range(10):
        assert login(mine, "ida", "typo").status_code == 400
    assert login(mine, "ida", PASSWORD).status_code == 429


def test_logging_in_as_someone_else_ends_the_previous_session(client):
    from sqlalchemy import func, select

    from paperboy.store.schema import sessions

    make_user(client.engine, "jack")
    make_user(client.engine, "kate")
    shared = browser(client, "10.5.0.1")
    assert login(shared, "jack").status_code == 303
    jacks = shared.cookies.get("pb_session")
    assert login(shared, "kate").status_code == 303
    with client.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sessions)).scalar() == 1
    stale = browser(client, "10.5.0.2")
    stale.cookies.set("pb_session", jacks)
    assert "Log in" in stale.get("/submit", follow_redirects=True).text


def test_an_unknown_login_is_counted_like_a_real_one(client, monkeypatch):
    """Same answers in the same order as test_guessing_from_one_address…: nobody learns which accounts exist."""
    time = Clock(monkeypatch)
    guesser = browser(client, "10.6.0.1")
    codes = []
    for _ in range(11):
        codes.append(login(guesser, "nobody-here", "guess").status_code)
        time.advance(61)  # past the account-wide back-off: only this address's own limit is left
    assert codes == [400] * 10 + [429]
