"""CORS for the public, read-only endpoints: any site may GET them from a browser; nothing that writes.

``Access-Control-Allow-Origin: *`` (never with credentials, so a browser sends no cookies and a
page elsewhere can read only what anyone can) on GET and HEAD answers under ``/api/``, the OpenAPI
document, feeds and citation files; a preflight is answered for GET and HEAD only. POST and
DELETE get no CORS headers at all, so a browser refuses to send a cross-origin write with a token.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PublicCORS", "is_public_read"]

SUFFIXES = (".atom", ".bib", ".ris", ".md")
READS = (b"GET", b"HEAD")
ALLOW = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"ETag, Retry-After, Content-Disposition"),
]
PREFLIGHT = ALLOW + [
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"Accept, Authorization, If-None-Match"),
    (b"access-control-max-age", b"86400"),
]


def is_public_read(path: str) -> bool:
    return (path.startswith("/api/") and path != "/api/docs") or path == "/openapi.json" or path.endswith(SUFFIXES) or path == "/unapi"


class PublicCORS:
    def __init__(self, app: ASGIApp):
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_public_read(scope["path"]):
            await self.app(scope, receive, send)
            return
        method = scope["method"].encode()
        if method == b"OPTIONS":
            headers = dict(scope["headers"])
            if b"origin" in headers and headers.get(b"access-control-request-method", b"").upper() in READS:
                await send({"type": "http.response.start", "status": 204, "headers": PREFLIGHT + [(b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            await self.app(scope, receive, send)  # a preflight for a write: no CORS headers, the browser refuses
            return
        if method not in READS:
            await self.app(scope, receive, send)
            return

        async def with_cors(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + ALLOW
            await send(message)

        await self.app(scope, receive, with_cors)
