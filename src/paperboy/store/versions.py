"""The counters caches compare against (``site_state``), and each paper's own ``activity`` stamp.

Every cached page, JSON answer and session remembers the versions it was made at; a write bumps the
counter for what it changed in its own transaction, so any number of processes see a change at
once without talking to each other. Apart from :mod:`paperboy.store.repo` because these counters
are about the caches, not about papers: votes, comments, sessions and search bump them too, and the
web's response cache reads them on every request.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, select, update

from paperboy.store.schema import papers, site_state


def content_version(conn: Connection) -> int:
    """A number that changes whenever anything a page shows changes (see ``site_state``)."""
    return conn.execute(select(site_state.c.value).where(site_state.c.key == "content")).scalar() or 0


class Versions(NamedTuple):
    """The counters caches compare against, read together on every request (``site_state``).

    * ``content`` — what papers there are and what they say (imports, ingests, hides, submissions);
    * ``votes`` — vote counts (and the order they give feeds); pages may lag them a few seconds;
    * ``comments`` — comment counts on cards (same lag);
    * ``activity`` — some paper's own page changed (its comments, its verified authors): a cached
      paper page then compares that paper's ``activity`` stamp, and only a changed one is redone;
    * ``sessions`` — sessions ended or accounts changed (log-outs, suspensions, resets): per-process
      session caches drop what they hold.
    """

    content: int = 0
    votes: int = 0
    comments: int = 0
    activity: int = 0
    sessions: int = 0
    search: int = 0  # the search indexes (new vectors, a rebuilt keyword index): cached results are redone


_VERSION_KEYS = ("content", "votes", "comments", "activity", "sessions", "search")


def state_versions(conn: Connection) -> Versions:
    """:class:`Versions` inside a connection's transaction."""
    values = dict(conn.execute(select(site_state.c.key, site_state.c.value).where(site_state.c.key.in_(_VERSION_KEYS))).all())
    return Versions(*(values.get(k, 0) for k in _VERSION_KEYS))


def read_state_versions(engine) -> Versions:
    """:func:`state_versions` on the hot path: one statement on a pooled DBAPI connection.

    Every request asks this once; going through a SQLAlchemy Connection would wrap the read in
    BEGIN … ROLLBACK (see store/db.py), which measured a fifth slower for a one-row read.
    """
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT key, value FROM site_state WHERE key IN ('content', 'votes', 'comments', 'activity', 'sessions', 'search')")
        values = dict(cur.fetchall())
        cur.close()
    finally:
        raw.close()
    return Versions(*(values.get(k, 0) for k in _VERSION_KEYS))


def paper_activity(engine, paper_id: int) -> int | None:
    """A paper's ``activity`` stamp (bumped when its comments or verified authors change), on the hot path."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        cur.execute(f"SELECT activity FROM papers WHERE id = {mark}", (paper_id,))
        row = cur.fetchone()
        cur.close()
    finally:
        raw.close()
    return row[0] if row else None


def _bump(conn: Connection, key: str) -> None:
    conn.execute(update(site_state).where(site_state.c.key == key).values(value=site_state.c.value + 1))


def bump_content_version(conn: Connection) -> None:
    """Something a feed or paper page shows from the archive changed: every cached page is redone."""
    _bump(conn, "content")


def bump_vote_version(conn: Connection) -> None:
    """Votes move often and only change counts and order: caches may lag them by a few seconds."""
    _bump(conn, "votes")


def bump_search_version(conn: Connection) -> None:
    """The search indexes changed (new postings, vectors, a rebuilt graph): cached result pages are redone."""
    _bump(conn, "search")


def bump_sessions_version(conn: Connection) -> None:
    """A session ended or an account changed: every process forgets the sessions it had cached."""
    _bump(conn, "sessions")


def touch_paper(conn: Connection, paper_id: int, *, counts_changed: bool = True) -> None:
    """Something on one paper's own page changed (its comments, its verified authors): that page is
    redone, no other; with ``counts_changed``, comment counts on cards may move too (a lag is fine)."""
    conn.execute(update(papers).where(papers.c.id == paper_id).values(activity=papers.c.activity + 1))
    _bump(conn, "activity")
    if counts_changed:
        _bump(conn, "comments")
