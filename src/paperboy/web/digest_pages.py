"""The digest's pages: subscribe, confirm, preferences (by mailed link or in the account),
unsubscribe (including RFC 8058 one-click), preview — the pages around ``digest.subscriptions``.

CSRF: every form carries its token, with two exceptions, each authenticated another way.

* The subscribe box on feeds: anonymous feeds are one cached page for everybody, so their form has
  no per-visitor token. Its POST is accepted when the browser says it came from this site — the
  ``Origin`` header (or ``Sec-Fetch-Site: same-origin``), which browsers send with every form POST
  and pages cannot forge. A POST that names another origin is refused. (Double opt-in means even a
  forged subscription only sends one confirmation link.)
* ``POST /digest/unsubscribe/{token}``: the ``List-Unsubscribe-Post`` target. Mail providers send
  it with no cookie and no form token (RFC 8058); the signed token in the URL is the authority, and
  unsubscribing twice changes nothing, so no CSRF check applies.
"""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from paperboy.accounts.verification import require_verified
from paperboy.digest import subscriptions as subs
from paperboy.errors import DomainError, Forbidden
from paperboy.http.errors import status_of
from paperboy.http.run import deliver_soon, read, write
from paperboy.http.site import site_of
from paperboy.web.context import client_ip, get_viewer, read_form, require_csrf, require_user, set_flash
from paperboy.web.views import page

router = APIRouter()

STATE_TEXT = {
    "active": "subscribed.",
    "pending": "waiting for you to click the confirmation link we mailed.",
    "unsubscribed": "unsubscribed: nothing is sent.",
    "bounced": "paused: mail to this address kept bouncing. Subscribe again to resume.",
}



async def _subscribe_form(request: Request) -> dict:
    """The form, CSRF-checked — by its token, or for the cached feeds' box by the browser's Origin."""
    viewer = await get_viewer(request)
    form = await read_form(request)
    if form.get("csrf_token") or viewer.user is not None:
        return await require_csrf(request)
    if not _same_origin(request):
        raise Forbidden("This form came from another site. Subscribe from Paperboy's own pages.")
    return form


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin and origin != "null":
        ours = {_origin(site_of(request).settings.base_url), _origin(str(request.base_url))}
        return origin.rstrip("/") in ours
    if fetch_site:
        return fetch_site in ("same-origin", "none")
    return origin is None  # no browser sends neither on a cross-site form POST


