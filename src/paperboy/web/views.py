"""What every page uses to answer: render a template for the visitor.

Routes parse input, call one domain function through ``http.run``'s :func:`read` or :func:`write`
(off the event loop, as the API's routes do), and render with :func:`render` / :func:`page`.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from paperboy.http.site import site_of
from paperboy.web.context import Viewer, finish, get_viewer

__all__ = ["render", "page"]


def render(request: Request, template: str, viewer: Viewer | None = None, **context) -> str:
    """Render a template with what every page needs (the viewer for the header, the path)."""
    viewer = viewer or getattr(request.state, "viewer", None)
    return site_of(request).templates.get_template(template).render(
        request_path=request.url.path, request_url=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        viewer=viewer, **context,
    )  # fmt: skip


async def page(request: Request, template: str, status: int = 200, *, cache_control: str = "no-store", **context) -> Response:
    """A page rendered for this visitor (never shared: it may carry their name, forms, flash)."""
    viewer = await get_viewer(request)
    html = render(request, template, viewer, **context)
    return finish(request, HTMLResponse(html, status_code=status, headers={"Cache-Control": cache_control}))
