"""Copy a whole Paperboy database to another one: SQLite → PostgreSQL (the usual move), or back.

:func:`migrate_data` upgrades the target's schema to this version, then copies every table of
:data:`paperboy.store.schema.metadata` in foreign-key order (parents first), in batches, each batch
one committed transaction on the target. A table is read in primary-key order and the copy of a
table continues after the largest key the target already holds, so a run that died (a crash, a
lost connection, Ctrl-C) is continued by running it again with ``resume=True``: nothing is copied
twice and nothing is missed. Keys are compared in byte order on both databases (``COLLATE "C"`` on
PostgreSQL, SQLite's BINARY), so text keys resume at the same place whichever side is which.

On a PostgreSQL target ``paper_embeddings.embedding`` (pgvector) is written from the copied bytes
in the same rows. After the copy, PostgreSQL's id sequences are moved past the copied ids (new rows
do not collide) and the row counts of every table are compared. The search indexes are **not** copied: SQLite's are files beside the
database, PostgreSQL's keyword index (``search_generations``/``search_postings``) is derived data —
run ``paperboy index`` on the target afterwards (until then each PostgreSQL web node indexes every
paper in its own memory; the worker's daily run also rebuilds it).

Stop the site (web and worker) before migrating: rows written to the source during the copy may
be missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, Integer, String, Table, Text, delete, func, insert, select, text, tuple_, update

from paperboy.store.db import SchemaState, make_engine, schema_status, upgrade, write_transaction
from paperboy.store.schema import metadata, paper_embeddings, site_state

__all__ = ["MigrationError", "TableResult", "MigrationResult", "migrate_data", "copy_order", "BATCH"]

BATCH = 2_000  # rows per transaction: a few MB of papers


class MigrationError(RuntimeError):
    """The copy cannot start or did not verify (the message says why and what to do)."""


@dataclass
class TableResult:
    table: str
    source_rows: int
    copied: int = 0  # by this run
    target_rows: int = 0

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows


@dataclass
class MigrationResult:
    tables: list[TableResult] = field(default_factory=list)
    sequences_reset: list[str] = field(default_factory=list)
    vectors_filled: int = 0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def copied(self) -> int:
        return sum(t.copied for t in self.tables)


#: Tables every freshly migrated database already has rows in (counters seeded by migrations):
#: copied by overwriting, and not what makes a target "non-empty".
SEEDED = {site_state.name}


def copy_order() -> list[Table]:
    """Every table of the schema, parents before the tables that refer to them."""
    return list(metadata.sorted_tables)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _ordered(table: Table, dialect: str):
    """The table's primary-key columns as sort keys in byte order on either database."""
    cols = []
    for c in table.primary_key.columns:
        if dialect == "postgresql" and isinstance(c.type, (String, Text)):
            cols.append(c.collate("C"))
        else:
            cols.append(c)
    return cols


def _count(conn, table: Table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _last_key(engine: Engine, table: Table) -> tuple | None:
    """The largest primary key the target holds (byte order), or None when the table is empty."""
    keys = _ordered(table, engine.dialect.name)
    with engine.connect() as conn:
        row = conn.execute(select(*table.primary_key.columns).order_by(*(k.desc() for k in keys)).limit(1)).first()
    return tuple(row) if row else None


def _after(table: Table, dialect: str, key: tuple):
    keys = _ordered(table, dialect)
    if len(keys) == 1:
        return keys[0] > key[0]
    return tuple_(*keys) > tuple_(*key)


def _insert_batch(conn, table: Table, rows: list[dict]) -> None:
    if table is paper_embeddings and conn.dialect.name == "postgresql":
        # pgvector's copy of the vector in the same row, from the same bytes (search/pg_index.py)
        import numpy as np

        from paperboy.search.pg_index import vector_literal

        conn.execute(
            text(
                "INSERT INTO paper_embeddings (seq, paper_id, model, text_hash, vector, embedding)"
                " VALUES (:seq, :paper_id, :model, :text_hash, :vector, CAST(:embedding AS vector))"
            ),
            [dict(row, embedding=vector_literal(np.frombuffer(row["vector"], "<f4"))) for row in rows],
        )
        return
    conn.execute(insert(table), rows)


def _copy_seeded(source: Engine, target: Engine, table: Table) -> int:
    """site_state: the source's counters overwrite the target's seeded ones (keys only one side has are inserted)."""
    with source.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(table))]
    with write_transaction(target) as conn:
        existing = {r[0] for r in conn.execute(select(table.c.key))}
        for row in rows:
            if row["key"] in existing:
                conn.execute(update(table).where(table.c.key == row["key"]).values(value=row["value"]))
            else:
                conn.execute(insert(table).values(**row))
    return len(rows)


def _copy_table(source: Engine, target: Engine, table: Table, batch: int, progress) -> int:
    last = _last_key(target, table)
    dialect = source.dialect.name
    copied = 0
    with source.connect() as conn:
        total = _count(conn, table)
        query = select(table).order_by(*_ordered(table, dialect))
        done = 0
        if last is not None:
            done = _count_upto(conn, table, dialect, last)
            query = query.where(_after(table, dialect, last))
        progress(table.name, done, total)
        # One ordered read per table, streamed (a server-side cursor on PostgreSQL): sorted once,
        # whatever the table's size; each batch is committed on the target as it arrives.
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
        for part in result.partitions(batch):
            rows = [dict(r._mapping) for r in part]
            with write_transaction(target) as tconn:
                _insert_batch(tconn, table, rows)
            copied += len(rows)
            done += len(rows)
            progress(table.name, done, total)
    return copied


