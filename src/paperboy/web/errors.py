"""The app's error handlers: every error a route lets through becomes a response here — a log-in
redirect for a page that needs one, otherwise ``http.errors.error_response`` (JSON or the error page).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperboy.errors import DomainError, LoginRequired
from paperboy.http.errors import error_response, status_of, wants_json
from paperboy.web.unmatched import allowed_methods

__all__ = ["install", "login_url", "safe_next"]


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths: "/x" yes; "//evil.example", "https://…", "/\\evil" no."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value or "\r" in value:
        return default
    return value[:2000]


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


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
