"""Community actions: upvotes (htmx), submissions, comments, authorship claims, profiles, moderation.

Each POST: CSRF check, then who may do it (logged in, not suspended — a suspended user's sessions
are gone, so they arrive logged out — and for others' things, admin), then a rate limit, then the
work in one transaction.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from paperboy.accounts import ratelimit
from paperboy.accounts.users import get_user_by_name
from paperboy.community import moderation
from paperboy.community.claims import ClaimError, claim_authorship, claimed_papers, decide_claim, pending_claims
from paperboy.community.comments import CommentError, add_comment, delete_comment, edit_comment, get_comment
from paperboy.community.submissions import SubmitError, submit_paper
from paperboy.community.votes import set_vote, voted_ids
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.store import repo
from paperboy.store.schema import papers, votes
from paperboy.web.account_pages import db, page, too_many
from paperboy.web.context import finish, get_viewer, login_url, require_admin, require_csrf, require_user, safe_next, set_flash
from paperboy.web.pages import render

router = APIRouter()


def _paper_or_404(conn, arxiv_id: str):
    try:
        parsed = parse_arxiv_id(arxiv_id)
    except InvalidArxivId:
        raise HTTPException(404, "No such paper.") from None
    paper = repo.get_paper(conn, parsed.id)
    if paper is None:
        raise HTTPException(404, "No such paper.")
    return paper


def _back(request: Request, form: dict, default: str) -> str:
    return safe_next(form.get("next"), default)


# --- votes -----------------------------------------------------------------------------------

@router.post("/papers/{arxiv_id:path}/vote", include_in_schema=False)
async def vote(request: Request, arxiv_id: str) -> Response:
    viewer = await get_viewer(request)
    htmx = request.headers.get("hx-request") == "true"
    if viewer.user is None:
        target = login_url(f"/papers/{arxiv_id}")
        if htmx:  # htmx follows this header with a full-page navigation
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    form = await require_csrf(request)
    up = form.get("up") == "1"
    user = viewer.user

    def work(conn):
        paper = _paper_or_404(conn, arxiv_id)
        if paper.hidden_at:
            raise HTTPException(404, "No such paper.")
        if not ratelimit.hit(conn, "vote-user", str(user.id)).allowed:
            raise HTTPException(429, "You are voting too fast. Wait a minute.")
        voted, count = set_vote(conn, user.id, paper.id, up)
        return paper, voted, count

    paper, voted, count = await db(request, work)
    if htmx:
        html = request.app.state.templates.get_template("_vote.html").module.vote_widget(
            paper.arxiv_id, count, voted, viewer
        )
        return finish(request, HTMLResponse(str(html)))
    return RedirectResponse(_back(request, form, f"/papers/{paper.arxiv_id}"), status_code=303)


# --- submissions -----------------------------------------------------------------------------

@router.get("/submit", include_in_schema=False)
async def submit_form(request: Request) -> Response:
    await require_user(request)
    return await page(request, "submit.html", form={})


@router.post("/submit", include_in_schema=False)
async def submit(request: Request) -> Response:
    from paperboy.ingest.arxiv_api import client_from_settings

    user = await require_user(request)
    form = await require_csrf(request)
    text = (form.get("paper") or "").strip()[:300]
    settings = request.app.state.settings
    engine = request.app.state.engine
    if not user.is_admin:
        verdict = await db(request, lambda conn: ratelimit.hit(conn, "submit-user", str(user.id)))
        if not verdict.allowed:
            return await page(request, "submit.html", 429, error=too_many(verdict.retry_after), form={"paper": text})
    client = getattr(request.app.state, "arxiv_client", None)
    if client is None:  # one client per process, so its politeness interval holds across requests
        client = request.app.state.arxiv_client = client_from_settings(settings, engine)
    try:
        done = await run_in_threadpool(submit_paper, engine, client, settings, user, text)
    except SubmitError as e:
        return await page(request, "submit.html", e.status, error=str(e), existing=e.paper, form={"paper": text})
    response = RedirectResponse(f"/papers/{done.arxiv_id}", status_code=303)
    set_flash(request, response, "Thanks! The paper is on today's feed.")
    return response


# --- comments --------------------------------------------------------------------------------

@router.post("/papers/{arxiv_id:path}/comments", include_in_schema=False)
async def comment(request: Request, arxiv_id: str) -> Response:
    user = await require_user(request)
    form = await require_csrf(request)

    def work(conn):
        paper = _paper_or_404(conn, arxiv_id)
        if paper.hidden_at:
            raise HTTPException(404, "No such paper.")
        verdict = ratelimit.hit(conn, "comment-user", str(user.id))
        if not verdict.allowed:
            raise HTTPException(429, too_many(verdict.retry_after))
        pk = add_comment(conn, paper.id, user.id, form.get("body", ""))
        return paper, pk

    try:
        paper, pk = await db(request, work)
    except CommentError as e:
        raise HTTPException(400, str(e)) from None
    return RedirectResponse(f"/papers/{paper.arxiv_id}#c{pk}", status_code=303)


async def _comment_action(request: Request, comment_id: int, action) -> Response:
    user = await require_user(request)
    form = await require_csrf(request)

    def work(conn):
        found = get_comment(conn, comment_id)
        if found is None:
            raise HTTPException(404, "No such comment.")
        action(conn, user, form)
        return conn.execute(select(papers.c.arxiv_id).where(papers.c.id == found.paper_id)).scalar()

    try:
        arxiv_id = await db(request, work)
    except (CommentError, moderation.ModerationError) as e:
        raise HTTPException(403 if "own" in str(e) else 400, str(e)) from None
    return RedirectResponse(f"/papers/{arxiv_id}#comments", status_code=303)


@router.post("/comments/{comment_id:int}/edit", include_in_schema=False)
async def comment_edit(request: Request, comment_id: int) -> Response:
    return await _comment_action(request, comment_id, lambda conn, user, form: edit_comment(conn, comment_id, user.id, form.get("body", "")))


@router.post("/comments/{comment_id:int}/delete", include_in_schema=False)
async def comment_delete(request: Request, comment_id: int) -> Response:
    return await _comment_action(request, comment_id, lambda conn, user, form: delete_comment(conn, comment_id, user.id))


@router.post("/admin/comments/{comment_id:int}/hide", include_in_schema=False)
async def comment_hide(request: Request, comment_id: int) -> Response:
    await require_admin(request)
    return await _comment_action(
        request, comment_id,
        lambda conn, user, form: moderation.hide_comment(conn, user.id, comment_id, form.get("hidden", "1") == "1", form.get("reason", "")),
    )  # fmt: skip


# --- authorship claims -----------------------------------------------------------------------

@router.post("/papers/{arxiv_id:path}/claim", include_in_schema=False)
async def claim(request: Request, arxiv_id: str) -> Response:
    user = await require_user(request)
    form = await require_csrf(request)
    raw = form.get("position", "")
    if not raw.isdigit():
        raise HTTPException(400, "Choose which author you are.")

    def work(conn):
        paper = _paper_or_404(conn, arxiv_id)
        if not ratelimit.hit(conn, "claim-user", str(user.id)).allowed:
            raise HTTPException(429, "Too many claims. Try again later.")
        claim_authorship(conn, user.id, paper.id, int(raw))
        return paper

    try:
        paper = await db(request, work)
    except ClaimError as e:
        raise HTTPException(400, str(e)) from None
    response = RedirectResponse(f"/papers/{paper.arxiv_id}", status_code=303)
    set_flash(request, response, "Thanks: an admin will review your claim.")
    return response


# --- profiles --------------------------------------------------------------------------------

@router.get("/u/{username}", include_in_schema=False)
async def profile(request: Request, username: str) -> Response:
    viewer = await get_viewer(request)
    engine = request.app.state.engine

    def work():
        with engine.connect() as conn:
            person = get_user_by_name(conn, username)
            if person is None or (person.suspended and not viewer.is_admin):
                raise HTTPException(404, "No such user.")
            submitted_ids = conn.execute(
                select(papers.c.id).where(papers.c.submitted_by == person.id, papers.c.hidden_at.is_(None))
                .order_by(papers.c.submitted_at.desc()).limit(50)
            ).scalars().all()  # fmt: skip
            upvoted_ids = conn.execute(
                select(votes.c.paper_id).join(papers, papers.c.id == votes.c.paper_id)
                .where(votes.c.user_id == person.id, papers.c.hidden_at.is_(None))
                .order_by(votes.c.created_at.desc()).limit(50)
            ).scalars().all()  # fmt: skip
            submitted = repo.get_papers(conn, list(submitted_ids))
            upvoted = repo.get_papers(conn, list(upvoted_ids))
            mine = voted_ids(conn, viewer.user.id, [p.id for p in submitted + upvoted]) if viewer.user else set()
            return person, submitted, upvoted, claimed_papers(conn, person.id), mine

    person, submitted, upvoted, verified, mine = await run_in_threadpool(work)
    html = render(request, "profile.html", viewer, person=person, submitted=submitted, upvoted=upvoted, verified=verified, voted=mine)
    return finish(request, HTMLResponse(html, headers={"Cache-Control": "private, no-cache"}))


# --- moderation ------------------------------------------------------------------------------

@router.get("/admin", include_in_schema=False)
async def admin(request: Request) -> Response:
    await require_admin(request)
    engine = request.app.state.engine

    def work():
        with engine.connect() as conn:
            return pending_claims(conn), moderation.audit_entries(conn, limit=200)

    claims, entries = await run_in_threadpool(work)
    return await page(request, "admin.html", claims=claims, entries=entries)


@router.post("/admin/papers/{arxiv_id:path}/hide", include_in_schema=False)
async def paper_hide(request: Request, arxiv_id: str) -> Response:
    admin_user = await require_admin(request)
    form = await require_csrf(request)
    hidden = form.get("hidden", "1") == "1"

    def work(conn):
        paper = _paper_or_404(conn, arxiv_id)
        moderation.hide_paper(conn, admin_user.id, paper.id, paper.arxiv_id, hidden, form.get("reason", ""))
        return paper

    paper = await db(request, work)
    response = RedirectResponse(f"/papers/{paper.arxiv_id}", status_code=303)
    set_flash(request, response, "Paper hidden from every feed." if hidden else "Paper visible again.")
    return response


@router.post("/admin/users/{username}/suspend", include_in_schema=False)
async def user_suspend(request: Request, username: str) -> Response:
    admin_user = await require_admin(request)
    form = await require_csrf(request)
    suspended = form.get("suspended", "1") == "1"

    def work(conn):
        person = get_user_by_name(conn, username)
        if person is None:
            raise HTTPException(404, "No such user.")
        moderation.suspend_user(conn, admin_user.id, person.id, suspended, form.get("reason", ""))
        return person

    try:
        person = await db(request, work)
    except moderation.ModerationError as e:
        raise HTTPException(400, str(e)) from None
    response = RedirectResponse(f"/u/{person.username}", status_code=303)
    set_flash(request, response, f"{person.username} is {'suspended' if suspended else 'no longer suspended'}.")
    return response


@router.post("/admin/claims/{claim_id:int}", include_in_schema=False)
async def claim_decide(request: Request, claim_id: int) -> Response:
    admin_user = await require_admin(request)
    form = await require_csrf(request)
    try:
        await db(request, lambda conn: decide_claim(conn, admin_user.id, claim_id, form.get("decision") == "approve"))
    except ClaimError as e:
        raise HTTPException(400, str(e)) from None
    return RedirectResponse("/admin", status_code=303)
