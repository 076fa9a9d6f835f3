"""Request size, headers and the event loop; redirects, token messages, API errors, OPTIONS (issue #22.1, #22.9).

Bodies past ``PAPERBOY_MAX_BODY_BYTES`` are refused with 413 before they are read whole; the API
checks a write's token before it reads the body, and parses bodies (like the pages their forms) in
the thread pool; the server refuses heads past ``PAPERBOY_MAX_HEADER_BYTES`` with 431 while they
arrive. Some tests drive the ASGI app directly, counting what it asks ``receive`` for; the ones
about the wire run the real server (uvicorn with ``paperboy serve``'s protocol) on loopback.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest

from community_helpers import csrf, make_user
from conftest import make_app, make_client, serve, slice_database_url
from paperboy.accounts.api_tokens import create_token, revoke_token
from paperboy.store.db import write_transaction

BODY_LIMIT = 4096
HEAD_LIMIT = 4096
LIMITS = {"max_body_bytes": BODY_LIMIT, "max_header_bytes": HEAD_LIMIT}
PAPER = "2606.30212"  # in the corpus slice


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request, tmp_path):
    """The app with small limits over a copy of the corpus slice, on SQLite and on PostgreSQL."""
    with make_client(slice_database_url(request.param, tmp_path, request), tmp_path, **LIMITS) as c:
        yield c


@pytest.fixture
def wire(sqlite_engine, tmp_path):
    """The real server on loopback (no test here reaches the database); its port."""
    with serve(make_app(str(sqlite_engine.url), tmp_path, **LIMITS)) as url:
        yield int(url.rsplit(":", 1)[1])


def write_token(engine, username: str = "alice") -> tuple[int, str]:
    user = make_user(engine, username)
    with write_transaction(engine) as conn:
        made = create_token(conn, user.id, "script", "write")
    return user.id, made.secret


class Call:
    """One request through the ASGI app, on a loop of this thread: the answer, and how many times
    the app called ``receive`` (each call hands it one chunk of the body)."""

    def __init__(self, app, method: str, path: str, headers: dict[str, str], chunks: list[bytes], query: bytes = b""):
        self.receives, self.status, self.headers, self.body = 0, None, {}, b""
        asyncio.run(self._run(app, method, path, headers, chunks, query))

    async def _run(self, app, method, path, headers, chunks, query):
        left = list(chunks)

        async def receive():
            self.receives += 1
            if not left:
                return {"type": "http.disconnect"}
            chunk = left.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(left)}

        async def send(message):
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                self.body += message.get("body", b"")

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
                 "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query, "client": ("127.0.0.1", 50000),
                 "server": ("127.0.0.1", 80), "state": {},
                 "headers": [(b"host", b"127.0.0.1")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()]}  # fmt: skip
        await app(scope, receive, send)

    def json(self):
        return json.loads(self.body)


# --- bodies --------------------------------------------------------------------------------------

def test_a_body_whose_length_is_over_the_limit_is_refused_unread(site):
    _, secret = write_token(site.engine)
    api = Call(site.app, "POST", f"/api/v1/papers/{PAPER}/comments",
               {"authorization": f"Bearer {secret}", "content-type": "application/json", "content-length": str(BODY_LIMIT + 1)},
               [b"x" * (BODY_LIMIT + 1)])  # fmt: skip
    assert api.status == 413 and api.receives == 0 and api.headers["connection"] == "close"
    assert api.headers["content-type"] == "application/json" and api.json() == {"error": api.json()["error"], "status": 413}
    assert f"{BODY_LIMIT:,} bytes" in api.json()["error"]
    page = Call(site.app, "POST", "/login", {"content-type": "multipart/form-data; boundary=b", "content-length": str(200 * 10**6)}, [b"--b"])
    assert page.status == 413 and page.receives == 0 and page.headers["content-type"].startswith("text/html")
    assert "Too large" in page.body.decode()
    with site.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM comments").scalar() == 0


def test_a_chunked_body_is_refused_once_the_bytes_received_pass_the_limit(site):
    chunks = [b"a=" + b"x" * 998] + [b"x" * 1000] * 19  # 20,000 bytes, no Content-Length
    page = Call(site.app, "POST", "/login", {"content-type": "application/x-www-form-urlencoded", "transfer-encoding": "chunked"}, chunks)
    assert page.status == 413 and page.headers["connection"] == "close"
    assert page.receives == BODY_LIMIT // 1000 + 1  # read up to the chunk that passed the limit, not one more
    _, secret = write_token(site.engine)
    api = Call(site.app, "POST", f"/api/v1/papers/{PAPER}/comments",
               {"authorization": f"Bearer {secret}", "content-type": "application/json", "transfer-encoding": "chunked"}, chunks)  # fmt: skip
    assert api.status == 413 and api.json()["status"] == 413 and api.receives == BODY_LIMIT // 1000 + 1


def test_a_body_within_the_limit_is_taken(site):
    _, secret = write_token(site.engine)
    text = "é" * 600  # 1,200 bytes of UTF-8, 3,600 as JSON escapes
    r = site.post(f"/api/v1/papers/{PAPER}/comments", headers={"Authorization": f"Bearer {secret}"}, content=json.dumps({"body": text}))
    assert r.status_code == 415  # httpx sent no content type: the API says what it wants
    r = site.post(f"/api/v1/papers/{PAPER}/comments", headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
                  content=json.dumps({"body": text}))  # fmt: skip
    assert r.status_code == 201 and r.json()["body"] == text


def test_the_api_checks_the_token_before_it_reads_the_body(site):
    body = [json.dumps({"body": "hello"}).encode()]
    for headers in ({}, {"authorization": "Bearer pb_unknown-token"}):
        r = Call(site.app, "POST", f"/api/v1/papers/{PAPER}/comments", {"content-type": "application/json", **headers}, body)
        assert r.status == 401 and r.receives == 0 and r.json()["status"] == 401, headers
    r = Call(site.app, "POST", "/api/v1/submissions", {"content-type": "application/json"}, [b'{"paper": "2606.30212"}'])
    assert r.status == 401 and r.receives == 0


def test_api_bodies_are_refused_with_the_first_thing_wrong(site):
    _, secret = write_token(site.engine)
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    url = f"/api/v1/papers/{PAPER}/comments"
    many_keys = json.dumps({f"k{i}": 1 for i in range(300)})  # each a field CommentIn does not have
    cases = [
        (many_keys, "k0: not a field here"),
        ('{"body": "x", "extra": 1}', "extra: not a field here"),
        ("[1, 2]", 'must be a JSON object with "body"'),
        ('{"body": ', "not valid JSON"),
        ('{"body": ""}', "body: String should have at least 1 character"),
        ('{"body": 5}', "body: Input should be a valid string"),
        ("[" * 500 + "]" * 500, "not valid JSON"),
    ]
    for body, message in cases:
        r = site.post(url, headers=auth, content=body)
        assert r.status_code == 400 and r.json()["status"] == 400 and message in r.json()["error"], (body[:40], r.text)
    r = site.post(url, headers={**auth, "Content-Type": "text/plain"}, content='{"body": "hi"}')
    assert r.status_code == 415 and r.json() == {"error": "Send the body as JSON, with Content-Type: application/json.", "status": 415}
    assert site.post(url, headers={**auth, "Content-Type": "application/json; charset=utf-8"}, content='{"body": "hi"}').status_code == 201


def test_bodies_are_parsed_off_the_event_loop(site, monkeypatch):
    """The JSON of the API's writes and the pages' forms are parsed in the thread pool, not on the
    thread that runs the event loop (here: this test's thread)."""
    from paperboy.api import bodies
    from paperboy.web import context

    threads = []
    for module, name in ((bodies, "parse"), (context, "_parse_form")):
        real = getattr(module, name)

        def spy(*args, _real=real):
            threads.append(threading.get_ident())
            return _real(*args)

        monkeypatch.setattr(module, name, spy)
    _, secret = write_token(site.engine)
    r = Call(site.app, "POST", f"/api/v1/papers/{PAPER}/comments", {"authorization": f"Bearer {secret}", "content-type": "application/json"},
             [b'{"body": "off the loop"}'])  # fmt: skip
    assert r.status == 201
    r = Call(site.app, "POST", "/login", {"content-type": "application/x-www-form-urlencoded"}, [b"login=a&password=b&csrf_token=c"])
    assert r.status == 403
    assert len(threads) == 2 and threading.get_ident() not in threads


def test_forms_take_no_files_and_odd_csrf_tokens_are_refused_not_errors(site):
    token = csrf(site)
    r = site.post("/login", data={"login": "a", "password": "b", "csrf_token": token}, files={"f": ("a.txt", b"hi")})
    assert r.status_code == 400 and "files" in r.text
    r = site.post("/login", data={"login": "a", "password": "b", "csrf_token": "é" * 64})  # compare_digest raised on non-ASCII
    assert r.status_code == 403


# --- on the real server: heads, and a body without an end -------------------------------------------

def exchange(port: int, request: bytes) -> tuple[int, dict, bytes]:
    """Send raw bytes, read the answer until the server closes or it is whole: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            more = s.recv(65536)
            if not more:
                break
            data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def test_heads_over_the_limit_are_refused_with_431(wire):
    big = "x" * HEAD_LIMIT
    status, headers, body = exchange(wire, f"GET /api/v1/me HTTP/1.1\r\nhost: a\r\nauthorization: Bearer pb_{big}\r\n\r\n".encode())
    assert status == 431 and headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert json.loads(body)["status"] == 431 and f"{HEAD_LIMIT:,} bytes" in json.loads(body)["error"]
    status, headers, body = exchange(wire, f"GET /?q={big} HTTP/1.1\r\nhost: a\r\n\r\n".encode())
    assert status == 431 and headers["content-type"].startswith("text/plain")
    status, _, _ = exchange(wire, f"GET /healthz HTTP/1.1\r\nhost: a\r\nx-fill: {'x' * (HEAD_LIMIT - 200)}\r\n\r\n".encode())
    assert status == 200  # just under it


def test_a_head_that_never_ends_is_refused_while_it_arrives(wire):
    """64 KB of one header and no end: refused, not held for as long as the client goes on."""
    status, _, body = exchange(wire, b"GET /api/v1/trending HTTP/1.1\r\nhost: a\r\nx-fill: " + b"x" * 65536)
    assert status == 431 and json.loads(body)["status"] == 431


def test_a_chunked_body_that_never_ends_is_refused_on_the_wire(wire):
    """More than the limit of a chunked body, and no last chunk: the 413 comes without waiting for the rest."""
    chunk = b"%x\r\n%s\r\n" % (1000, b"x" * 1000)
    head = b"POST /login HTTP/1.1\r\nhost: a\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\n\r\n"
    status, headers, _ = exchange(wire, head + chunk * (BODY_LIMIT // 1000 + 2))
    assert status == 413 and headers["connection"] == "close" and headers["content-type"].startswith("text/html")


def test_requests_the_parser_refuses_get_the_api_error_shape_under_api(wire):
    status, headers, body = exchange(wire, b"GET /api/v1/trending HTTP/1.1\r\nhost: a\r\nbad header line\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/json" and json.loads(body)["status"] == 400
    status, headers, _ = exchange(wire, b"GET / HTTP/1.1\r\nhost: a\r\nbad header line\r\n\r\n")
    assert status == 400 and headers["content-type"].startswith("text/plain")


# --- redirects, tokens, OPTIONS ---------------------------------------------------------------------

def test_slash_redirects_never_name_the_host_the_client_sent(site):
    r = site.get("/u/alice/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/u/alice"
    r = site.get("/u/alice/?tab=votes", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.headers["location"] == "/u/alice?tab=votes"
    r = Call(site.app, "GET", "/u/a\\evil.example/", {"host": "evil.example"}, [])
    assert r.status == 307 and r.headers["location"] == "/u/a%5Cevil.example"  # a backslash is no slash to a browser
    assert Call(site.app, "GET", "//evil.example/", {}, []).status == 404  # "//evil.example" would be another site


def test_revoked_and_unknown_tokens_get_the_same_answer(site):
    user_id, secret = write_token(site.engine)
    with write_transaction(site.engine) as conn:
        token_id = conn.exec_driver_sql("SELECT id FROM api_tokens").scalar()
        revoke_token(conn, user_id, token_id)
    revoked = site.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    unknown = site.get("/api/v1/me", headers={"Authorization": f"Bearer pb_{'x' * 43}"})
    malformed = site.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"})
    assert revoked.status_code == unknown.status_code == malformed.status_code == 401
    assert revoked.json() == unknown.json() == malformed.json()


def test_options_and_405_list_every_method_the_path_takes(site):
    url = f"/api/v1/papers/{PAPER}/comments"
    r = site.options(url)
    assert r.status_code == 204 and r.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    r = site.options(url, headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and "access-control-allow-origin" not in r.headers  # no cross-origin writes from browsers
    r = site.options(url, headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"  # reads stay public
    r = site.put(url, content=b"{}")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, OPTIONS, POST" and r.json()["status"] == 405
    assert site.options("/api/v1/submissions").headers["allow"] == "OPTIONS, POST"
    assert site.options(f"/api/v1/papers/{PAPER}/vote").headers["allow"] == "DELETE, GET, HEAD, OPTIONS, POST"
    assert site.options("/login").headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert site.options("/no/such/page").status_code == 404
