"""Account settings: API tokens — made (the secret shown once), listed, revoked.

Each POST checks that someone is logged in and its CSRF token, then calls one function of
``accounts.api_tokens`` in a write transaction. The page that shows a new secret is never cached.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperboy.accounts.api_tokens import MAX_TOKENS, SCOPES, create_token, list_tokens, revoke_token
from paperboy.errors import DomainError
from paperboy.http.errors import status_of
from paperboy.http.run import read, write
from paperboy.http.site import site_of
from paperboy.web.context import require_csrf, require_user
from paperboy.web.views import page

router = APIRouter()


async def _page(request: Request, user, status: int = 200, **context) -> Response:
    tokens = await read(request, lambda conn: list_tokens(conn, user.id))
    return await page(request, "tokens.html", status, tokens=tokens, scopes=SCOPES, max_tokens=MAX_TOKENS,
                      base_url=site_of(request).settings.base_url, **context)  # fmt: skip


@router.get("/settings/tokens", include_in_schema=False)
async def tokens(request: Request) -> Response:
    user = await require_user(request)
    return await _page(request, user)


@router.post("/settings/tokens", include_in_schema=False)
async def make_token(request: Request) -> Response:
    user = await require_user(request)
    form = await require_csrf(request)
    name, scope = (form.get("name") or "")[:200], form.get("scope", "")
    try:
        made = await write(request, lambda conn: create_token(conn, user.id, name, scope))
    except DomainError as e:
        return await _page(request, user, status_of(e), error=str(e), form={"name": name, "scope": scope})
    return await _page(request, user, made=made)


@router.post("/settings/tokens/{token_id:int}/revoke", include_in_schema=False)
async def revoke(request: Request, token_id: int) -> Response:
    user = await require_user(request)
    await require_csrf(request)
    try:
        gone = await write(request, lambda conn: revoke_token(conn, user.id, token_id))
    except DomainError as e:
        return await _page(request, user, status_of(e), error=str(e))
    return await _page(request, user, revoked=gone)
