"""Sign up, log in, log out, and password reset by e-mailed link.

Every POST checks its CSRF token first, then its rate limits, then does the work. Messages for
log-in failures and reset requests are the same whether or not an account exists.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from paperboy.accounts import ratelimit
from paperboy.accounts.passwords import fingerprint
from paperboy.accounts.sessions import create_session, end_all_sessions, end_session
from paperboy.accounts.tokens import RESET_MAX_AGE, TokenInvalid, make_reset_token, read_reset_token
from paperboy.accounts.users import UserError, authenticate, create_user, get_user, get_user_by_email, set_password
from paperboy.store.db import write_transaction
from paperboy.web.context import clear_session_cookie, client_ip, finish, get_viewer, require_csrf, safe_next, set_flash, set_session_cookie
from paperboy.web.pages import render

router = APIRouter()


async def page(request: Request, template: str, status: int = 200, **context) -> Response:
    viewer = await get_viewer(request)
    html = render(request, template, viewer, **context)
    return finish(request, HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"}))


def too_many(retry_after: int) -> str:
    minutes = max(1, round(retry_after / 60))
    return f"Too many attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


async def db(request: Request, fn):
    """Run ``fn(conn)`` in a transaction, in the thread pool (argon2 and SQL must not block the loop)."""
    engine = request.app.state.engine

    def work():
        with write_transaction(engine) as conn:
            return fn(conn)

    return await run_in_threadpool(work)


# --- sign up ---------------------------------------------------------------------------------

@router.get("/signup", include_in_schema=False)
async def signup_form(request: Request) -> Response:
    return await page(request, "signup.html", next=safe_next(request.query_params.get("next")), form={})


@router.post("/signup", include_in_schema=False)
async def signup(request: Request) -> Response:
    form = await require_csrf(request)
    nxt = safe_next(form.get("next"))
    ip = client_ip(request)

    def work(conn):
        verdict = ratelimit.hit(conn, "signup-ip", ip)
        if not verdict.allowed:
            return 429, too_many(verdict.retry_after), None
        try:
            user = create_user(conn, form.get("username", ""), form.get("email", ""), form.get("password", ""))
        except UserError as e:
            return 400, str(e), None
        return 200, None, create_session(conn, user.id)

    status, error, token = await db(request, work)
    if error:
        return await page(request, "signup.html", status, error=error, next=nxt, form={k: form.get(k, "") for k in ("username", "email")})
    response = RedirectResponse(nxt, status_code=303)
    set_session_cookie(request, response, token)
    set_flash(request, response, "Welcome to Paperboy!")
    return response


# --- log in / out ----------------------------------------------------------------------------

@router.get("/login", include_in_schema=False)
async def login_form(request: Request) -> Response:
    return await page(request, "login.html", next=safe_next(request.query_params.get("next")), form={})


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await require_csrf(request)
    nxt = safe_next(form.get("next"))
    login_name = (form.get("login") or "").strip()[:254]
    ip = client_ip(request)

    def work(conn):
        for rule, subject in (("login-ip", ip), ("login-account", login_name.lower())):
            verdict = ratelimit.peek(conn, rule, subject)
            if not verdict.allowed:
                return 429, too_many(verdict.retry_after), None
        user = authenticate(conn, login_name, form.get("password", ""))
        if user is None:
            ratelimit.hit(conn, "login-ip", ip)
            ratelimit.hit(conn, "login-account", login_name.lower())
            return 400, "Wrong username, e-mail or password.", None
        if user.suspended:
            return 403, "This account is suspended.", None
        ratelimit.clear(conn, "login-account", login_name.lower())
        return 200, None, create_session(conn, user.id)

    status, error, token = await db(request, work)
    if error:
        return await page(request, "login.html", status, error=error, next=nxt, form={"login": login_name})
    response = RedirectResponse(nxt, status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    await require_csrf(request)
    viewer = await get_viewer(request)
    if viewer.session_token:
        await db(request, lambda conn: end_session(conn, viewer.session_token))
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response)
    return response


# --- password reset --------------------------------------------------------------------------

@router.get("/reset", include_in_schema=False)
async def reset_form(request: Request) -> Response:
    return await page(request, "reset_request.html")


@router.post("/reset", include_in_schema=False)
async def reset_request(request: Request) -> Response:
    from paperboy.mail.outbox import deliver_pending, enqueue

    form = await require_csrf(request)
    email = (form.get("email") or "").strip()[:254]
    settings = request.app.state.settings
    ip = client_ip(request)

    def work(conn):
        verdict = ratelimit.hit(conn, "reset-ip", ip)
        if not verdict.allowed:
            return too_many(verdict.retry_after), False
        user = get_user_by_email(conn, email)
        if user is None or user.suspended or not ratelimit.hit(conn, "reset-account", str(user.id)).allowed:
            return None, False  # same answer as success: nobody learns who has an account
        token = make_reset_token(settings.secret_key, user.id, user.password_hash)
        link = f"{settings.base_url}/reset/{quote(token)}"
        minutes = RESET_MAX_AGE // 60
        queued = enqueue(
            conn,
            key=f"reset:{user.id}:{hashlib.sha256(token.encode()).hexdigest()[:32]}",
            to=user.email,
            subject="Reset your Paperboy password",
            text=(
                f"Hello {user.username},\n\nSomeone (hopefully you) asked to reset the password of your Paperboy "
                f"account. Open this link within {minutes} minutes to choose a new one:\n\n{link}\n\n"
                "The link works once. If you didn't ask for it, ignore this mail: your password stays as it is.\n"
            ),
        )
        return None, queued

    error, queued = await db(request, work)
    if error:
        return await page(request, "reset_request.html", 429, error=error, form={"email": email})
    response = await page(request, "reset_request.html", sent=True, email=email)
    if queued:
        # Sent after the response has gone out: the request never waits on the mail server.
        response.background = BackgroundTask(deliver_pending, request.app.state.engine, settings)
    return response


def _check_token(conn, settings, token: str):
    user_id, print_ = read_reset_token(settings.secret_key, token)
    user = get_user(conn, user_id)
    if user is None or user.suspended or fingerprint(user.password_hash) != print_:
        raise TokenInvalid("This link has already been used or is no longer valid. Ask for a new one.")
    return user


@router.get("/reset/{token}", include_in_schema=False)
async def reset_password_form(request: Request, token: str) -> Response:
    settings = request.app.state.settings
    try:
        await db(request, lambda conn: _check_token(conn, settings, token))
    except TokenInvalid as e:
        return await page(request, "reset_password.html", 400, error=str(e), token=None)
    return await page(request, "reset_password.html", token=token)


@router.post("/reset/{token}", include_in_schema=False)
async def reset_password(request: Request, token: str) -> Response:
    form = await require_csrf(request)
    settings = request.app.state.settings

    def work(conn):
        user = _check_token(conn, settings, token)
        set_password(conn, user.id, form.get("password", ""))
        end_all_sessions(conn, user.id)  # whoever had the old password is logged out

    try:
        await db(request, work)
    except TokenInvalid as e:
        return await page(request, "reset_password.html", 400, error=str(e), token=None)
    except UserError as e:
        return await page(request, "reset_password.html", 400, error=str(e), token=token)
    response = RedirectResponse("/login", status_code=303)
    set_flash(request, response, "Your password has been changed. Log in with the new one.")
    return response
