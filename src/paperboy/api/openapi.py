"""The OpenAPI document (``/openapi.json``) and its reader (``/api/docs``, Swagger UI served from here).

FastAPI writes the document from the API routes (pages stay out: ``include_in_schema=False``).
Two corrections: bad input is answered with 400 and the one error shape (``http/errors.py``), not
FastAPI's 422 validation body, so those are replaced; and the document says who we are.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

from paperboy import __version__
from paperboy.http.site import site_of

__all__ = ["install"]

DESCRIPTION = """\
Paperboy's API. **Hugging Face–compatible** endpoints (`/api/daily_papers`, `/api/papers/search`,
`/api/papers/{id}`, `/papers/{id}.md`) answer exactly as huggingface.co does, so `huggingface_hub`
works against this site with `HfApi(endpoint=…)` or `HF_ENDPOINT`. **Paperboy's own** endpoints are
under `/api/v1/`. Reads need no token; writes need an API token with the write scope
(`Authorization: Bearer pb_…`, made in account settings). Every error is `{"error": message,
"status": code}`. Atom feeds, BibTeX and RIS are linked from the pages (`…/feed.atom`, `….bib`, `….ris`).
"""

# Swagger UI is vendored (web/static/vendor/swagger-ui-5.35.0) and started by static/api-docs.js, so
# /api/docs works under the site's strict CSP as it is (tests/test_browser_api.py checks for violations).


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title="Paperboy API", version=__version__, description=DESCRIPTION, routes=app.routes)
        error_ref = {"$ref": "#/components/schemas/Error"}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                validation = responses.get("422", {})
                if "HTTPValidationError" in str(validation):
                    del responses["422"]
                    responses.setdefault("400", {"description": "Bad input", "content": {"application/json": {"schema": error_ref}}})
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi

    @app.get("/api/docs", include_in_schema=False)
    async def api_docs(request: Request) -> HTMLResponse:
        html = site_of(request).templates.get_template("api_docs.html").render()
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
