"""Errors as responses, for both doors: the one mapping from a domain error's kind to a status,
and the error itself as JSON (the API, machine formats, clients that ask) or as the site's page.

Domain functions raise :class:`~paperboy.errors.DomainError` with a kind; :data:`STATUS` is the
only mapping from kind to HTTP status. Routes that re-show a form with the error next to it use
:func:`status_of` for that page's status; everything else reaches the handlers ``web/errors.py``
installs for the whole app.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from paperboy.errors import DomainError, Kind
from paperboy.http.site import site_of

__all__ = ["STATUS", "status_of", "wants_json", "error_response"]

STATUS: dict[Kind, int] = {
    Kind.NOT_FOUND: 404,
    Kind.FORBIDDEN: 403,
    Kind.LOGIN_REQUIRED: 401,
    Kind.CONFLICT: 409,
    Kind.INVALID: 400,
    Kind.UNPROCESSABLE: 422,
    Kind.RATE_LIMITED: 429,
    Kind.UNAVAILABLE: 502,
}

TITLES = {400: "Bad request", 401: "Log in first", 403: "Not allowed", 404: "Not found", 405: "Method not allowed",
          409: "Already there", 413: "Too large", 415: "Unsupported content type", 422: "Refused", 429: "Too many requests",
          431: "Headers too large", 500: "Server error", 502: "arXiv unreachable"}  # fmt: skip


def status_of(error: DomainError) -> int:
    return STATUS[error.kind]


#: Answers for programs (Markdown, feeds, citation files): their errors are JSON too.
MACHINE_SUFFIXES = (".md", ".atom", ".bib", ".ris")


def wants_json(request: Request) -> bool:
    """JSON for the API and for clients that ask for it rather than for a page."""
    path = request.url.path
    if path.startswith("/api/") or path.endswith(MACHINE_SUFFIXES):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: Request, status: int, detail: str | None, headers: dict | None = None) -> Response:
    """The error as JSON (``{"error": …, "status": …}``) or as the site's error page."""
    message = detail or TITLES.get(status, "Error")
    if wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
    env = site_of(request).templates
    html = env.get_template("error.html").render(
        status=status, title=TITLES.get(status, "Error"), detail=message, viewer=getattr(request.state, "viewer", None),
        request_path=request.url.path, request_url=request.url.path,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status, headers=headers)
