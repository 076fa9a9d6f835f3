"""The machine-readable side of the site: the HF-compatible API (hf_compat.py), Paperboy's own API
(v1.py), Atom feeds (feeds.py), citations (citations.py), the OpenAPI document (openapi.py), CORS
(cors.py), and the one JSON serializer per thing (serializers.py) shared with the CLI's --json."""

from __future__ import annotations

from fastapi import FastAPI, Request

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Add the API's routes — before the pages', whose ``/papers/{id:path}`` catches everything — and its error handler."""
    from paperboy.accounts.api_tokens import TokenRefused
    from paperboy.api import citations, feeds, hf_compat, openapi, v1
    from paperboy.http.errors import error_response

    app.include_router(v1.router)
    app.include_router(v1.legacy)
    app.include_router(feeds.router)
    app.include_router(citations.router)
    app.include_router(hf_compat.router)
    openapi.install(app)

    @app.exception_handler(TokenRefused)
    async def token_refused(request: Request, exc: TokenRefused):
        return error_response(request, 401, exc.message, {"WWW-Authenticate": 'Bearer realm="paperboy"'})
