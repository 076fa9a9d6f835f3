"""One place that turns errors into responses: an HTML page, or JSON under ``/api/``.

Domain functions raise :class:`~paperboy.errors.DomainError` with a kind; :data:`STATUS` is the
only mapping from kind to HTTP status. Routes that re-show a form with the error next to it use
:func:`status_of` for that page's status; everything else reaches the handlers installed by
:func:`install`.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperboy.errors import DomainError, Kind, LoginRequired
from paperboy.web.unmatched import allowed_methods

__all__ = ["STATUS", "status_of", "wants_json", "error_response", "install", "login_url", "safe_next"]

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


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths: "/x" yes; "//evil.example", "https://…", "/\\evil" no."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value or "\r" in value:
        return default
    return value[:2000]


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


def error_response(request: Request, status: int, detail: str | None, headers: dict | None = None) -> Response:
    """The error as JSON (``{"error": …, "status": …}``) or as the site's error page."""
    message = detail or TITLES.get(status, "Error")
    if wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
    env = request.app.state.templates
    html = env.get_template("error.html").render(
        status=status, title=TITLES.get(status, "Error"), detail=message, viewer=getattr(request.state, "viewer", None),
        request_path=request.url.path, request_url=request.url.path,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        if isinstance(exc, LoginRequired) and not wants_json(request):
            target = login_url(exc.next_path)
            if request.headers.get("hx-request") == "true":  # htmx follows this with a full-page navigation
                return Response(status_code=401, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        return error_response(request, status_of(exc), exc.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # the path has routes, none for this method (web/unmatched.py)
            headers = {**(headers or {}), "Allow": allowed_methods(request.app.router, request.scope)}
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=headers)
        return error_response(request, exc.status_code, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        return error_response(request, 400, f"{where}: {first.get('msg', 'invalid')}" if where else "Bad request")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception):
        return error_response(request, 500, "Something went wrong on our side. It has been logged.")
