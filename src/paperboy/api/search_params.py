"""The search parameters both JSON search doors take, declared once so that ``/api/v1/search`` and
the Hugging Face–compatible ``/api/papers/search`` document and pass on the same ones; their rules
are :class:`~paperboy.search.view.SearchParams`' (one message per bad value, whichever door)."""

from __future__ import annotations

from fastapi import Query

from paperboy.api.schemas import page_query
from paperboy.params import MAX_SEARCH_PAGE

__all__ = ["search_filters"]


def search_filters(
    sort: str = Query("relevance", description="relevance, date or upvotes"),
    page: str | None = page_query("Results page", maximum=MAX_SEARCH_PAGE),
    cat: str | None = Query(None, description="Only papers in this arXiv category", examples=["cs.CL"]),
    author: str | None = Query(None, description="Only papers by this author (every word of the name)"),
    date_from: str | None = Query(None, alias="from", description="Announced on or after this day (YYYY-MM-DD)"),
    date_to: str | None = Query(None, alias="to", description="Announced on or before this day (YYYY-MM-DD)"),
) -> dict[str, str | None]:
    """The parameters as :meth:`SearchParams.parse <paperboy.search.view.SearchParams.parse>` reads them (strings, by name)."""
    return {"sort": sort, "page": page, "cat": cat, "author": author, "from": date_from, "to": date_to}
