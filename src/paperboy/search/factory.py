"""Which search backend a site gets: chosen by its database, in one place.

Its own module, above both backends, so that :mod:`~paperboy.search.backend` (what the two share)
imports neither of them and no backend imports the other.
"""

from __future__ import annotations

from sqlalchemy import Engine

from paperboy.config import Settings
from paperboy.search.backend import SearchBackend
from paperboy.search.pg import PgSearch
from paperboy.search.service import SearchService

__all__ = ["open_search", "site_search"]


def open_search(engine: Engine, data_dir, embedder_loader=None, **options) -> SearchBackend:
    """The backend that fits ``engine``: :class:`~paperboy.search.pg.PgSearch` on PostgreSQL (its
    indexes are in the database), else the embedded :class:`~paperboy.search.service.SearchService`.
    ``options`` go to the backend that takes them (``postings_cache_bytes`` is PostgreSQL's; the
    embedded backend's ``small_change`` and ``before_background`` are for tests)."""
    if engine.dialect.name == "postgresql":
        return PgSearch(engine, data_dir, embedder_loader, postings_cache_bytes=options.get("postings_cache_bytes"))
    return SearchService(engine, data_dir, embedder_loader, **options)


def site_search(engine: Engine, settings: Settings, embedder_loader=None) -> SearchBackend:
    """The search a site's settings describe: what the web app, the CLI and the digest job use."""
    return open_search(engine, settings.data_dir, embedder_loader, postings_cache_bytes=settings.search_postings_cache_mb << 20)
