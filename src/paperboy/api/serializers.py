"""The JSON shapes of Paperboy's things. Every endpoint and every ``--json`` flag uses these, so a
paper looks the same wherever it comes from."""

from __future__ import annotations

import datetime as dt

__all__ = ["paper_json", "related_json", "search_json", "hf_daily_entry", "hf_paper", "hf_time", "comment_json", "trending_json",
           "profile_json", "user_json", "token_json"]  # fmt: skip


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def paper_json(paper, *, base_url: str = "") -> dict:
    """A stored paper (:class:`~paperboy.store.repo.Paper`) as JSON. ``url`` is its page here."""
    return {
        "id": paper.arxiv_id,
        "version": paper.version,
        "title": paper.title,
        "authors": list(paper.authors),
        "abstract": paper.abstract,
        "categories": list(paper.categories),
        "primary_category": paper.primary_category,
        "comment": paper.comment,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "license": paper.license,
        "published": _day(paper.published),
        "updated": _day(paper.updated),
        "announced": _day(paper.announced),
        "upvotes": paper.upvotes,
        "comments": paper.comment_count,
        "hf_upvotes": paper.hf_upvotes,
        "hf_comments": paper.hf_comments,
        "github_repo": paper.github_repo,
        "project_page": paper.project_page,
        "submitted_by": paper.submitter,
        "withdrawn": paper.withdrawn,
        "url": f"{base_url}/papers/{paper.arxiv_id}",
        "arxiv_url": f"https://arxiv.org/abs/{paper.arxiv_id}",
        "pdf_url": f"https://arxiv.org/pdf/{paper.arxiv_id}",
    }


def related_json(paper, related: list[tuple[object, float]], *, base_url: str = "") -> dict:
    """A paper's related papers, each with its similarity ``score`` (see search/related.py)."""
    return {"id": paper.arxiv_id, "related": [{**paper_json(p, base_url=base_url), "score": round(score, 4)} for p, score in related]}


def search_json(query: str, result, *, base_url: str = "") -> dict:
    """One page of search results (:class:`~paperboy.search.backend.SearchResults`)."""
    return {
        "query": query,
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        "sort": result.sort,
        "semantic": result.semantic,
        "redirect": result.redirect,
        "notes": list(result.notes),
        "results": [paper_json(p, base_url=base_url) for p in result.papers],
    }


# --- Hugging Face's shapes (see ../shared/hf-api/SPEC.md and api/hf_compat.py) -------------------
#
# huggingface_hub builds its PaperInfo from these: a daily-list or search entry nests the paper
# under "paper" with the list's own keys beside it; /api/papers/{id} is one flat object. Dates are
# ISO 8601 with a "Z" (the client refuses "+00:00"). Ids of users, authors and discussions are
# MongoDB-style 24-hex strings on HF: ours are derived from our row ids, so they are stable.


