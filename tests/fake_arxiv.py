"""One loopback stand-in for every service the ingest tests talk to, serving the real recordings.

By path, on ``127.0.0.1``:

* ``/api/query`` — the arXiv API: each request's query parameters are matched against the request
  URLs recorded in ``fixtures/arxiv-api/atom/INDEX.tsv`` (:func:`route_key`).
* ``/oai`` — arXiv's OAI-PMH: three ``ListRecords`` pages of two records each, cut from the
  recorded response and linked by the tokens ``tok-2`` and ``tok-3``; an unknown token gets the
  recorded ``badResumptionToken`` error, set ``moo`` the recorded ``noRecordsMatch``.
* ``/rss/…`` and ``/atom/…`` — arXiv's daily listings (:data:`LISTINGS`).
* ``/api/daily_papers`` (also under ``/prefix/``) — Hugging Face's Daily Papers for the recorded
  days, paged by ``p`` and ``limit`` like HF's; a bad ``date`` gets HF's 400.

Anything else is a JSON 404. ``routes`` maps a path to a handler ``(params) -> (status, headers,
body)`` and may be changed by a test. Faults: ``script`` answers the next requests first (one
:class:`Fault` each, ``None`` for a normal answer), ``always`` answers every request after that.
A fault never sleeps to stand in for synchronisation: ``hang`` holds the answer until the fake
shuts down (a client's timeout is what ends the request) and ``hold`` until an event the test sets;
only ``delay`` is a slow server, for tests whose verdict does not hang on timing. Every request is
recorded in ``requests`` with when it arrived (``start``) and when its answer was sent (``end``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from conftest import FIXTURES, SHARED

API = SHARED / "fixtures" / "arxiv-api"
ATOM = API / "atom"
LEGACY = API / "legacy-2016"
OAI = SHARED / "fixtures" / "arxiv-oai"
RSS = SHARED / "fixtures" / "arxiv-rss"
HF = SHARED / "fixtures" / "hf-daily"
#: Listing paths and the recordings (or listings built from arXiv's docs) they serve.
LISTINGS = {
    "/rss/stat": RSS / "rss-stat-2024-03-26.xml",
    "/rss/cs.LG+cs.AI+cs.CL+stat.ML": RSS / "rss-cs.LG+cs.AI+cs.CL+stat.ML-2026-09-24-trimmed.xml",
    "/atom/math.OC": FIXTURES / "listings" / "atom-math.OC-2024-02-23.xml",
    "/rss/math.OC": FIXTURES / "listings" / "rss-math.OC-2024-02-24-weekend.xml",
}
HANG_LIMIT = 60.0  # seconds a held answer waits at most, should a test forget to let it go

XML = {"Content-Type": "text/xml; charset=utf-8"}
JSON = {"Content-Type": "application/json; charset=utf-8"}


@dataclass
class Fault:
    """What the fake does to one request instead of answering it as recorded.

    ``status`` (with ``headers`` and ``body``) replaces the answer; without it the recorded answer
    is sent, after ``delay`` seconds (a slow server), once ``hold`` is set, or — with ``hang`` —
    only when the fake shuts down. ``cut`` sends only that share of the body, as if it were whole;
    ``hangup`` promises the whole body in Content-Length, sends half and closes the connection.
    """

    status: int | None = None
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    hold: threading.Event | None = None
    hang: bool = False
    cut: float | None = None
    hangup: bool = False


# --- the recorded answers, by service ----------------------------------------------------------------

def recorded() -> list[tuple[str, int, dict[str, str]]]:
    """(file, HTTP status, request query parameters) for every recorded 2026 API response."""
    with open(ATOM / "INDEX.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    for row in rows:
        query = parse_qs(urlsplit(row["request_url"]).query, keep_blank_values=True)
        out.append((row["file"], int(row["http_status"]), {k: v[0] for k, v in query.items()}))
    return out


def route_key(params: dict[str, str]) -> tuple[str, str, str, str]:
    """What identifies a recorded API response. With an id_list, max_results only caps the answer
    (the client asks for len(ids), the recordings used 100), so it is not part of the key."""
    ids = params.get("id_list", "")
    return (params.get("search_query", ""), ids, params.get("start", "0"), "" if ids else params.get("max_results", ""))


def api_route():
    routes = {route_key(q): (status, ATOM / name) for name, status, q in recorded()} if (ATOM / "INDEX.tsv").exists() else {}

    def answer(params):
        route = routes.get(route_key(params))
        if route is None:
            return 404, {"Content-Type": "text/plain"}, b"no recording for this request"
        status, file = route
        return status, {"Content-Type": "application/atom+xml; charset=utf-8"}, file.read_bytes()

    return answer


def oai_pages() -> tuple[bytes, dict[str, bytes]]:
    """The first page and the pages by token: the recorded ListRecords cut into three."""
    recording = (OAI / "ListRecordsResponse.xml").read_bytes()
    records = re.findall(rb"<record>.*?</record>\n", recording, re.DOTALL)
    assert len(records) == 6
    head = recording[: recording.index(b"<ListRecords>") + len(b"<ListRecords>\n")]

    def page(part: list[bytes], token: str | None, cursor: int) -> bytes:
        attrs = f'cursor="{cursor}" completeListSize="6"'
        tail = f"<resumptionToken {attrs}>{token}</resumptionToken>\n" if token else f"<resumptionToken {attrs}/>\n"
        return head + b"".join(part) + tail.encode() + b"</ListRecords>\n</OAI-PMH>\n"

    return page(records[0:2], "tok-2", 0), {"tok-2": page(records[2:4], "tok-3", 2), "tok-3": page(records[4:6], None, 4)}


def oai_route():
    pages: list = []

    def answer(params):
        if not pages:
            pages.extend(oai_pages())
        first, by_token = pages
        token = params.get("resumptionToken")
        if params.get("set") == "moo":
            return 200, XML, (OAI / "ErrorResponseNoRecordsMatch.xml").read_bytes()
        if token is None:
            return 200, XML, first
        return 200, XML, by_token.get(token) or (OAI / "ErrorResponseBadResumptionToken.xml").read_bytes()

    return answer


def listing_route(path):
    def answer(params):
        return 200, {"Content-Type": "application/xml; charset=utf-8"}, path.read_bytes()

    return answer


def hf_route(params):
    """HF's /api/daily_papers for the recorded days: ``p`` and ``limit`` page through the day."""
    try:
        day = dt.date.fromisoformat(params.get("date", ""))
    except ValueError:
        return 400, JSON, b'{"error": "Invalid \'date\', expected YYYY-MM-DD"}'
    path = HF / f"hf_daily_papers_{day.isoformat()}.json"
    entries = json.loads(path.read_bytes()) if path.exists() else []
    limit, page = int(params.get("limit", 50)), int(params.get("p", 0))
    return 200, JSON, json.dumps(entries[page * limit : (page + 1) * limit]).encode()


