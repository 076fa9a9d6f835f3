"""Response and request models of the public API, for the OpenAPI document (``/openapi.json``).

Routes answer with bytes from :mod:`paperboy.api.serializers` (often cached), so these models
describe the answers rather than build them; the schemathesis test checks that every answer
matches them. The Hugging Face shapes use HF's key names (``publishedAt``, ``_id`` …).
"""

from __future__ import annotations

from typing import Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from paperboy.params import MAX_PAGE

__all__ = ["Error", "HfUser", "HfAuthor", "HfPaperCore", "HfDailyEntry", "HfPaper", "Paper", "Related", "RelatedPaper",
           "SearchResults", "Comment", "CommentPage", "CommentIn", "Trending", "TrendingPaper", "Profile", "VoteResult",
           "SubmissionIn", "Submitted", "Me", "ERRORS", "errors", "page_query"]  # fmt: skip

HF_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"


class Error(BaseModel):
    """Every refusal under ``/api/``: a message a person can act on, and the HTTP status."""

    error: str
    status: int
    model_config = ConfigDict(json_schema_extra={"examples": [{"error": "Paper not found", "status": 404}]})


def page_query(description: str, *, first: int = 1, maximum: int = MAX_PAGE):
    """A page-number query parameter, documented as the integer :func:`paperboy.params.page_number`
    takes (``first`` to ``maximum``, :data:`~paperboy.params.MAX_PAGE` unless said) but received as the text it was sent as:
    the view checks it, so a bad page is refused with the message every other door gives, not
    FastAPI's own."""

    def as_page(schema: dict) -> None:
        title = schema.get("title")
        schema.clear()
        schema.update(type="integer", minimum=first, maximum=maximum, title=title)

    return Query(None, description=f"{description}, from {first} to {maximum:,} (default {first})", json_schema_extra=as_page)


ERRORS = {
    400: "Bad input (a parameter or body field is missing or wrong)",
    401: "An API token is needed, or the one sent is not valid",
    403: "The token may not do this (a read token asked to write)",
    404: "No such paper, user or page",
    409: "Already there (the paper is on a feed)",
    413: "The body is larger than the site takes (PAPERBOY_MAX_BODY_BYTES)",
    415: "The body is not sent as JSON (Content-Type: application/json)",
    422: "arXiv refused the request",
    429: "Too many requests: wait Retry-After seconds",
    502: "arXiv could not be reached",
}


def errors(*codes: int) -> dict:
    """The ``responses=`` of a route: these error statuses, each with the one error shape."""
    return {code: {"model": Error, "description": ERRORS[code]} for code in codes}


# --- Hugging Face's shapes -----------------------------------------------------------------------

class HfUser(BaseModel):
    id: str = Field(alias="_id", description="Stable 24-hex id")
    user: str = Field(description="Username (huggingface_hub reads User.username from this key)")
    name: str
    fullname: str
    type: Literal["user"]
    isPro: bool


class HfAuthor(BaseModel):
    id: str = Field(alias="_id")
    name: str
    hidden: bool
    user: HfUser | None = Field(None, description="The member who is this author, verified by an admin")
    status: Literal["claimed_verified"] | None = None
    statusLastChangedAt: str | None = Field(None, pattern=HF_TIME)


class HfPaperCore(BaseModel):
    id: str = Field(examples=["2606.30212"])
    authors: list[HfAuthor]
    publishedAt: str | None = Field(description="arXiv's publication date", pattern=HF_TIME)
    title: str
    summary: str
    upvotes: int = Field(ge=0, description="Upvotes on this Paperboy")
    discussionId: str
    githubRepo: str | None = None
    projectPage: str | None = None
    submittedOnDailyAt: str | None = Field(None, pattern=HF_TIME)
    submittedOnDailyBy: HfUser | None = None


class _HfExtensions(BaseModel):
    hfUpvotes: int | None = Field(description="Hugging Face's own upvote count (ours is upvotes)")
    hfNumComments: int | None = Field(description="Hugging Face's own comment count (ours is numComments)")
    categories: list[str]
    url: str = Field(description="The paper's page here")


class HfDailyEntry(_HfExtensions):
    """One entry of ``/api/daily_papers`` and ``/api/papers/search``, as on huggingface.co."""

    paper: HfPaperCore
    title: str
    summary: str
    numComments: int = Field(ge=0)
    upvotes: int = Field(ge=0)
    publishedAt: str | None = Field(None, pattern=HF_TIME, description="When the paper went on the daily list")
    submittedBy: HfUser | None = None
    githubRepo: str | None = None
    projectPage: str | None = None


class HfPaper(HfPaperCore, _HfExtensions):
    """``/api/papers/{id}``: one flat object, as on huggingface.co."""

    numComments: int = Field(ge=0)


# --- Paperboy's own shapes -------------------------------------------------------------------------

class Paper(BaseModel):
    """A paper: the one JSON shape (``paperboy search --json`` prints the same)."""

    id: str = Field(examples=["2606.30212"])
    version: int | None
    title: str
    authors: list[str]
    abstract: str
    categories: list[str]
    primary_category: str | None
    comment: str | None
    journal_ref: str | None
    doi: str | None
    license: str | None
    published: str | None = Field(description="YYYY-MM-DD: the first version's submission day")
    updated: str | None
    announced: str | None = Field(description="YYYY-MM-DD: the paper's feed day")
    upvotes: int
    comments: int
    hf_upvotes: int | None
    hf_comments: int | None
    github_repo: str | None
    project_page: str | None
    submitted_by: str | None
    withdrawn: bool
    url: str
    arxiv_url: str
    pdf_url: str


class RelatedPaper(Paper):
    score: float


class Related(BaseModel):
    id: str
    related: list[RelatedPaper]


class SearchResults(BaseModel):
    query: str
    total: int
    page: int
    per_page: int
    sort: str
    semantic: bool
    redirect: str | None = Field(description="Set when the query names one paper: where it is")
    notes: list[str]
    results: list[Paper]


class UserRef(BaseModel):
    username: str
    url: str


class Comment(BaseModel):
    id: int
    paper: str
    author: UserRef
    body: str = Field(description="Plain text, exactly as written")
    created_at: str
    edited_at: str | None
    url: str


class CommentPage(BaseModel):
    paper: str
    total: int
    page: int
    pages: int
    comments: list[Comment]


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=5000, examples=["The ablation in section 4 answers this."])
    model_config = ConfigDict(extra="forbid")


class TrendingPaper(Paper):
    score: float = Field(description="The trending score (feed/trending.py)")


class Trending(BaseModel):
    page: int
    has_next: bool
    papers: list[TrendingPaper]


class VerifiedPaper(BaseModel):
    paper: str
    title: str
    author_position: int
    author_name: str


class Profile(UserRef):
    joined: str
    submitted: list[Paper]
    upvoted: list[Paper]
    verified_author_of: list[VerifiedPaper]


class VoteResult(BaseModel):
    paper: str
    voted: bool
    upvotes: int


class SubmissionIn(BaseModel):
    paper: str = Field(min_length=1, max_length=300, description="An arXiv id or abs/pdf URL", examples=["2606.30212"])
    model_config = ConfigDict(extra="forbid")


class Submitted(BaseModel):
    id: str
    title: str
    url: str


class Token(BaseModel):
    id: int
    name: str
    prefix: str
    scope: Literal["read", "write"]
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class Me(BaseModel):
    username: str
    url: str
    token: Token