def hf_time(value: dt.date | dt.datetime | None) -> str | None:
    """``2026-06-30T00:00:00.000Z``: the only form huggingface_hub's ``parse_datetime`` takes."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(), tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _oid(kind: int, *numbers: int) -> str:
    """A stable 24-hex id: one byte of kind, then the numbers (row ids, positions)."""
    return f"{kind:02x}" + "".join(f"{n:011x}" for n in numbers).rjust(22, "0")[-22:]


def hf_user(user_id: int, username: str) -> dict:
    """A member as HF's ``User``: the client reads the username from ``user`` (``name`` too, for the Hub's shape)."""
    return {"_id": _oid(1, user_id), "user": username, "name": username, "fullname": username, "type": "user", "isPro": False}


def _hf_authors(paper, verified: dict) -> list[dict]:
    out = []
    for position, name in enumerate(paper.authors):
        author = {"_id": _oid(2, paper.id, position), "name": name, "hidden": False}
        claim = verified.get(position)
        if claim is not None:
            author["user"] = hf_user(claim.user_id, claim.username)
            author["status"] = "claimed_verified"
            author["statusLastChangedAt"] = hf_time(claim.since)
        out.append(author)
    return out


def _daily_time(paper) -> str | None:
    """When the paper went on the daily list: its submission here, else its announcement day."""
    return hf_time(paper.submitted_at or paper.announced)


def _links(paper) -> dict:
    return {key: value for key, value in (("githubRepo", paper.github_repo), ("projectPage", paper.project_page)) if value}


def _extensions(paper, base_url: str) -> dict:
    """What we add to HF's shape (the client keeps unknown keys as attributes): HF's own counts,
    apart from ours, and where the paper lives here."""
    return {"hfUpvotes": paper.hf_upvotes, "hfNumComments": paper.hf_comments, "categories": list(paper.categories),
            "url": f"{base_url}/papers/{paper.arxiv_id}"}  # fmt: skip


def _hf_core(paper, verified: dict) -> dict:
    core = {
        "id": paper.arxiv_id,
        "authors": _hf_authors(paper, verified),
        "publishedAt": hf_time(paper.published or paper.announced or paper.updated),
        "title": paper.title,
        "summary": paper.abstract,
        "upvotes": paper.upvotes,
        "discussionId": _oid(3, paper.id),
        **_links(paper),
    }
    if paper.announced:
        core["submittedOnDailyAt"] = _daily_time(paper)
    if paper.submitted_by and paper.submitter:
        core["submittedOnDailyBy"] = hf_user(paper.submitted_by, paper.submitter)
    return core


def hf_daily_entry(paper, verified: dict, *, base_url: str = "") -> dict:
    """A ``/api/daily_papers`` (and ``/api/papers/search``) entry: ``{"paper": {…}, …}``.

    ``title``, ``numComments``, ``submittedBy`` and the list's ``publishedAt`` are read from the top
    level only; ``upvotes`` and the links are repeated there so that the client sees them (it
    drops the nested copies, and reads ``upvotes: 0`` nested as None).
    """
    core = _hf_core(paper, verified)
    entry = {"paper": core, "title": paper.title, "summary": paper.abstract, "numComments": paper.comment_count,
             "upvotes": paper.upvotes, **_links(paper)}  # fmt: skip
    if paper.announced:
        entry["publishedAt"] = core["submittedOnDailyAt"]
    if "submittedOnDailyBy" in core:
        entry["submittedBy"] = core["submittedOnDailyBy"]
    entry.update(_extensions(paper, base_url))
    return entry


def hf_paper(paper, verified: dict, *, base_url: str = "") -> dict:
    """``/api/papers/{id}``: the flat object (its ``publishedAt`` is arXiv's date; the daily-list
    time is ``submittedOnDailyAt``)."""
    return {**_hf_core(paper, verified), "numComments": paper.comment_count, **_extensions(paper, base_url)}


# --- Paperboy's own API (api/v1.py) ---------------------------------------------------------------


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def user_json(username: str, *, base_url: str = "") -> dict:
    return {"username": username, "url": f"{base_url}/u/{username}"}


def comment_json(comment, *, base_url: str = "") -> dict:
    """A visible comment (:class:`~paperboy.community.comments.Comment`): its text as written."""
    return {
        "id": comment.id,
        "paper": comment.arxiv_id,
        "author": user_json(comment.username, base_url=base_url),
        "body": comment.body,
        "created_at": _time(comment.created_at),
        "edited_at": _time(comment.edited_at),
        "url": f"{base_url}/papers/{comment.arxiv_id}#c{comment.id}",
    }


def trending_json(view, *, base_url: str = "") -> dict:
    """A page of :func:`~paperboy.feed.views.trending_view`, each paper with its trending ``score``."""
    return {
        "page": view.page,
        "has_next": view.has_next,
        "papers": [{**paper_json(p, base_url=base_url), "score": round(view.scores.get(p.id, 0.0), 6)} for p in view.papers],
    }


def profile_json(found, *, base_url: str = "") -> dict:
    """A member's public profile (:class:`~paperboy.feed.views.ProfileView`)."""
    person = found.person
    return {
        **user_json(person.username, base_url=base_url),
        "joined": _day(person.created_at.date()),
        "submitted": [paper_json(p, base_url=base_url) for p in found.submitted],
        "upvoted": [paper_json(p, base_url=base_url) for p in found.upvoted],
        "verified_author_of": [{"paper": c.arxiv_id, "title": c.title, "author_position": c.author_position,
                                "author_name": c.author_name} for c in found.verified],  # fmt: skip
    }


def token_json(token) -> dict:
    """An API token as its owner sees it (never the secret, which is shown once when made)."""
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "scope": token.scope, "created_at": _time(token.created_at),
            "last_used_at": _time(token.last_used_at), "revoked_at": _time(token.revoked_at)}  # fmt: skip
