"""Who is asking: the session cookie, the CSRF token, flash messages, safe redirects.

* ``pb_session`` — the session token (see accounts/sessions.py). HttpOnly, SameSite=Lax, Secure on https.
* ``pb_csrf`` — a random value; forms carry HMAC(secret, value | session), so a token from another
  site or another session is refused. Set the first time a page with a form is rendered.
* ``pb_flash`` — a signed one-time message shown on the next rendered page (after a redirect).
* ``pb_device`` — marks a browser that has logged in to an account before (accounts/devices.py),
  so a stranger's guessing at the account never locks this browser out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.concurrency import run_in_threadpool

from paperboy import clock
from paperboy.accounts.sessions import SESSION_DAYS, lookup_session, token_hash
from paperboy.accounts.users import User
from paperboy.errors import Forbidden, Invalid, LoginRequired
from paperboy.http.respond import versions
from paperboy.http.site import site_of
from paperboy.web.errors import login_url, safe_next  # noqa: F401  (re-exported for routes)

SESSION_COOKIE = "pb_session"
CSRF_COOKIE = "pb_csrf"
FLASH_COOKIE = "pb_flash"
DEVICE_COOKIE = "pb_device"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(slots=True)
class Viewer:
    """The person making a request: a user or an anonymous visitor, and their CSRF token."""

    user: User | None
    session_token: str | None
    csrf_cookie: str | None
    secret: str
    new_csrf_cookie: bool = False
    flash: str | None = None

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user.is_admin)

    @property
    def csrf_token(self) -> str:
        if not self.csrf_cookie:
            self.csrf_cookie = secrets.token_urlsafe(32)
            self.new_csrf_cookie = True
        return expected_token(self.secret, self.csrf_cookie, self.session_token)


def expected_token(secret: str, cookie: str, session_token: str | None) -> str:
    bound = cookie + "|" + (token_hash(session_token) if session_token else "")
    return hmac.new(secret.encode(), bound.encode(), hashlib.sha256).hexdigest()


class SessionCache:
    """Sessions this process has looked up: token → (user, expiry), valid while the database's
    ``sessions`` version (see ``store.versions.Versions``) is the one they were read at.

    Any log-out, suspension, reset or role change bumps that version in its own transaction, so every
    process forgets what it had at the next request; until then a logged-in request costs no
    session query. Bounded: the least recently used tokens go first.
    """

    def __init__(self, size: int = 10_000):
        self.size = size
        self._entries: OrderedDict[str, tuple[User | None, object]] = OrderedDict()
        self._version: int | None = None
        self._lock = threading.Lock()

    def get(self, token: str, version: int):
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._version = version
                return _MISSING
            found = self._entries.get(token, _MISSING)
            if found is not _MISSING:
                self._entries.move_to_end(token)
            return found

    def put(self, token: str, version: int, user: User | None, expires) -> None:
        with self._lock:
            if version != self._version:
                return  # read under an older version: not worth keeping
            self._entries[token] = (user, expires)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


_MISSING = object()


async def get_viewer(request: Request) -> Viewer:
    """The request's viewer; the session comes from the per-process cache, else from one query."""
    viewer = getattr(request.state, "viewer", None)
    if viewer is not None:
        return viewer
    settings = site_of(request).settings
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    if token and len(token) <= 100:
        sessions: SessionCache = site_of(request).sessions
        version = versions(request).sessions
        found = sessions.get(token, version)
        if found is _MISSING:
            engine = site_of(request).engine

            def load():
                with engine.connect() as conn:
                    return lookup_session(conn, token)

            found = await run_in_threadpool(load)
            sessions.put(token, version, *found)
        user, expires = found
        if user is not None and expires < clock.now():
            user = None
    viewer = Viewer(user=user, session_token=token if user else None, csrf_cookie=request.cookies.get(CSRF_COOKIE), secret=settings.secret_key)
    raw_flash = request.cookies.get(FLASH_COOKIE)
    if raw_flash:
        try:
            viewer.flash = _flash_serializer(settings.secret_key).loads(raw_flash)
        except BadSignature:
            viewer.flash = None
    request.state.viewer = viewer
    return viewer


async def read_form(request: Request) -> dict[str, str]:
    """The posted form's fields, parsed in the thread pool (once a request; files are refused: no
    page takes one). Starlette parses on the event loop: a 1 MiB body of "&" held it for 0.17 s,
    one of "%41" for 0.1 s. The body itself is bounded by ``PAPERBOY_MAX_BODY_BYTES`` (web/limits.py)."""
    form = getattr(request.state, "form", None)
    if form is None:
        body = await request.body()
        form = request.state.form = await run_in_threadpool(_parse_form, request.headers.get("content-type", ""), body)
    return form


def _parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """Starlette's own form parsing (URL-encoded and multipart, the same fields and decoding), run
    on a loop of this worker thread: its parsers are coroutines, though nothing in them waits."""
    from starlette.formparsers import MultiPartException

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def parse():
        return await Request({"type": "http", "headers": [(b"content-type", content_type.encode("latin-1"))]}, receive).form(max_files=0)

    try:
        form = asyncio.run(parse())
    except MultiPartException as e:
        raise Invalid(e.message) from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def require_csrf(request: Request) -> dict:
    """Parse the form and check its CSRF token (or the X-CSRF-Token header htmx sends); 403 if wrong."""
    viewer = await get_viewer(request)
    form = await read_form(request)
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = expected_token(viewer.secret, viewer.csrf_cookie, viewer.session_token) if viewer.csrf_cookie else ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):  # bytes: a non-ASCII str would raise
        raise Forbidden("This form has expired or came from another site. Reload the page and try again.")
    return form


async def require_user(request: Request) -> User:
    viewer = await get_viewer(request)
    if viewer.user is None:
        raise LoginRequired(request.url.path)
    return viewer.user


async def require_admin(request: Request) -> User:
    user = await require_user(request)
    if not user.is_admin:
        raise Forbidden("Only admins can do that.")
    return user


def _flash_serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="paperboy.flash")


def finish(request: Request, response: Response) -> Response:
    """Attach the cookies this request decided on (new CSRF cookie, flash consumed)."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    settings = site_of(request).settings
    if viewer is not None:
        if viewer.new_csrf_cookie:
            response.set_cookie(CSRF_COOKIE, viewer.csrf_cookie, max_age=365 * 86400, httponly=True, samesite="lax", secure=settings.https)
        if viewer.flash is not None and FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE)
    return response


def set_flash(request: Request, response: Response, message: str) -> None:
    settings = site_of(request).settings
    response.set_cookie(FLASH_COOKIE, _flash_serializer(settings.secret_key).dumps(message), max_age=120, httponly=True, samesite="lax", secure=settings.https)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = site_of(request).settings
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_DAYS * 86400, httponly=True, samesite="lax", secure=settings.https)


def set_device_cookie(request: Request, response: Response, cookie: str | None) -> None:
    from paperboy.accounts.devices import DEVICE_DAYS

    if cookie:
        settings = site_of(request).settings
        response.set_cookie(DEVICE_COOKIE, cookie, max_age=DEVICE_DAYS * 86400, httponly=True, samesite="lax", secure=settings.https)


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
