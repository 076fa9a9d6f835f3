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

Two guards stand before anything is written, because ``--replace`` deletes and ``--resume`` merges:

* The target must not be the source, by any spelling (:mod:`paperboy.store.identity`: the same file,
  the same PostgreSQL server and database). As a last check, the marker below is written into the
  target and looked for through the source: seen there, they are one database.
* A copy records a fingerprint of its source in the target, in a table of its own
  (:data:`MARKER`, outside the app's schema, so no migration is needed and it is never copied),
  and drops it when the copy has verified. ``--resume`` needs that marker and the same
  fingerprint: a target that holds other data (or a copy that finished) is refused untouched
  instead of being merged with the source by id. The fingerprint is each table's first row in key
  order: cheap, the same on every run over an unchanged source, and different for a database that
  merely has the same ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, delete, func, insert, inspect, select, text, tuple_, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from paperboy.store.db import SchemaState, make_engine, schema_status, upgrade, write_transaction
from paperboy.store.identity import same_database, sqlite_file
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

#: The target's record of the copy in progress: which source (fingerprint, and its URL without the
#: password for messages), a token for the same-database check, when it started. Created by
#: migrate-data in the target, dropped when the copy has verified; not part of the app's schema.
MARKER = Table(
    "paperboy_migrate_data",
    MetaData(),
    Column("fingerprint", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("token", String(64), nullable=False),
    Column("started_at", String(32), nullable=False),
)


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
    """The app's tables that hold rows in ``target`` (read only: the schema may be old, or absent)."""
    present = set(inspect(target).get_table_names())
    with target.connect() as conn:
        return [t.name for t in copy_order()
                if t.name in present and t.name not in SEEDED and conn.execute(select(1).select_from(t).limit(1)).first()]  # fmt: skip


def _fingerprint(source: Engine) -> str:
    """The source's identity for ``--resume``: a hash of every table's first row in key order."""
    digest = hashlib.sha256()
    with source.connect() as conn:
        for table in copy_order():
            if table.name not in SEEDED:
                row = conn.execute(select(table).order_by(*_ordered(table, source.dialect.name)).limit(1)).first()
                digest.update(repr((table.name, None if row is None else tuple(row))).encode())
    return digest.hexdigest()


def _marker(engine: Engine):
    """The marker row ``engine`` holds, or None."""
    if not inspect(engine).has_table(MARKER.name):
        return None
    with engine.connect() as conn:
        return conn.execute(select(MARKER)).first()


def _write_marker(target: Engine, fingerprint: str, source: Engine) -> str:
    token = secrets.token_hex(16)
    MARKER.create(target, checkfirst=True)
    with write_transaction(target) as conn:
        conn.execute(delete(MARKER))
        conn.execute(insert(MARKER).values(fingerprint=fingerprint, source=_url(source), token=token,
                                           started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")))  # fmt: skip
    return token


def _drop_marker(target: Engine) -> None:
    MARKER.drop(target, checkfirst=True)


def _check_target(target: Engine, fingerprint: str, resume: bool, replace: bool) -> None:
    """Refuse, before anything is written, a target that holds data this run may not mix with the source's."""
    filled = _nonempty(target)
    if not filled or replace:
        return
    marker = _marker(target)
    ours = marker is not None and marker.fingerprint == fingerprint
    if not resume:
        raise MigrationError(
            f"the target already holds data (in {', '.join(filled)}): pass --resume to continue an "
            "interrupted copy from this source, or --replace to delete what the target holds and copy again"
            + (" (it holds an unfinished copy of this source, started " + marker.started_at + ")" if ours else "")
        )
    if marker is None:
        raise MigrationError(
            f"--resume: the target holds data (in {', '.join(filled)}) but no unfinished copy: either another "
            "database's data or a copy that already finished. Nothing was changed; to copy the source over "
            "what the target holds, pass --replace instead"
        )
    if not ours:
        raise MigrationError(
            f"--resume: the target holds an unfinished copy of another database ({marker.source}, started "
            f"{marker.started_at}), not of this source. Nothing was changed; resume with that source, or pass "
            "--replace to delete what the target holds and copy this one"
        )


def _open(url: str, role: str) -> Engine:
    """An engine for ``url`` (``role``: "source" or "target"), or a MigrationError saying what is wrong with it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise MigrationError(f"the {role} is not a database URL (e.g. sqlite:////var/lib/paperboy/paperboy.db)") from None  # not echoed: it may hold a password
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise MigrationError(f"the {role} is a {parsed.get_backend_name()} database: Paperboy runs on SQLite and PostgreSQL")
    if role == "source" and parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is None:
            raise MigrationError("the source cannot be an in-memory database")
        if not path.is_file():  # opening it would create it, empty
            raise MigrationError(f"the source database {path} does not exist")
    try:
        return make_engine(url)
    except Exception as e:  # a missing driver, a bad option
        raise MigrationError(f"cannot open the {role} database: {e}") from None


def _one_line(error: BaseException) -> str:
    """A database error's own message, first line (no SQL, no parameters, no link to the docs)."""
    inner = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    return (str(inner).strip().splitlines() or [type(inner).__name__])[0]


def _copy(source: Engine, target: Engine, replace: bool, batch: int, progress) -> MigrationResult:
    """Empty the target (``replace``), copy every table, move the sequences, count both sides."""
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
    return result


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
    source = _open(source_url, "source")
    target = _open(target_url, "target")
    try:
        for engine, role in ((source, "source"), (target, "target")):
            if role == "source" or engine.dialect.name == "postgresql":  # opening an SQLite target would create it: not before the checks
                try:
                    with engine.connect():
                        pass
                except SQLAlchemyError as e:
                    raise MigrationError(f"cannot open the {role} database: {_one_line(e)}") from None
        try:
            same = same_database(source, target)
            status = schema_status(source)
            fingerprint = _fingerprint(source) if not same and status.state is SchemaState.CURRENT else ""
        except SQLAlchemyError as e:
            raise MigrationError(f"cannot read the source database: {_one_line(e)}") from None
        if same:
            raise MigrationError(f"the source and the target are the same database: {same}. Nothing was changed")
        if status.state is not SchemaState.CURRENT:
            raise MigrationError(f"source: {status.message()} (the source is never changed by migrate-data)")
        try:
            _check_target(target, fingerprint, resume, replace)
            upgrade(target)
            token = _write_marker(target, fingerprint, source)
        except MigrationError:
            raise
        except Exception as e:
            raise MigrationError(f"cannot set up the target: {_one_line(e)}") from None
        seen = _marker(source)
        if seen is not None and seen.token == token:  # written into the target, read back through the source
            _drop_marker(target)
            raise MigrationError("the source and the target are the same database (a mark written into the target "
                                 "shows in the source). Nothing was changed")  # fmt: skip
        try:
            result = _copy(source, target, replace, batch, progress)
        except SQLAlchemyError as e:
            raise MigrationError(f"the copy stopped: {_one_line(e)}. What was copied is kept: after fixing the "
                                 "cause, run the same command with --resume") from None  # fmt: skip
        if not result.ok:
            bad = ", ".join(f"{t.table} ({t.source_rows:,} in the source, {t.target_rows:,} in the target)" for t in result.tables if not t.ok)
            raise MigrationError(
                f"row counts differ after the copy: {bad}. Was the site still writing to the source, or did the "
                "target hold other data? Stop the site and run again with --replace."
            )
        _drop_marker(target)
        return result
    finally:
        source.dispose()
        target.dispose()
