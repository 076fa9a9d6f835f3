"""A loopback stand-in for the arXiv API that serves the real recorded responses.

Each request's query parameters are matched against the request URLs recorded in
``fixtures/arxiv-api/atom/INDEX.tsv``; ``script``/``always``/``delay`` inject faults.
"""

from __future__ import annotations

import contextlib
import csv
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from conftest import SHARED

API = SHARED / "fixtures" / "arxiv-api"
ATOM = API / "atom"
LEGACY = API / "legacy-2016"


def recorded() -> list[tuple[str, int, dict[str, str]]]:
    """(file, HTTP status, request query parameters) for every recorded 2026 response."""
    with open(ATOM / "INDEX.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    for row in rows:
        query = parse_qs(urlsplit(row["request_url"]).query, keep_blank_values=True)
        out.append((row["file"], int(row["http_status"]), {k: v[0] for k, v in query.items()}))
    return out


def route_key(params: dict[str, str]) -> tuple[str, str, str, str]:
    """What identifies a recorded response. With an id_list, max_results only caps the answer
    (the client asks for len(ids), the recordings used 100), so it is not part of the key."""
    ids = params.get("id_list", "")
    return (params.get("search_query", ""), ids, params.get("start", "0"), "" if ids else params.get("max_results", ""))


class FakeArxiv:
    """Serves the recorded responses; ``script`` answers the next requests first, ``always``
    answers every request, ``delay`` holds each answer back (until ``release`` is set)."""

    def __init__(self):
        self.routes = {route_key(q): (status, ATOM / name) for name, status, q in recorded()}
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, bytes]] = []
        self.always: tuple[int, dict, bytes] | None = None
        self.delay = 0.0
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, path: str, headers) -> tuple[int, dict, bytes]:
        params = {k: v[0] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}
        with self.lock:
            self.requests.append({"at": time.monotonic(), "params": params, "headers": dict(headers)})
            if self.script:
                return self.script.pop(0)
        if self.always:
            return self.always
        if self.delay:
            self.release.wait(self.delay)
        route = self.routes.get(route_key(params))
        if route is None:
            return 404, {"Content-Type": "text/plain"}, b"no recording for this request"
        status, file = route
        return status, {"Content-Type": "application/atom+xml; charset=utf-8"}, file.read_bytes()


@contextlib.contextmanager
def serve_fake_arxiv():
    """A running FakeArxiv on 127.0.0.1 (``.url`` is its /api/query endpoint)."""
    fake = FakeArxiv()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, headers, body = fake.answer(self.path, self.headers)
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/query"
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
