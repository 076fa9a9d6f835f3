"""The JSON shapes of Paperboy's things. Every endpoint and every ``--json`` flag uses these, so a
paper looks the same wherever it comes from."""

from __future__ import annotations

import datetime as dt

__all__ = ["paper_json", "related_json", "search_json"]


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
    """One page of search results (:class:`~paperboy.search.service.SearchResults`)."""
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
