"""The one way a part of Paperboy gets a client of a service it harvests from.

Every caller — the worker's daily run and first-run backfill, each ``paperboy ingest`` command,
the submit form's arXiv look-up — builds its client here from the settings, so that every client
of the deployment has the same manners (:mod:`paperboy.ingest.http`): the deployment's contact in
the User-Agent and, given the database ``engine``, the service's instance-wide pace shared by
every process (arXiv's one request every 3 s holds for the whole deployment, not per process).
The four clients share one style (:class:`~paperboy.ingest.http.ServiceClient`); this module sits
above them so that none of them imports another.
"""

from __future__ import annotations

from sqlalchemy import Engine

from paperboy.config import Settings
from paperboy.ingest.arxiv_api import ArxivApiClient
from paperboy.ingest.hf import HfClient
from paperboy.ingest.http import SERVICES, RateLimiter, ServiceClient, limiter_for, pace, user_agent
from paperboy.ingest.listings import ListingsClient
from paperboy.ingest.oai import OaiClient

__all__ = ["client_for"]

#: Each service's client class and the setting that holds its address.
_CLIENTS: dict[str, tuple[type[ServiceClient], str]] = {
    "arxiv-api": (ArxivApiClient, "arxiv_api_url"),
    "arxiv-oai": (OaiClient, "arxiv_oai_url"),
    "arxiv-rss": (ListingsClient, "arxiv_rss_url"),
    "hf": (HfClient, "hf_base_url"),
}


def client_for(settings: Settings, service: str, engine: Engine | None = None, *, base_url: str | None = None,
               interval: float | None = None) -> ServiceClient:  # fmt: skip
    """A client of ``service`` (one of :data:`~paperboy.ingest.http.SERVICES`: ``"arxiv-api"``,
    ``"arxiv-oai"``, ``"arxiv-rss"``, ``"hf"``) at ``base_url`` (default: the service's setting),
    with the deployment's contact in its User-Agent.

    Requests start ``interval`` seconds apart (default: the service's pace setting,
    :func:`~paperboy.ingest.http.pace`): given ``engine``, through the service's instance-wide
    limiter (:func:`~paperboy.ingest.http.limiter_for`), shared by every process on that database;
    without one, through a limiter of this client's own.
    """
    if service not in _CLIENTS:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    cls, url_setting = _CLIENTS[service]
    interval = pace(settings, service) if interval is None else interval
    limiter = limiter_for(engine, service, interval) if engine is not None else RateLimiter(interval)
    return cls(base_url or getattr(settings, url_setting), user_agent=user_agent(settings.contact_email), limiter=limiter)