def _origin(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


@router.get("/digest/subscribe", include_in_schema=False)
async def subscribe_form(request: Request) -> Response:
    return await page(request, "digest/subscribe.html", email=request.query_params.get("email", "")[:254])


@router.post("/digest/subscribe", include_in_schema=False)
async def subscribe(request: Request) -> Response:
    form = await _subscribe_form(request)
    viewer = await get_viewer(request)
    settings = site_of(request).settings
    email = (form.get("email") or "").strip()[:254]
    try:
        key = await write(request, lambda conn: subs.subscribe(conn, settings, email=email, ip=client_ip(request), user=viewer.user))
    except DomainError as e:
        return await page(request, "digest/subscribe.html", status_of(e), error=str(e), email=email)
    shown = viewer.user.email if viewer.user else email
    return deliver_soon(request, await page(request, "digest/subscribe.html", sent=True, email=shown), key)


@router.get("/digest/confirm/{token}", include_in_schema=False)
async def confirm_form(request: Request, token: str) -> Response:
    """A page with a button, not a confirmation: mail scanners follow links, people press buttons."""
    secret = site_of(request).settings.secret_key
    settings = site_of(request).settings
    try:
        from paperboy.digest.tokens import read_confirm_token

        sub_id, _ = read_confirm_token(secret, token, max_age=settings.digest_confirm_hours * 3600)
        sub = await read(request, lambda conn: subs.get_subscriber(conn, sub_id))
        if sub is None:
            raise subs.TokenInvalid("This link is no longer valid. Subscribe again to get a new one.")
    except DomainError as e:
        return await page(request, "digest/confirm.html", status_of(e), error=str(e), token=None)
    return await page(request, "digest/confirm.html", token=token, email=sub.email)


@router.post("/digest/confirm/{token}", include_in_schema=False)
async def confirm(request: Request, token: str) -> Response:
    await require_csrf(request)
    settings = site_of(request).settings
    try:
        sub = await write(request, lambda conn: subs.confirm(conn, settings, token))
    except DomainError as e:
        return await page(request, "digest/confirm.html", status_of(e), error=str(e), token=None)
    from paperboy.digest.tokens import make_manage_token

    response = RedirectResponse(f"/digest/preferences/{make_manage_token(settings.secret_key, sub)}", status_code=303)
    set_flash(request, response, "Subscribed! Your first digest comes with the next edition. Pick what it holds below.")
    return response


async def _by_token(request: Request, token: str):
    secret = site_of(request).settings.secret_key
    return await read(request, lambda conn: subs.subscriber_for_token(conn, secret, token))


@router.get("/digest/preferences/{token}", include_in_schema=False)
async def preferences_form(request: Request, token: str) -> Response:
    try:
        sub = await _by_token(request, token)
    except DomainError as e:
        return await page(request, "digest/preferences.html", status_of(e), error=str(e), sub=None)
    return await _preferences_page(request, token, sub)


def _submitted(form: dict) -> SimpleNamespace:
    """What a refused form had in it, shown again as typed (not as it is stored)."""
    return SimpleNamespace(frequency=form.get("frequency", ""), trending_count=form.get("trending_count", ""),
                           personal_count=form.get("personal_count", ""), keywords=form.get("keywords", ""),
                           authors=form.get("authors", ""), categories=form.get("categories", ""),
                           more_like_votes=form.get("more_like_votes") in ("1", "on", "true"))  # fmt: skip


async def _preferences_page(request: Request, token: str, sub, status: int = 200, **extra) -> Response:
    extra.setdefault("values", sub)
    return await page(request, "digest/preferences.html", status, sub=sub, token=token, state_text=STATE_TEXT[sub.status],
                      action=f"/digest/preferences/{token}", unsubscribe_action=f"/digest/unsubscribe/{token}",
                      linked=sub.user_id is not None, max_trending=subs.MAX_TRENDING, max_personal=subs.MAX_PERSONAL, **extra)  # fmt: skip


@router.post("/digest/preferences/{token}", include_in_schema=False)
async def preferences(request: Request, token: str) -> Response:
    form = await require_csrf(request)
    secret = site_of(request).settings.secret_key
    try:
        prefs = subs.Preferences.from_form(form)
        sub = await write(request, lambda conn: subs.update_preferences(conn, subs.subscriber_for_token(conn, secret, token), prefs))
    except DomainError as e:
        try:
            sub = await _by_token(request, token)
        except DomainError:
            return await page(request, "digest/preferences.html", status_of(e), error=str(e), sub=None)
        return await _preferences_page(request, token, sub, status_of(e), error=str(e), values=_submitted(form))
    return await _preferences_page(request, token, sub, saved=True)


@router.post("/digest/preferences/{token}/resubscribe", include_in_schema=False)
async def resubscribe(request: Request, token: str) -> Response:
    await require_csrf(request)
    secret = site_of(request).settings.secret_key
    try:
        sub = await write(request, lambda conn: subs.resubscribe(conn, subs.subscriber_for_token(conn, secret, token)))
    except DomainError as e:
        return await page(request, "digest/preferences.html", status_of(e), error=str(e), sub=None)
    return await _preferences_page(request, token, sub)


@router.get("/digest/unsubscribe/{token}", include_in_schema=False)
async def unsubscribe_form(request: Request, token: str) -> Response:
    try:
        sub = await _by_token(request, token)
    except DomainError as e:
        return await page(request, "digest/unsubscribe.html", status_of(e), error=str(e), token=None)
    return await page(request, "digest/unsubscribe.html", token=token, email=sub.email, done=sub.status == "unsubscribed")


@router.post("/digest/unsubscribe/{token}", include_in_schema=False)
async def unsubscribe(request: Request, token: str) -> Response:
    """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``) and the page's button alike: no
    cookie, no CSRF token — the signed token is the authority (see the module docstring)."""
    secret = site_of(request).settings.secret_key
    try:
        sub = await write(request, lambda conn: subs.unsubscribe(conn, subs.subscriber_for_token(conn, secret, token)))
    except DomainError as e:
        return await page(request, "digest/unsubscribe.html", status_of(e), error=str(e), token=None)
    return await page(request, "digest/unsubscribe.html", token=token, email=sub.email, done=True)


# --- the account's digest settings -------------------------------------------------------------
# Only for an account that has confirmed its address (accounts/verification.py): before that the
# page says so and links to the "send the link again" page; its forms are refused by the domain.

async def _settings_page(request: Request, user, status: int = 200, **extra) -> Response:
    sub = await read(request, lambda conn: subs.subscriber_for_user(conn, user))
    extra.setdefault("values", sub)
    return await page(request, "digest/settings.html", status, sub=sub, state_text=STATE_TEXT[sub.status] if sub else "",
                      max_trending=subs.MAX_TRENDING, max_personal=subs.MAX_PERSONAL, **extra)  # fmt: skip


@router.get("/digest/settings", include_in_schema=False)
async def account_settings_form(request: Request) -> Response:
    return await _settings_page(request, await require_user(request))


@router.post("/digest/settings", include_in_schema=False)
async def account_settings(request: Request) -> Response:
    form = await require_csrf(request)
    user = await require_user(request)
    settings = site_of(request).settings
    try:
        prefs = subs.Preferences.from_form(form)
        await write(request, lambda conn: subs.settings_for_user(conn, settings, user, prefs))
    except DomainError as e:
        return await _settings_page(request, user, status_of(e), error=str(e), values=_submitted(form))
    return await _settings_page(request, user, saved=True)


@router.post("/digest/settings/unsubscribe", include_in_schema=False)
async def account_unsubscribe(request: Request) -> Response:
    await require_csrf(request)
    user = await require_user(request)

    def work(conn):
        sub = subs.subscriber_for_user(conn, require_verified(user))
        return subs.unsubscribe(conn, sub) if sub else None

    try:
        await write(request, work)
    except DomainError as e:
        return await _settings_page(request, user, status_of(e), error=str(e))
    return await _settings_page(request, user)


# --- preview -----------------------------------------------------------------------------------

# The mail's HTML uses inline styles (mail clients need them), which the site's CSP forbids; the
# preview gets its own policy instead: no scripts at all, no forms, nothing loaded from elsewhere.
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox"


@router.get("/digest/preview", include_in_schema=False)
async def preview(request: Request) -> Response:
    """The next edition as its reader would get it (logged in: your own; otherwise the default).
    ``?edition=2026-06-30`` (or ``2026-W27``) picks another, ``?part=text`` shows the text part."""
    from paperboy import clock
    from paperboy.digest.editions import parse_edition
    from paperboy.digest.schedule import latest_daily_edition
    from paperboy.digest.send import preview as preview_edition

    viewer = await get_viewer(request)
    settings = site_of(request).settings
    raw = request.query_params.get("edition")
    edition = parse_edition(raw) if raw else latest_daily_edition(clock.now(), settings)
    search = site_of(request).search

    def work():
        return preview_edition(site_of(request).engine, settings, edition, search=search, user=viewer.user)[0]

    from starlette.concurrency import run_in_threadpool

    mail = await run_in_threadpool(work)
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": PREVIEW_CSP}
    if request.query_params.get("part") == "text":
        return PlainTextResponse(mail.text, headers=headers)
    return HTMLResponse(mail.html, headers=headers)
