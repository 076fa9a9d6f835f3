"""Community pages: upvotes (htmx), submissions, comments, authorship claims, profiles, moderation.

Each POST checks who may do it (logged in — a suspended user's sessions are gone, so they arrive
logged out — or an admin), then its CSRF token, then calls one domain function in a write
transaction; refusals are DomainErrors, answered by the handlers in ``web/errors.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperboy.community import moderation
from paperboy.community.claims import claim, decide_claim
from paperboy.community.comments import delete_comment, edit_comment, post_comment
from paperboy.community.submissions import submit_paper
from paperboy.community.votes import vote as cast_vote
from paperboy.community.votes import voted_ids
from paperboy.errors import DomainError, Invalid, LoginRequired
from paperboy.feed.views import profile_view
from paperboy.http.errors import status_of
from paperboy.http.run import read, write
from paperboy.http.site import site_of
from paperboy.papers.tex import plain_text
from paperboy.web.context import finish, get_viewer, require_admin, require_csrf, require_user, safe_next, set_flash
from paperboy.web.views import page, render

router = APIRouter()


def _redirect(to: str, flash: str | None = None, request: Request | None = None) -> Response:
    response = RedirectResponse(to, status_code=303)
    if flash and request is not None:
        set_flash(request, response, flash)
    return response


# --- votes -----------------------------------------------------------------------------------

@router.post("/papers/{arxiv_id:path}/vote", include_in_schema=False)
async def vote(request: Request, arxiv_id: str) -> Response:
    viewer = await get_viewer(request)
    if viewer.user is None:
        raise LoginRequired(f"/papers/{arxiv_id}")
    form = await require_csrf(request)
    user_id = viewer.user.id
    paper, voted, count = await write(request, lambda conn: cast_vote(conn, user_id, arxiv_id, form.get("up") == "1"))
    if request.headers.get("hx-request") == "true":
        html = site_of(request).templates.get_template("_personal.html").module.vote_widget(
            paper.arxiv_id, count, voted, viewer, form.get("inline") == "1", plain_text(paper.title))
        return finish(request, HTMLResponse(str(html)))
    return _redirect(safe_next(form.get("next"), f"/papers/{paper.arxiv_id}"))


# --- submissions -----------------------------------------------------------------------------

@router.get("/submit", include_in_schema=False)
async def submit_form(request: Request) -> Response:
    await require_user(request)
    return await page(request, "submit.html", form={})


@router.post("/submit", include_in_schema=False)
async def submit(request: Request) -> Response:
    user = await require_user(request)
    form = await require_csrf(request)
    text = (form.get("paper") or "").strip()[:300]
    settings = site_of(request).settings
    engine = site_of(request).engine
    client = site_of(request).arxiv_client
    try:
        done = await run_in_threadpool(submit_paper, engine, client, settings, user, text)
    except DomainError as e:  # a refusal (SubmitError) or the rate limit
        return await page(request, "submit.html", status_of(e), error=str(e), existing=e.context.get("paper"), form={"paper": text})
    return _redirect(f"/papers/{done.arxiv_id}", "Thanks! The paper is on today's feed.", request)


# --- comments --------------------------------------------------------------------------------

@router.post("/papers/{arxiv_id:path}/comments", include_in_schema=False)
async def comment(request: Request, arxiv_id: str) -> Response:
    user = await require_user(request)
    form = await require_csrf(request)
    paper_id, pk = await write(request, lambda conn: post_comment(conn, user.id, arxiv_id, form.get("body", "")))
    return _redirect(f"/papers/{paper_id}#c{pk}")


@router.post("/comments/{comment_id:int}/edit", include_in_schema=False)
async def comment_edit(request: Request, comment_id: int) -> Response:
    user = await require_user(request)
    form = await require_csrf(request)
    paper_id = await write(request, lambda conn: edit_comment(conn, comment_id, user.id, form.get("body", "")))
    return _redirect(f"/papers/{paper_id}#comments")


@router.post("/comments/{comment_id:int}/delete", include_in_schema=False)
async def comment_delete(request: Request, comment_id: int) -> Response:
    user = await require_user(request)
    await require_csrf(request)
    paper_id = await write(request, lambda conn: delete_comment(conn, comment_id, user.id))
    return _redirect(f"/papers/{paper_id}#comments")


@router.post("/admin/comments/{comment_id:int}/hide", include_in_schema=False)
async def comment_hide(request: Request, comment_id: int) -> Response:
    admin = await require_admin(request)
    form = await require_csrf(request)
    hidden = form.get("hidden", "1") == "1"
    paper_id = await write(request, lambda conn: moderation.hide_comment(conn, admin.id, comment_id, hidden, form.get("reason", "")))
    return _redirect(f"/papers/{paper_id}#comments")


# --- authorship claims -----------------------------------------------------------------------

@router.post("/papers/{arxiv_id:path}/claim", include_in_schema=False)
async def claim_author(request: Request, arxiv_id: str) -> Response:
    user = await require_user(request)
    form = await require_csrf(request)
    raw = form.get("position", "")
    if not raw.isdigit():
        raise Invalid("Choose which author you are.")
    paper_id = await write(request, lambda conn: claim(conn, user.id, arxiv_id, int(raw)))
    return _redirect(f"/papers/{paper_id}", "Thanks: an admin will review your claim.", request)


# --- profiles --------------------------------------------------------------------------------

@router.get("/u/{username}", include_in_schema=False)
async def profile(request: Request, username: str) -> Response:
    viewer = await get_viewer(request)

    def load(conn):
        found = profile_view(conn, username, moderator=viewer.is_admin)
        mine = voted_ids(conn, viewer.user.id, [p.id for p in found.submitted + found.upvoted]) if viewer.user else set()
        return found, mine

    found, mine = await read(request, load)
    html = render(request, "profile.html", viewer, person=found.person, submitted=found.submitted, upvoted=found.upvoted,
                  verified=found.verified, voted=mine)  # fmt: skip
    return finish(request, HTMLResponse(html, headers={"Cache-Control": "private, no-cache"}))


# --- moderation ------------------------------------------------------------------------------

@router.get("/admin", include_in_schema=False)
async def admin(request: Request) -> Response:
    await require_admin(request)
    overview = await read(request, moderation.admin_overview)
    return await page(request, "admin.html", claims=overview.claims, entries=overview.entries)


@router.post("/admin/papers/{arxiv_id:path}/hide", include_in_schema=False)
async def paper_hide(request: Request, arxiv_id: str) -> Response:
    admin_user = await require_admin(request)
    form = await require_csrf(request)
    hidden = form.get("hidden", "1") == "1"
    paper_id = await write(request, lambda conn: moderation.hide_paper(conn, admin_user.id, arxiv_id, hidden, form.get("reason", "")))
    return _redirect(f"/papers/{paper_id}", "Paper hidden from every feed." if hidden else "Paper visible again.", request)


@router.post("/admin/users/{username}/suspend", include_in_schema=False)
async def user_suspend(request: Request, username: str) -> Response:
    admin_user = await require_admin(request)
    form = await require_csrf(request)
    suspended = form.get("suspended", "1") == "1"
    name = await write(request, lambda conn: moderation.suspend_user(conn, admin_user.id, username, suspended, form.get("reason", "")))
    return _redirect(f"/u/{name}", f"{name} is {'suspended' if suspended else 'no longer suspended'}.", request)


@router.post("/admin/claims/{claim_id:int}", include_in_schema=False)
async def claim_decide(request: Request, claim_id: int) -> Response:
    admin_user = await require_admin(request)
    form = await require_csrf(request)
    await write(request, lambda conn: decide_claim(conn, admin_user.id, claim_id, form.get("decision") == "approve"))
    return _redirect("/admin")

