"""How ``paperboy serve`` runs uvicorn: one place for the options, so tests run the same server.

Forwarding headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only when they come
from an address in ``PAPERBOY_TRUSTED_PROXIES`` — the reverse proxy in front of the site. Without
that, any client could name its own address and step around every per-address rate limit.
"""

from __future__ import annotations

import functools
import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from paperboy.config import Settings

__all__ = ["uvicorn_options", "HeadLimitedHttpTools", "http_protocol"]


def uvicorn_options(settings: Settings, *, host: str, port: int, workers: int = 1, log_level: str = "info") -> dict:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` (without the app)."""
    from paperboy.logs import uvicorn_log_config

    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    log_config = uvicorn_log_config(settings, log_level)
    return {
        **({"log_config": log_config} if log_config is not None else {}),
        # SIGTERM: stop accepting, let requests in flight finish (at most this long), then exit.
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": ",".join(proxies) if proxies else None,
        "server_header": False,
        "http": http_protocol(settings),
    }


def http_protocol(settings: Settings):
    """uvicorn's ``http`` option: its httptools protocol with the headers' limit (a partial of a
    class, so ``--workers`` can hand it to the processes it spawns)."""
    return functools.partial(HeadLimitedHttpTools, max_head_bytes=settings.max_header_bytes)


class HeadLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol (the one ``serve`` ran before: uvicorn picks it when httptools
    is installed), with a bound on the request line plus headers, and its own refusals in the API's
    shape under ``/api/``.

    uvicorn and llhttp bound neither: a 1 MB Authorization header was taken, and the parser keeps
    appending to a header it has not seen the end of for as long as the client sends. The limit
    has to be here, where the bytes arrive: the application is only called once the headers are
    whole. Two checks:

    * while a head is still arriving, the bytes received since it began are counted as they come;
      past ``max_head_bytes`` the answer is 431 and the connection is closed, so at most one read
      (≤ 256 KB) more than the limit is ever held;
    * when a head is complete, its size (request target, names and values) is checked exactly, for
      the head that arrived within a single read.

    A request the parser refuses (a malformed line, bad chunked framing) gets 400 as before, but in
    the API's JSON shape under ``/api/``.
    """

    def __init__(self, *args, max_head_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_head_bytes = max_head_bytes
        self.head_bytes = 0  # bytes received since the current head began (an undercount, never over)
        self.reading_head = True
        self.head_too_large = False

    def data_received(self, data: bytes) -> None:
        if self.reading_head:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.reading_head and self.head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self.head_too_large = True
            self.send_400_response("Request header fields too large.")

    def on_headers_complete(self) -> None:
        self.reading_head = False
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:
            self.head_too_large = True
            raise ValueError("head too large")  # stops the parser; uvicorn answers through send_400_response
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_head = True
        self.head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        """The parser's refusal (or ours: 431), closing the connection: JSON under /api/, else plain text."""
        status = 431 if self.head_too_large else 400
        if status == 431:
            msg = f"The request line and headers are larger than this site takes ({self.max_head_bytes:,} bytes)."
        url = getattr(self, "url", b"") or b""
        if url.startswith(b"/api/"):
            body, media = json.dumps({"error": msg, "status": status}, separators=(",", ":")).encode(), b"application/json"
        else:
            body, media = msg.encode(), b"text/plain; charset=utf-8"
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: ", media, b"\r\ncontent-length: ", str(len(body)).encode(), b"\r\nconnection: close\r\n\r\n", body])
        self.transport.write(b"".join(content))
        self.transport.close()
