"""Sign up, log in, log out, password reset by e-mailed link, and confirming the account's address:
the pages around ``accounts.flows`` and ``accounts.verification``.

Each POST checks its CSRF token, calls one flow in a write transaction (in the thread pool: argon2
and SQL must not block the event loop) and renders; a refused form is shown again with the error.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.background import BackgroundTask

from paperboy.accounts import flows, verification
from paperboy.digest.subscriptions import link_verified_account
from paperboy.errors import DomainError
from paperboy.http.errors import status_of
from paperboy.http.run import deliver_soon, write
from paperboy.http.site import site_of
from paperboy.web.context import (
    DEVICE_COOKIE,
    clear_session_cookie,
    client_ip,
    get_viewer,
    require_csrf,
    require_user,
    safe_next,
    set_device_cookie,
    set_flash,
    set_session_cookie,
)
from paperboy.web.views import page

router = APIRouter()


def _signed_in(request: Request, done: flows.SignedIn, to: str, flash: str | None = None) -> Response:
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(request, response, done.session_token)
    set_device_cookie(request, response, done.device_cookie)
    if flash:
        set_flash(request, response, flash)
    return deliver_soon(request, response, done.mail_key)



# --- sign up ---------------------------------------------------------------------------------

@router.get("/signup", include_in_schema=False)
async def signup_form(request: Request) -> Response:
    return await page(request, "signup.html", next=safe_next(request.query_params.get("next")), form={})


@router.post("/signup", include_in_schema=False)
async def signup(request: Request) -> Response:
    form = await require_csrf(request)
    nxt = safe_next(form.get("next"))
    try:
        done = await write(request, lambda conn: flows.sign_up(
            conn, site_of(request).settings, username=form.get("username", ""), email=form.get("email", ""),
            password=form.get("password", ""), ip=client_ip(request)))  # fmt: skip
    except DomainError as e:
        return await page(request, "signup.html", status_of(e), error=str(e), next=nxt,
                          form={k: form.get(k, "") for k in ("username", "email")})  # fmt: skip
    return _signed_in(request, done, nxt, f"Welcome to Paperboy! We have mailed a link to {done.user.email}: "
                                          "open it to confirm that the address is yours.")  # fmt: skip


# --- log in / out ----------------------------------------------------------------------------

@router.get("/login", include_in_schema=False)
async def login_form(request: Request) -> Response:
    return await page(request, "login.html", next=safe_next(request.query_params.get("next")), form={})


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await require_csrf(request)
    nxt = safe_next(form.get("next"))
    login_name = (form.get("login") or "").strip()[:254]
    viewer = await get_viewer(request)
    try:
        done = await write(request, lambda conn: flows.log_in(
            conn, login=login_name, password=form.get("password", ""), ip=client_ip(request),
            secret=site_of(request).settings.secret_key, device_cookie=request.cookies.get(DEVICE_COOKIE),
            previous_session=viewer.session_token))  # fmt: skip
    except DomainError as e:
        return await page(request, "login.html", status_of(e), error=str(e), next=nxt, form={"login": login_name})
    return _signed_in(request, done, nxt)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    await require_csrf(request)
    viewer = await get_viewer(request)
    await write(request, lambda conn: flows.log_out(conn, viewer.session_token))
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response)
    return response


# --- password reset --------------------------------------------------------------------------

@router.get("/reset", include_in_schema=False)
async def reset_form(request: Request) -> Response:
    return await page(request, "reset_request.html")


@router.post("/reset", include_in_schema=False)
async def reset_request(request: Request) -> Response:
    from paperboy.digest.delivery import deliver

    form = await require_csrf(request)
    email = (form.get("email") or "").strip()[:254]
    settings = site_of(request).settings
    try:
        queued = await write(request, lambda conn: flows.request_reset(conn, settings, email=email, ip=client_ip(request)))
    except DomainError as e:
        return await page(request, "reset_request.html", status_of(e), error=str(e), form={"email": email})
    response = await page(request, "reset_request.html", sent=True, email=email)
    if queued:
        # Sent after the response has gone out: the request never waits on the mail server.
        response.background = BackgroundTask(deliver, site_of(request).engine, settings)
    return response


@router.get("/reset/{token}", include_in_schema=False)
async def reset_password_form(request: Request, token: str) -> Response:
    secret = site_of(request).settings.secret_key
    try:
        await write(request, lambda conn: flows.user_for_reset(conn, secret, token))
    except DomainError as e:
        return await page(request, "reset_password.html", status_of(e), error=str(e), token=None)
    return await page(request, "reset_password.html", token=token)


@router.post("/reset/{token}", include_in_schema=False)
async def reset_password(request: Request, token: str) -> Response:
    from paperboy.accounts.tokens import TokenInvalid

    form = await require_csrf(request)
    secret = site_of(request).settings.secret_key
    try:
        device = await write(request, lambda conn: flows.reset_password(conn, secret, token, form.get("password", ""), ip=client_ip(request),
                                                                        on_verified=link_verified_account))
    except DomainError as e:
        # A bad link cannot be retried; a bad new password can, with the same link.
        return await page(request, "reset_password.html", status_of(e), error=str(e),
                          token=None if isinstance(e, TokenInvalid) else token)  # fmt: skip
    response = RedirectResponse("/login", status_code=303)
    set_device_cookie(request, response, device)
    set_flash(request, response, "Your password has been changed. Log in with the new one.")
    return response


# --- confirming the account's address ----------------------------------------------------------

@router.get(verification.VERIFY_PAGE, include_in_schema=False)
async def verify_status(request: Request) -> Response:
    """Whether the account's address is confirmed, and a button to mail the link again."""
    return await page(request, "verify.html", user=await require_user(request))


@router.post(verification.VERIFY_PAGE, include_in_schema=False)
async def verify_resend(request: Request) -> Response:
    await require_csrf(request)
    user = await require_user(request)
    settings = site_of(request).settings
    try:
        key = await write(request, lambda conn: verification.send_confirmation(conn, settings, user))
    except DomainError as e:
        return await page(request, "verify.html", status_of(e), error=str(e), user=user)
    return deliver_soon(request, await page(request, "verify.html", user=user, sent=True), key)


@router.get("/verify/{token}", include_in_schema=False)
async def verify_form(request: Request, token: str) -> Response:
    """A page with a button, not the confirmation itself: mail scanners follow links, people press buttons."""
    from paperboy.accounts.tokens import read_verify_token

    try:
        read_verify_token(site_of(request).settings.secret_key, token)
    except DomainError as e:
        return await page(request, "verify_link.html", status_of(e), error=str(e), token=None)
    return await page(request, "verify_link.html", token=token)


@router.post("/verify/{token}", include_in_schema=False)
async def verify(request: Request, token: str) -> Response:
    await require_csrf(request)
    secret = site_of(request).settings.secret_key
    try:
        user = await write(request, lambda conn: verification.confirm_address(conn, secret, token, ip=client_ip(request),
                                                                               on_verified=link_verified_account))
    except DomainError as e:
        return await page(request, "verify_link.html", status_of(e), error=str(e), token=None)
    response = RedirectResponse(verification.VERIFY_PAGE if (await get_viewer(request)).user else "/login", status_code=303)
    set_flash(request, response, f"Thank you: {user.email} is confirmed as the address of {user.username}.")
    return response
