"""Hostile requests against a real ``paperboy serve`` (issue #22 items 1 and 9): does one anonymous
request stall the site or swell the process?

Builds a small SQLite database (300 papers of the shared corpus) in a temporary folder, starts
``paperboy serve --no-worker`` on a loopback port, and replays, each while a second connection asks
``/healthz`` every 20 ms (its slowest answer is what every other visitor waited):

* a JSON object of 1.6, 5.2 and 17.8 MB (keys the API does not take) POSTed to
  ``/api/v1/papers/{id}/comments`` without a token, once with Content-Length and once chunked;
* a 200 MB multipart upload to ``/login``, with Content-Length and chunked;
* a 1 MB ``Authorization`` header, and a 1 MB request line;
* under the body limit (1 MiB): a JSON object of 81,500 such keys POSTed with a write token, and
  forms of 1 MiB of "&" and of "%41" POSTed to ``/login`` — what parsing a body still costs.

For each it prints the status, how long the answer took, how many bytes of the body had been sent
when it came, the slowest ``/healthz``, and the server's resident memory before and after (and the
most it ever held). Then the answers to item 9's requests: a slash redirect asked with a foreign
Host, a revoked and an unknown token, low-level errors under /api/, OPTIONS and PUT on a write.

Usage: python bench/hostile_requests.py [--papers 300]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import CORPUS, PAPERBOY, machine
from web_bench import free_port, wait_up

MB = 1_000_000


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """The server's resident memory now (VmRSS), or the most it ever held (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class HealthWatch:
    """Asks /healthz every 20 ms on its own connection while a probe runs; the slowest answer."""

    def __init__(self, port: int):
        self.port, self.slowest, self.stop = port, 0.0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        while not self.stop.is_set():
            started = time.perf_counter()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            self.slowest = max(self.slowest, time.perf_counter() - started)
            self.stop.wait(0.02)
        conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def send(port: int, head: bytes, body_chunks, *, chunked: bool) -> tuple[str, float, int]:
    """Send a request (head, then the body's chunks) until the server answers or takes it all;
    (status line, seconds to the answer, body bytes sent before it)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    started = time.perf_counter()
    sent = 0
    answer = b""
    try:
        s.sendall(head)
        s.setblocking(False)
        for chunk in body_chunks:
            data = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") if chunked else chunk
            view = memoryview(data)
            while view:
                try:
                    answer += s.recv(65536)
                except BlockingIOError:
                    pass
                if answer:
                    raise StopIteration
                try:
                    n = s.send(view[:65536])
                    view = view[n:]
                    sent += n
                except BlockingIOError:
                    time.sleep(0.0005)
        if chunked:
            s.sendall(b"0\r\n\r\n")
    except (StopIteration, BrokenPipeError, ConnectionResetError):
        pass
    s.setblocking(True)
    s.settimeout(120)
    try:
        while b"\r\n" not in answer:
            more = s.recv(65536)
            if not more:
                break
            answer += more
    except (ConnectionResetError, TimeoutError):
        pass
    elapsed = time.perf_counter() - started
    s.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(connection closed)", elapsed, sent


def chunks_of(total: int, piece: bytes, size: int = 1 << 16):
    """``total`` bytes: the opening ``piece``, then filler, in chunks of ``size``."""
    yield piece
    left = total - len(piece)
    filler = b"x" * size
    while left > 0:
        yield filler[: min(size, left)]
        left -= size


def probe(name: str, port: int, pid: int, head: bytes, body, *, chunked: bool) -> None:
    before = rss_mb(pid)
    with HealthWatch(port) as watch:
        status, elapsed, sent = send(port, head, body, chunked=chunked)
    print(f"{name:<48} {status[9:]:<34} {elapsed:6.2f} s  sent {sent / MB:7.2f} MB  /healthz max {watch.slowest * 1000:7.1f} ms"
          f"  RSS {before:5.0f} -> {rss_mb(pid):5.0f} MB (peak so far {rss_mb(pid, 'VmHWM'):5.0f})", flush=True)  # fmt: skip


def json_object(size: int) -> bytes:
    """A JSON object of about ``size`` bytes made of keys "k0", "k1", …: the costly shape (every key
    a field the model does not have), as in the issue (1.6 MB: 1.1 s)."""
    keys = json.dumps({f"k{i}": 1 for i in range(size // 8)}).encode()[: size - 1]
    return keys[: keys.rindex(b",")] + b"}"


def json_probe(port: int, pid: int, paper: str, size: int, *, chunked: bool) -> None:
    whole = json_object(size)
    size = len(whole)
    body = (whole[i : i + (1 << 16)] for i in range(0, size, 1 << 16))
    length = b"transfer-encoding: chunked\r\n" if chunked else b"content-length: %d\r\n" % size
    head = (b"POST /api/v1/papers/" + paper.encode() + b"/comments HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            + length + b"\r\n")  # fmt: skip
    probe(f"JSON object {size / MB:.1f} MB, no token ({'chunked' if chunked else 'content-length'})", port, pid, head, body, chunked=chunked)


def multipart_probe(port: int, pid: int, size: int, *, chunked: bool) -> None:
    boundary = b"paperboyhostile"
    opening = (b"--" + boundary + b'\r\ncontent-disposition: form-data; name="file"; filename="big.bin"\r\n'
               b"content-type: application/octet-stream\r\n\r\n")  # fmt: skip
    closing = b"\r\n--" + boundary + b"--\r\n"
    body = _then(chunks_of(size - len(closing), opening), closing)
    length = b"transfer-encoding: chunked\r\n" if chunked else b"content-length: %d\r\n" % size
    head = (b"POST /login HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: multipart/form-data; boundary=" + boundary + b"\r\n"
            + length + b"\r\n")  # fmt: skip
    probe(f"multipart {size / MB:.0f} MB to /login ({'chunked' if chunked else 'content-length'})", port, pid, head, body, chunked=chunked)


def _then(chunks, last: bytes):
    yield from chunks
    yield last


def write_tokens(url: str) -> tuple[str, str]:
    """A member with two write-scope API tokens, made straight in the database, the second revoked; their secrets."""
    from paperboy.accounts.api_tokens import create_token, revoke_token
    from paperboy.accounts.users import create_user
    from paperboy.store.db import make_engine, write_transaction

    engine = make_engine(url)
    with write_transaction(engine) as conn:
        user = create_user(conn, "hostile", "hostile@example.org", "correct horse battery staple")
        secret = create_token(conn, user.id, "bench", "write").secret
        revoked = create_token(conn, user.id, "revoked", "write")
        revoke_token(conn, user.id, revoked.token.id)
    engine.dispose()
    return secret, revoked.secret


def item9(port: int, paper: str, secret: str, revoked: str) -> None:
    """Each request of issue #22 item 9 and the answer: status, and the header or body that matters."""
    import http.client

    def ask(method: str, path: str, headers: dict, body: bytes | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        answer.text = answer.read().decode(errors="replace")[:110]
        conn.close()
        return answer

    r = ask("GET", "/u/hostile/", {"Host": "evil.example"})
    print(f"GET /u/hostile/ with Host: evil.example   {r.status} Location: {r.getheader('location')}")
    for name, token in (("revoked", revoked), ("unknown", "pb_" + "x" * 43)):
        r = ask("GET", "/api/v1/me", {"Authorization": f"Bearer {token}"})
        print(f"GET /api/v1/me, {name} token            {r.status} {r.text}")
    auth = {"Authorization": f"Bearer {secret}"}
    r = ask("POST", f"/api/v1/papers/{paper}/comments", {**auth, "Content-Type": "application/json"}, b'{"body": ')
    print(f"POST comments, malformed JSON            {r.status} {r.getheader('content-type')} {r.text}")
    r = ask("POST", f"/api/v1/papers/{paper}/comments", {**auth, "Content-Type": "text/plain"}, b'{"body": "hi"}')
    print(f"POST comments, text/plain                {r.status} {r.getheader('content-type')} {r.text}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"GET /api/v1/trending HTTP/1.1\r\nhost: a\r\nbad header\r\n\r\n")
        answer = b""
        while more := raw.recv(65536):
            answer += more
    head, _, body = answer.decode(errors="replace").partition("\r\n\r\n")
    kind = next((line.split(": ", 1)[1] for line in head.split("\r\n") if line.lower().startswith("content-type:")), None)
    print(f"GET /api/v1/trending, malformed header   {head.split()[1]} {kind} {body[:110]}")
    r = ask("OPTIONS", f"/api/v1/papers/{paper}/comments", {})
    print(f"OPTIONS /api/v1/papers/{{id}}/comments     {r.status} Allow: {r.getheader('allow')}")
    r = ask("PUT", f"/api/v1/papers/{paper}/comments", {"Content-Type": "application/json"}, b"{}")
    print(f"PUT /api/v1/papers/{{id}}/comments         {r.status} Allow: {r.getheader('allow')} {r.text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=300)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="paperboy-hostile-") as tmp:
        data = Path(tmp)
        dump = data / "papers.jsonl"
        with gzip.open(CORPUS, "rb") as f, dump.open("wb") as out:
            for i, line in enumerate(f):
                if i >= args.papers:
                    break
                out.write(line)
        paper = json.loads(dump.read_text().splitlines()[0])["id"]
        env = dict(os.environ, PAPERBOY_DATA_DIR=str(data), PAPERBOY_SECRET_KEY="bench")
        env.pop("PAPERBOY_DATABASE_URL", None)
        subprocess.run([*PAPERBOY, "import", "--migrate", str(dump)], env=env, check=True, capture_output=True)
        secret, revoked = write_tokens(f"sqlite:///{data / 'paperboy.db'}")
        port = free_port()
        log = (data / "serve.log").open("wb")
        server = subprocess.Popen([*PAPERBOY, "serve", "--no-worker", "--port", str(port), "--log-level", "warning"],
                                  env=env, stdout=log, stderr=log, start_new_session=True)  # fmt: skip
        try:
            wait_up(f"http://127.0.0.1:{port}", "/readyz", 120)  # memory is compared once the warm-up is done
            urllib.request.urlopen(f"http://127.0.0.1:{port}/papers/{paper}").read()  # warm: templates, first query
            print(f"paper {paper}; server RSS at start {rss_mb(server.pid):.0f} MB")
            for size in (int(1.6 * MB), int(5.2 * MB), int(17.8 * MB)):
                json_probe(port, server.pid, paper, size, chunked=False)
            json_probe(port, server.pid, paper, int(17.8 * MB), chunked=True)
            multipart_probe(port, server.pid, 200 * MB, chunked=False)
            multipart_probe(port, server.pid, 200 * MB, chunked=True)
            big = b"A" * MB
            probe("1 MB Authorization header on /api/v1/me", port, server.pid,
                  b"GET /api/v1/me HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer pb_" + big + b"\r\n\r\n", [], chunked=False)  # fmt: skip
            probe("1 MB request line", port, server.pid, b"GET /search?q=" + big + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n", [], chunked=False)
            keys = json_object(2**20)
            probe(f"JSON object {len(keys) / MB:.2f} MB, write token", port, server.pid,
                  b"POST /api/v1/papers/%s/comments HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                  b"authorization: Bearer %s\r\ncontent-length: %d\r\n\r\n" % (paper.encode(), secret.encode(), len(keys)), [keys], chunked=False)  # fmt: skip
            for name, form in (('"&" * 1 MiB', b"&" * 2**20), ('"%41" * 1 MiB / 3', b"a=" + b"%41" * ((2**20 - 2) // 3))):
                probe(f"form {name} to /login", port, server.pid,
                      b"POST /login HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-www-form-urlencoded\r\n"
                      b"content-length: %d\r\n\r\n" % len(form), [form], chunked=False)  # fmt: skip
            print(f"server RSS at the end {rss_mb(server.pid):.0f} MB")
            item9(port, paper, secret, revoked)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
            log.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
