"""Paperboy's own API, where Hugging Face's has nothing: ``/api/v1/…``.

Reads are public and need no token (a token sent with one is not looked at): a paper, its related
papers and comments, search, the trending list with scores, a member's profile. Writes — vote,
unvote, comment, submit — take an API token with the write scope (``Authorization: Bearer pb_…``,
made in account settings) and nothing else: the API reads no cookies, so a browser's session can
never be made to write through it (no CSRF to forge). Each write calls the same domain function as
the site's form, so the same rules and per-user rate limits apply, plus the token's own limit.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from paperboy.accounts.api_tokens import TokenRefused, authenticate_token
from paperboy.accounts.users import User
from paperboy.api import schemas
from paperboy.api.bodies import documented, json_body
from paperboy.api.cache import cached_json
from paperboy.api.hf_compat import ARXIV_ID
from paperboy.api.schemas import errors, page_query
from paperboy.api.search_params import search_filters
from paperboy.api.serializers import (
    comment_json,
    paper_json,
    profile_json,
    related_json,
    search_json,
    token_json,
    trending_json,
    user_json,  # fmt: skip
)
from paperboy.community.comments import get_comment, post_comment
from paperboy.community.submissions import submit_paper
from paperboy.community.votes import vote
from paperboy.feed.views import paper_view, profile_view, trending_view
from paperboy.search.view import MAX_PER_PAGE, SearchParams, related_view, search_view
from paperboy.http.run import write
from paperboy.http.site import site_of

router = APIRouter(prefix="/api/v1", tags=["Paperboy API"])
legacy = APIRouter(tags=["Paperboy API"])

bearer = HTTPBearer(auto_error=False, description="An API token from account settings (pb_…); write scope for writes")


def _base(request: Request) -> str:
    return site_of(request).settings.base_url


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise TokenRefused("An API token is needed: send Authorization: Bearer <token> (make one in your account settings).")
    return credentials.credentials


# --- reads -------------------------------------------------------------------------------------

@router.get("/papers/{arxiv_id:path}/related", response_model=schemas.Related, responses=errors(400, 404), summary="Related papers")
async def related(request: Request, arxiv_id: str = ARXIV_ID, k: int = Query(8, ge=1, le=50, description="How many")) -> JSONResponse:
    """Top-``k`` papers by embedding similarity, nudged by shared authors (``search/related.py``)."""
    paper, found = await run_in_threadpool(related_view, site_of(request).engine, site_of(request).search, arxiv_id, k)
    return JSONResponse(related_json(paper, found, base_url=_base(request)))


legacy.get("/api/papers/{arxiv_id:path}/related", response_model=schemas.Related, responses=errors(400, 404), deprecated=True,
           summary="Related papers (the older path of /api/v1/papers/{id}/related)")(related)  # fmt: skip


@router.get("/papers/{arxiv_id:path}/comments", response_model=schemas.CommentPage, responses=errors(400, 404), summary="A paper's comments")
async def comments(request: Request, arxiv_id: str = ARXIV_ID, page: str | None = page_query("Page of comments")) -> Response:
    """Visible comments, oldest first, a page at a time (as under the paper's page)."""
    size = site_of(request).settings.comment_page_size
    base = _base(request)

    def build(conn):
        view = paper_view(conn, arxiv_id, comment_page=page, comments_per_page=size, page_name="page")
        return {"paper": view.paper.arxiv_id, "total": view.total_comments, "page": view.comment_page, "pages": view.comment_pages,
                "comments": [comment_json(c, base_url=base) for c in view.comments]}, view.paper  # fmt: skip

    return await cached_json(request, build)


@router.get("/papers/{arxiv_id:path}", response_model=schemas.Paper, responses=errors(404), summary="A paper")
async def paper(request: Request, arxiv_id: str = ARXIV_ID) -> Response:
    """A paper in Paperboy's shape (the one ``paperboy search --json`` prints)."""
    base = _base(request)
    def build(conn):
        found = paper_view(conn, arxiv_id, comments=False).paper
        return paper_json(found, base_url=base), found

    return await cached_json(request, build)


@router.get("/search", response_model=schemas.SearchResults, responses=errors(400), summary="Search")
async def search(
    request: Request,
    q: str = Query(..., min_length=1, max_length=1000, description='Words, "phrases", author:, cat:, after:, before:',
                   examples=["graph neural networks"]),
    per_page: int = Query(20, ge=1, le=MAX_PER_PAGE),
    filters: dict = Depends(search_filters),
) -> JSONResponse:
    """One page of search results, exactly as ``paperboy search --json`` prints them; the filters are the search page's."""
    params = SearchParams.parse({"q": q, **filters}, per_page=per_page)
    view = await run_in_threadpool(search_view, site_of(request).search, params)
    return JSONResponse(search_json(q, view.results, base_url=_base(request)))


@router.get("/trending", response_model=schemas.Trending, responses=errors(400), summary="Trending papers with their scores")
async def trending(request: Request, page: str | None = page_query("Page")) -> Response:
    """What the community is upvoting now (the rule: ``feed/trending.py``), best first."""
    size = site_of(request).settings.page_size
    base = _base(request)
    return await cached_json(request, lambda conn: trending_json(trending_view(conn, page=page, size=size), base_url=base))


@router.get("/users/{username}", response_model=schemas.Profile, responses=errors(404), summary="A member's public profile")
async def user_profile(request: Request, username: str) -> Response:
    """What they submitted, upvoted, and are a verified author of (newest first)."""
    base = _base(request)
    return await cached_json(request, lambda conn: profile_json(profile_view(conn, username), base_url=base))


@router.get("/me", response_model=schemas.Me, responses=errors(401, 429), summary="Who a token belongs to")
async def me(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> JSONResponse:
    """Check a token: its user and scope (counts against the token's rate limit)."""
    secret = _secret(credentials)
    user, token = await write(request, lambda conn: authenticate_token(conn, secret))
    return JSONResponse({**user_json(user.username, base_url=_base(request)), "token": token_json(token)}, headers={"Cache-Control": "no-store"})


# --- writes (a write-scope token) ----------------------------------------------------------------

WRITE_ERRORS = errors(400, 401, 403, 404, 429)
BODY_WRITE_ERRORS = errors(400, 401, 403, 404, 413, 415, 429)


async def _vote(request: Request, arxiv_id: str, credentials, up: bool) -> JSONResponse:
    secret = _secret(credentials)

    def act(conn):
        user, _ = authenticate_token(conn, secret, write=True)
        return vote(conn, user.id, arxiv_id, up)

    found, voted, count = await write(request, act)
    return JSONResponse({"paper": found.arxiv_id, "voted": voted, "upvotes": count}, headers={"Cache-Control": "no-store"})


@router.post("/papers/{arxiv_id:path}/vote", response_model=schemas.VoteResult, responses=WRITE_ERRORS, summary="Upvote a paper")
async def upvote(request: Request, arxiv_id: str = ARXIV_ID,
                 credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> JSONResponse:  # fmt: skip
    """One vote per member and paper: voting again changes nothing."""
    return await _vote(request, arxiv_id, credentials, True)


@router.delete("/papers/{arxiv_id:path}/vote", response_model=schemas.VoteResult, responses=WRITE_ERRORS, summary="Take an upvote back")
async def unvote(request: Request, arxiv_id: str = ARXIV_ID,
                 credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> JSONResponse:  # fmt: skip
    return await _vote(request, arxiv_id, credentials, False)


async def _writer(request: Request, credentials) -> User:
    """The user of a write-scope token, checked (and counted) before the request's body is read."""
    secret = _secret(credentials)
    return (await write(request, lambda conn: authenticate_token(conn, secret, write=True)))[0]


@router.post("/papers/{arxiv_id:path}/comments", status_code=201, response_model=schemas.Comment, responses=BODY_WRITE_ERRORS,
             summary="Comment on a paper", openapi_extra=documented(schemas.CommentIn))  # fmt: skip
async def add_comment(request: Request, arxiv_id: str = ARXIV_ID,
                      credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> JSONResponse:  # fmt: skip
    """Plain text (links become links on the page); the same rules and limits as the form."""
    user = await _writer(request, credentials)
    comment = await json_body(request, schemas.CommentIn)

    def act(conn):
        _, pk = post_comment(conn, user.id, arxiv_id, comment.body)
        return get_comment(conn, pk)

    made = await write(request, act)
    return JSONResponse(comment_json(made, base_url=_base(request)), status_code=201)


@router.post("/submissions", status_code=201, response_model=schemas.Submitted, responses=errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 502),
             summary="Put a recent arXiv paper on today's feed", openapi_extra=documented(schemas.SubmissionIn))  # fmt: skip
async def submit(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> JSONResponse:
    """The rules of the submit page (``community/submissions.py``): recent papers only, a daily cap, one feed day per paper."""
    user = await _writer(request, credentials)
    submission = await json_body(request, schemas.SubmissionIn)
    engine = site_of(request).engine
    done = await run_in_threadpool(submit_paper, engine, site_of(request).arxiv_client, site_of(request).settings, user, submission.paper)
    return JSONResponse({"id": done.arxiv_id, "title": done.title, "url": f"{_base(request)}/papers/{done.arxiv_id}"}, status_code=201)