def _count_upto(conn, table: Table, dialect: str, key: tuple) -> int:
    """Rows of the source at or before ``key``: what an earlier run already copied."""
    return _count(conn, table) - conn.execute(select(func.count()).select_from(table).where(_after(table, dialect, key))).scalar_one()


def _reset_sequences(target: Engine) -> list[str]:
    """Move each serial/identity sequence past the largest copied id (PostgreSQL only)."""
    if target.dialect.name != "postgresql":
        return []  # SQLite's INTEGER PRIMARY KEY takes max(rowid) + 1 by itself
    reset = []
    with write_transaction(target) as conn:
        for table in copy_order():
            pk = list(table.primary_key.columns)
            if len(pk) != 1 or not isinstance(pk[0].type, Integer):
                continue
            col = pk[0].name
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": col}).scalar()
            if seq is None:
                continue
            conn.execute(
                text(f'SELECT setval(:seq, COALESCE((SELECT MAX("{col}") FROM "{table.name}"), 1), '
                     f'(SELECT MAX("{col}") FROM "{table.name}") IS NOT NULL)'),
                {"seq": seq},
            )  # fmt: skip
            reset.append(seq)
    return reset


def _fill_vectors(target: Engine) -> int:
    """pgvector's copy of any embedding that has only its bytes (the copy writes both; this catches
    rows a target got otherwise, e.g. copied by an earlier version of this command)."""
    if target.dialect.name != "postgresql":
        return 0
    from paperboy.search.pg_index import backfill_vectors

    with target.connect() as conn:
        models = [m for (m,) in conn.execute(select(paper_embeddings.c.model).distinct())]
    return sum(backfill_vectors(target, model) for model in models)


def _nonempty(target: Engine) -> list[str]:
    with target.connect() as conn:
        return [t.name for t in copy_order() if t.name not in SEEDED and conn.execute(select(1).select_from(t).limit(1)).first()]


def migrate_data(
    source_url: str,
    target_url: str,
    *,
    resume: bool = False,
    replace: bool = False,
    batch: int = BATCH,
    progress: Callable[[str, int, int], None] | None = None,
) -> MigrationResult:
    """Copy everything from ``source_url`` to ``target_url`` (see the module's description).

    A target that already holds rows is refused unless ``resume`` (continue an interrupted copy of
    the same source) or ``replace`` (delete what the target holds first). ``progress(table, done,
    total)`` is called as each table's copy moves. Raises :class:`MigrationError` when the copy
    cannot start or the counts do not agree at the end."""
    if resume and replace:
        raise MigrationError("--resume continues a copy and --replace starts it again: pass one of them")
    progress = progress or (lambda *_: None)
    source, target = make_engine(source_url), make_engine(target_url)
    try:
        if _url(source) == _url(target):
            raise MigrationError("the source and the target are the same database")
        try:
            status = schema_status(source)
        except Exception as e:
            raise MigrationError(f"cannot open the source database: {e}") from e
        if status.state is not SchemaState.CURRENT:
            raise MigrationError(f"source: {status.message()} (the source is never changed by migrate-data)")
        try:
            upgrade(target)
        except Exception as e:
            raise MigrationError(f"cannot set up the target's schema: {e}") from e
        filled = _nonempty(target)
        if filled and not (resume or replace):
            raise MigrationError(
                f"the target already holds data (in {', '.join(filled)}): pass --resume to continue an "
                "interrupted copy from this source, or --replace to delete what the target holds and copy again"
            )
        if replace:
            with write_transaction(target) as conn:
                for table in reversed(copy_order()):
                    if table.name not in SEEDED:
                        conn.execute(delete(table))
        result = MigrationResult()
        for table in copy_order():
            with source.connect() as conn:
                source_rows = _count(conn, table)
            entry = TableResult(table.name, source_rows)
            if table.name in SEEDED:
                _copy_seeded(source, target, table)
                progress(table.name, source_rows, source_rows)
            else:
                entry.copied = _copy_table(source, target, table, batch, progress)
            result.tables.append(entry)
        result.sequences_reset = _reset_sequences(target)
        result.vectors_filled = _fill_vectors(target)
        with source.connect() as sconn, target.connect() as tconn:
            for entry in result.tables:
                table = metadata.tables[entry.table]
                entry.source_rows = _count(sconn, table)
                entry.target_rows = _count(tconn, table)
        if not result.ok:
            bad = ", ".join(f"{t.table} ({t.source_rows:,} in the source, {t.target_rows:,} in the target)" for t in result.tables if not t.ok)
            raise MigrationError(
                f"row counts differ after the copy: {bad}. Was the site still writing to the source, or did the "
                "target hold other data? Stop the site and run again with --replace."
            )
        return result
    finally:
        source.dispose()
        target.dispose()
