"""Logging for ``paperboy serve`` and ``paperboy worker``: text, or with ``PAPERBOY_LOG_FORMAT=json``
one JSON object per line — ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and for
uvicorn's access lines the request's ``client``, ``method``, ``path``, ``http_version``, ``status``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

from paperboy.config import Settings

__all__ = ["JsonFormatter", "configure", "uvicorn_log_config"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a message's newlines are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            entry["message"] = f"{method} {path} {status}"
            entry.update(client=client, method=method, path=path, http_version=version, status=int(status))
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(settings: Settings, level: int = logging.INFO) -> None:
    """The root logger on stderr, in the format the settings ask for (the worker)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def uvicorn_log_config(settings: Settings, level: str = "info") -> dict | None:
    """``uvicorn``'s ``log_config`` for JSON logs (``None``: uvicorn's own text format). Paperboy's
    loggers go the same way as uvicorn's, so one process writes one format."""
    if settings.log_format != "json":
        return None
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "paperboy.logs.JsonFormatter"}},
        "handlers": {"default": handler, "access": {**handler, "stream": "ext://sys.stdout"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            "paperboy": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
