"""Upkeep over the whole archive, run after bulk writes or an upgrade: the query planner's
statistics, and re-rendering math stored by an older renderer.

Apart from :mod:`paperboy.store.repo` because these are batch jobs over every paper (run by
``paperboy import`` and ``paperboy db upgrade``), not reads or writes a request makes.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select, update

from paperboy.papers.tex import MATH_VERSION, stored_math
from paperboy.store.db import write_transaction
from paperboy.store.schema import papers
from paperboy.store.versions import bump_content_version


def optimize(conn: Connection) -> None:
    """Refresh the query planner's statistics after bulk writes (SQLite picks bad plans without them)."""
    conn.exec_driver_sql("ANALYZE")


def render_stale_math(engine, *, batch: int = 2000, progress=None) -> int:
    """Render the math of papers stored by an older renderer (or before renderings were stored);
    returns how many papers were looked at. Run by ``paperboy db upgrade``; a no-op when current."""
    done = 0
    last_id = 0
    while True:
        with write_transaction(engine) as conn:
            rows = conn.execute(
                select(papers.c.id, papers.c.title, papers.c.abstract)
                .where(papers.c.math_version < MATH_VERSION, papers.c.id > last_id)
                .order_by(papers.c.id).limit(batch)
            ).all()  # fmt: skip
            if not rows:
                return done
            conn.execute(
                update(papers).where(papers.c.id == bindparam("_id")).values(
                    title_html=bindparam("_t"), abstract_html=bindparam("_a"), math_version=MATH_VERSION),
                [{"_id": pid, "_t": stored_math(title), "_a": stored_math(abstract)} for pid, title, abstract in rows],
            )  # fmt: skip
            bump_content_version(conn)
        last_id = rows[-1].id
        done += len(rows)
        if progress:
            progress(done)
