"""X-Forwarded-For is believed only from configured proxies (issue #10.8), on the real server.

The server is uvicorn with exactly the options ``paperboy serve`` uses (web/server.py). The client
address matters for per-address rate limits: sign-up allows 5 an hour per address.
"""

import threading
import time

import httpx
import pytest
import uvicorn

from community_helpers import PASSWORD
from conftest import free_port, make_app
from paperboy.http.site import site_of
from paperboy.web.server import uvicorn_options


@pytest.fixture
def serve(sqlite_engine, tmp_path):
    servers = []

    def start(trusted_proxies: str = "") -> str:
        app = make_app(str(sqlite_engine.url), tmp_path, trusted_proxies=trusted_proxies)
        options = uvicorn_options(site_of(app).settings, host="127.0.0.1", port=free_port(), log_level="warning")
        options.pop("workers")
        server = uvicorn.Server(uvicorn.Config(app, **options))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{options['port']}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def sign_ups(base: str, forwarded_for: list[str]) -> list[int]:
    codes = []
    for n, address in enumerate(forwarded_for):
        with httpx.Client(base_url=base) as c:
            page = c.get("/signup").text
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            r = c.post("/signup", headers={"X-Forwarded-For": address},
                       data={"username": f"user{n}x{address.replace('.', '')}", "email": f"u{n}@{address}.example.org",
                             "password": PASSWORD, "csrf_token": token})  # fmt: skip
            codes.append(r.status_code)
    return codes


def test_a_client_cannot_pick_its_own_address_by_default(serve):
    base = serve()
    codes = sign_ups(base, [f"203.0.113.{n}" for n in range(6)])  # six "different" addresses, all from 127.0.0.1
    assert codes[:5] == [303] * 5 and codes[5] == 429


def test_a_configured_proxy_is_believed(serve):
    base = serve(trusted_proxies="127.0.0.1")  # as if the reverse proxy ran on this machine
    codes = sign_ups(base, [f"203.0.113.{n}" for n in range(6)])
    assert codes == [303] * 6  # six real clients behind the proxy, each within its own limit
