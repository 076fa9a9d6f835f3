"""What the site answers when no route takes a request as it came.

* The same path with or without its trailing slash has a route: a redirect there, to a relative
  Location. Starlette's own (``redirect_slashes``) builds an absolute URL from the Host header, so
  ``Host: evil.example`` on ``/u/alice/`` sent the visitor — and any cache in between — to
  ``http://evil.example/u/alice``.
* The path has routes, but for other methods: 405 whose ``Allow`` lists every method the path takes
  (the router's own lists only the first route it tried: ``GET`` on a path one can also POST to),
  and OPTIONS is answered with 204 and that ``Allow``. A browser's preflight for a cross-origin write
  gets no CORS headers here (``api/cors.py`` answers those for reads only), so it is still refused.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import Receive, Scope, Send

__all__ = ["install", "allowed_methods"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: Characters a path keeps as they are in the Location; everything else is %-escaped (a backslash
#: too, which browsers read as a slash: "/\evil.example" must not become a host).
PATH_SAFE = "/!$&'()*+,;=:@-._~"


def install(app: FastAPI) -> None:
    router = app.router
    router.redirect_slashes = False
    not_found = router.default

    async def slash_or_not_found(scope: Scope, receive: Receive, send: Send) -> None:
        target = _other_slash(router, scope)
        if target is None:
            await not_found(scope, receive, send)
            return
        await RedirectResponse(target, status_code=307)(scope, receive, send)

    router.default = slash_or_not_found


def _probe(scope: Scope, path: str, method: str) -> Scope:
    return {"type": "http", "path": path, "root_path": scope.get("root_path", ""), "method": method, "headers": [], "query_string": b""}


def _other_slash(router: Router, scope: Scope) -> str | None:
    """The relative URL of this path with its trailing slash toggled, if a route takes that; else None."""
    path = scope["path"]
    if scope["type"] != "http" or path == "/":
        return None
    other = path.rstrip("/") if path.endswith("/") else path + "/"
    if not other or other.startswith("//"):  # "//host" as a Location is another site
        return None
    probe = _probe(scope, other, scope["method"])
    if not any(route.matches(probe)[0] != Match.NONE for route in router.routes):
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    return quote(other, safe=PATH_SAFE) + (f"?{query}" if query else "")


def allowed_methods(router: Router, scope: Scope) -> str:
    """The ``Allow`` of this path: the methods some route takes it with, HEAD with GET, and OPTIONS."""
    taken = {m for m in METHODS if any(route.matches(_probe(scope, scope["path"], m))[0] == Match.FULL for route in router.routes)}
    if "GET" in taken:
        taken.add("HEAD")  # app.py's HeadAsGet
    return ", ".join(sorted(taken | {"OPTIONS"}))