# --- the server ------------------------------------------------------------------------------------

class FakeArxiv:
    """The routes, the faults to inject and the requests seen (see the module docstring)."""

    def __init__(self):
        self.routes = {"/api/query": api_route(), "/oai": oai_route(), "/api/daily_papers": hf_route,
                       "/prefix/api/daily_papers": hf_route} | {p: listing_route(f) for p, f in LISTINGS.items()}  # fmt: skip
        self.script: list[Fault | None] = []
        self.always: Fault | None = None
        self.requests: list[dict] = []
        self.closing = threading.Event()
        self.held: list[threading.Event] = []  # every hold seen, let go at shutdown
        self.lock = threading.Lock()
        self.url = ""  # http://127.0.0.1:port, set once serving

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/query"

    @property
    def oai_url(self) -> str:
        return f"{self.url}/oai"

    def settings(self, data_dir, **overrides):
        """Settings whose every source (OAI-PMH, RSS, the API, Hugging Face) is this stand-in, unpaced."""
        from paperboy.config import Settings

        return Settings(**{"data_dir": str(data_dir), "arxiv_oai_url": self.oai_url, "arxiv_rss_url": self.url,
                           "arxiv_api_url": self.api_url, "hf_base_url": self.url, "arxiv_interval": 0.0, "hf_interval": 0.0,
                           **overrides}).resolved()  # fmt: skip

    def tokens(self) -> list[str | None]:
        """The resumption token of each request so far (``None``: a first page)."""
        return [r["params"].get("resumptionToken") for r in self.requests]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        entry = {"start": time.monotonic(), "end": None, "path": parts.path, "query": parts.query, "params": params,
                 "headers": dict(handler.headers)}  # fmt: skip
        with self.lock:
            self.requests.append(entry)
            fault = self.script.pop(0) if self.script else self.always
            if fault is not None and fault.hold is not None:
                self.held.append(fault.hold)
        try:
            self._answer(handler, parts.path, params, fault or Fault())
        except OSError:
            pass  # the client gave up (a timeout) or was killed
        finally:
            entry["end"] = time.monotonic()

    def _answer(self, handler, path: str, params: dict, fault: Fault) -> None:
        if fault.hold is not None:
            fault.hold.wait(HANG_LIMIT)
        if fault.hang:
            self.closing.wait(HANG_LIMIT)
        if fault.delay:
            self.closing.wait(fault.delay)
        if fault.status is not None:
            status, headers, body = fault.status, fault.headers, fault.body
        elif path in self.routes:
            status, headers, body = self.routes[path](params)
        else:
            status, headers, body = 404, JSON, b'{"error": "Not found"}'
        length = len(body)
        if fault.cut is not None:
            body = body[: int(len(body) * fault.cut)]
            length = len(body)
        elif fault.hangup:
            body = body[: len(body) // 2]
        handler.send_response(status)
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(length))
        if fault.hangup:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()


@contextlib.contextmanager
def serve_fake_arxiv():
    """A running :class:`FakeArxiv` on 127.0.0.1; held answers are let go when it shuts down."""
    fake = FakeArxiv()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so that a hang-up really cuts a connection short

        def do_GET(self):
            fake.handle(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        fake.closing.set()
        for event in fake.held:
            event.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
