"""The request body limit: every body larger than ``PAPERBOY_MAX_BODY_BYTES`` is refused with 413
before it is held whole — at once when its Content-Length says so, else (a chunked body) as soon as
the bytes received pass the limit. Without it one anonymous request could make the process read,
keep and parse any amount (a 17.8 MB body to the API took 1.4 GB and stalled every page for 8 s).

No page uploads files and no form or API body comes near the default of 1 MiB (the largest, a
5,000-character comment, is at most 60 KB as JSON), so one limit serves every route. The headers'
limit is the server's (``web/server.py``): they are held before any of the application runs.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "BodyTooLarge"]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body without a Content-Length passes the limit; the error
    handlers (``web/errors.py``) turn it into the site's 413 page, or the API's JSON error."""

    def __init__(self, limit: int):
        super().__init__(413, f"The request body is larger than this site takes ({limit:,} bytes).")


class BodyLimit:
    """A plain ASGI wrapper (no per-request task) around the FastAPI app, inside the metrics' one.

    A request with a Content-Length over the limit is answered without calling the app, so nothing
    of the body is read. One with a chunked body has its ``receive`` counted; past the limit it
    raises :class:`BodyTooLarge` into whatever was reading it. Either refusal closes the connection
    (``Connection: close``): the server then stops reading the rest instead of draining it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.state = app.state
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = _framing(scope["headers"])
        if length is not None:
            if length > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server hands over no more than Content-Length
            return
        if not chunked:  # neither header: an HTTP/1.1 request without a body
            await self.app(scope, receive, send)
            return

        received = 0
        over = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def closing(message: Message) -> None:
            if over and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, counted, closing)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from paperboy.http.errors import error_response

        request = Request({**scope, "app": self.app}, receive)  # error_response renders with the app's templates
        error = BodyTooLarge(self.max_bytes)
        response = error_response(request, error.status_code, error.detail, {"Connection": "close"})
        await response(scope, receive, send)


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """(Content-Length, whether Transfer-Encoding is given). The HTTP server has already refused
    a malformed or doubled Content-Length (400), so the value here is one whole number."""
    length, chunked = None, False
    for name, value in headers:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked
