"""Whether two database URLs name one database, however each is spelt.

``migrate-data --replace`` deletes what the target holds before copying; when the target was the
source under another spelling (``sqlite:///x/./v.db`` for ``sqlite:///x/v.db``) it emptied the
source, then reported a successful copy of nothing. Comparing URL strings cannot see that, so:

* SQLite: the files are compared, not their names — the path resolved from the working directory
  with ``.``/``..`` and symbolic links followed, and, when both exist, their device and inode (a hard
  link is the same file). A URL's query string (``?timeout=…``) and ``file:`` URIs name the same file.
* PostgreSQL: host names, addresses, ports and sockets have too many spellings (``localhost``,
  ``127.0.0.1``, ``::1``, a Unix socket, the default port left out, a proxy in front), so each server
  is asked who it is: the cluster's ``system_identifier`` (where the role may read it), the time the
  server started, and the database it connected to.

:mod:`paperboy.store.migrate` also writes a marker into the target and looks for it through the
source, which catches what these cannot (a network file system mounted twice, say).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

__all__ = ["sqlite_file", "same_database"]


def sqlite_file(url: URL) -> Path | None:
    """The file an SQLite URL opens, absolute and with links resolved; None for an in-memory database."""
    database = url.database or ""
    if database.startswith("file:"):  # a URI filename (?uri=true): file:path?mode=…
        parts = urlsplit(database)
        database = unquote(parts.path)
        if "mode=memory" in parts.query.split("&") or url.query.get("mode") == "memory":
            return None
    if database in ("", ":memory:"):
        return None
    return Path(os.path.realpath(os.path.abspath(database)))


def _pg_identity(engine: Engine) -> dict:
    with engine.connect() as conn:
        identity = dict(conn.execute(text("SELECT current_database() AS database, pg_postmaster_start_time() AS started")).one()._mapping)
    try:  # readable by every role on PostgreSQL 16; a provider may have revoked it
        with engine.connect() as conn:
            identity["system"] = conn.execute(text("SELECT system_identifier FROM pg_control_system()")).scalar()
    except Exception:
        pass
    return identity


def same_database(a: Engine, b: Engine) -> str | None:
    """Why ``a`` and ``b`` are the same database (a sentence), or None when they are not.

    PostgreSQL engines are connected to (an error from either is raised to the caller)."""
    if a.dialect.name != b.dialect.name:
        return None
    if a.dialect.name == "sqlite":
        fa, fb = sqlite_file(a.url), sqlite_file(b.url)
        if fa is None or fb is None:
            return None
        if fa == fb:
            return f"both open the file {fa}"
        if fa.exists() and fb.exists() and os.path.samefile(fa, fb):
            return f"{fa} and {fb} are one file (hard links)"
        return None
    if a.dialect.name == "postgresql":
        ia, ib = _pg_identity(a), _pg_identity(b)
        if ia["database"] != ib["database"] or ia["started"] != ib["started"]:
            return None
        if "system" in ia and "system" in ib and ia["system"] != ib["system"]:
            return None
        return f"both connect to database {ia['database']!r} of the same PostgreSQL server"
    return None
