"""How ``paperboy serve`` runs uvicorn: one place for the options, so tests run the same server.

Forwarding headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only when they come
from an address in ``PAPERBOY_TRUSTED_PROXIES`` — the reverse proxy in front of the site. Without
that, any client could name its own address and step around every per-address rate limit.
"""

from __future__ import annotations

__all__ = ["uvicorn_options"]


def uvicorn_options(settings, *, host: str, port: int, workers: int = 1, log_level: str = "info") -> dict:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` (without the app)."""
    from paperboy.logs import uvicorn_log_config

    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    log_config = uvicorn_log_config(settings, log_level)
    return {
        **({"log_config": log_config} if log_config is not None else {}),
        # SIGTERM: stop accepting, let requests in flight finish (at most this long), then exit.
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": ",".join(proxies) if proxies else None,
        "server_header": False,
    }
