"""The application's container: what a running site holds, typed, set once by ``create_app``.

Every route reaches the settings, the engine, search, the templates and the caches through
:func:`site_of` — one attribute on Starlette's ``app.state`` instead of a bag of loose ones, so a
misspelt name fails at the container's fields and a reader sees in one place what a process keeps.
The web door's own per-process memos (sessions, vote sets) are described by what the pages call on
them, so this module, which both doors import, imports neither door.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from jinja2 import Environment
from sqlalchemy import Engine

from paperboy.config import Settings
from paperboy.http.cache import PageCache
from paperboy.ingest.arxiv_api import ArxivApiClient
from paperboy.search.backend import SearchBackend

__all__ = ["Site", "WithSite", "site_of"]


class SessionMemo(Protocol):
    """Sessions a process has looked up (``web.context.SessionCache``)."""

    def get(self, token: str, version: int): ...

    def put(self, token: str, version: int, user, expires) -> None: ...


class VoteMemo(Protocol):
    """Each member's upvoted papers, per votes version (``web.votesets.VoteSets``)."""

    def get(self, user_id: int, version: int) -> frozenset[int] | None: ...

    def load(self, engine: Engine, user_id: int, version: int) -> frozenset[int]: ...


@dataclass(slots=True, eq=False)
class Site:
    """One running site. Fields are replaced only by tests that swap a part (a search service over
    their own files, a fake arXiv); slots refuse any attribute not declared here."""

    settings: Settings
    engine: Engine
    search: SearchBackend
    templates: Environment
    page_cache: PageCache
    sessions: SessionMemo
    vote_sets: VoteMemo
    owns_engine: bool  # the engine was made for this site: disposed of at shutdown
    _arxiv_client: ArxivApiClient | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def arxiv_client(self) -> ArxivApiClient:
        """The process's arXiv API client, made on first use (a submission): one per process, so
        its politeness interval holds across requests."""
        with self._lock:
            if self._arxiv_client is None:
                from paperboy.ingest.clients import client_for

                self._arxiv_client = client_for(self.settings, "arxiv-api", self.engine)
            return self._arxiv_client

    @arxiv_client.setter
    def arxiv_client(self, client: ArxivApiClient) -> None:
        self._arxiv_client = client


#: Where :class:`WithSite` puts the site in each request's scope.
SCOPE_KEY = "paperboy.site"


class WithSite:
    """Puts the site in each request's scope (:data:`SCOPE_KEY`), so that :func:`site_of` — on every
    request's path, several times — is one dictionary look-up rather than a walk through the app's
    ``state`` (measured in docs/benchmarks.md). The outermost wrapper ``create_app`` adds."""

    def __init__(self, app, site: Site):
        self.app, self.site = app, site
        self.state = app.state  # tests and the CLI reach the site (site_of) through the wrapper

    async def __call__(self, scope, receive, send) -> None:
        scope[SCOPE_KEY] = self.site
        await self.app(scope, receive, send)


def site_of(holder) -> Site:
    """The site a request (or a connection) is served by, or of an app — ``create_app``'s wrapped
    app included, whose middleware pass ``state`` through."""
    try:
        return holder.scope[SCOPE_KEY]
    except AttributeError:  # an app, not a request
        return holder.state.site
    except KeyError:  # a request that did not come in through create_app's wrappers
        return holder.app.state.site
