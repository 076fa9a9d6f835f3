"""Engine set-up and schema versioning.

SQLite is the embedded default: a file in WAL mode (readers never block the writer), with foreign
keys on and a busy timeout so several processes can share it. PostgreSQL takes over unchanged when
``PAPERBOY_DATABASE_URL`` points at it. The schema is owned by Alembic; :func:`schema_status` tells
the CLI whether a database is ready, behind, or newer than this code.
"""

from __future__ import annotations

import enum
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

__all__ = ["make_engine", "write_transaction", "retrying", "upgrade", "schema_status", "SchemaState", "SchemaStatus", "SchemaError", "head_revision", "current_revision"]

MIGRATIONS = Path(__file__).with_name("migrations")
#: Seconds a new PostgreSQL connection may take (libpq's ``connect_timeout``; a ``?connect_timeout=``
#: in the URL wins). Without one, a database host that stops answering holds every request — and
#: /readyz, which should say so — for as long as TCP keeps trying (minutes).
CONNECT_TIMEOUT_S = 10


class SchemaError(RuntimeError):
    """The database's schema does not match this version of Paperboy."""


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; for SQLite files, the parent folder is created and WAL is switched on."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if u.get_backend_name() == "postgresql" and "connect_timeout" not in u.query:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S, **kwargs.get("connect_args", {})}
    return create_engine(u, **kwargs)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin):
    # without this, SAVEPOINTs (begin_nested) commit the enclosing transaction on pysqlite.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # A modest page cache per connection and no memory map: each pooled connection kept up to 64 MiB
    # of pages, and the 256 MiB map put the whole file into the process's resident memory (measured:
    # loading search's catalog went from +190 MB to +24 MB). Rendered pages are cached above the
    # database; re-reads come from the operating system's file cache.
    cur.execute("PRAGMA cache_size=-16384")  # 16 MiB
    cur.execute("PRAGMA mmap_size=0")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_begin(conn) -> None:
    # Write transactions take the write lock up front (BEGIN IMMEDIATE): in WAL mode a reader that
    # later tries to write fails at once with SQLITE_BUSY if another writer got in between, which
    # the busy timeout cannot help with. Reads stay deferred so they never wait for writers.
    immediate = conn.get_execution_options().get("immediate", False)
    if not immediate:
        conn.exec_driver_sql("BEGIN")
        return
    _begin_immediate(conn.connection.dbapi_connection)


BUSY_TIMEOUT_MS = 10_000  # SQLite's own wait, for everything but taking the write lock
BUSY_WAIT_SECONDS = BUSY_TIMEOUT_MS / 1000  # how long a writer waits for the write lock before "database is locked"
_BUSY_STEP = 0.002


def _begin_immediate(dbapi_conn) -> None:
    """``BEGIN IMMEDIATE``, waiting for the write lock in 2 ms steps.

    SQLite's own busy handler sleeps in growing steps (up to 100 ms each) between tries; a vote
    waiting behind an import, whose next batch takes the lock the moment the last one commits, kept
    missing the gaps and waited up to a second (bench/import_contention.py). Polling in short steps
    gives every waiting writer a fair chance at each gap, so it waits about one batch.
    """
    import sqlite3
    import time

    from sqlalchemy.exc import OperationalError

    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=0")  # our loop waits, not SQLite's
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    try:
        while True:
            try:
                cur.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() >= deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, e) from None  # as SQLAlchemy raises it
                time.sleep(_BUSY_STEP)
    finally:
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()


@contextmanager
def write_transaction(engine: Engine, *, dry_run: bool = False, keep_on: tuple[type[BaseException], ...] = ()):
    """The one way to write: a transaction that takes the write lock up front (``BEGIN IMMEDIATE`` on
    SQLite, an ordinary transaction elsewhere), committed when the block ends without an error.

    With ``dry_run`` the block runs exactly as it would — same reads, same writes, same counts — and
    is rolled back instead of committed, so a preview says precisely what a real run would change.

    ``keep_on``: exceptions after which what the block wrote is still committed (then re-raised).
    The web layer passes :class:`~paperboy.errors.DomainError`: a refusal keeps what was recorded on
    the way to it — a failed log-in's count, a rate-limit hit — because domain functions make every
    check before they change anything else.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(immediate=True)
        tx = conn.begin()
        try:
            yield conn
        except keep_on:
            if dry_run:
                tx.rollback()
            else:
                tx.commit()
            raise
        except BaseException:
            tx.rollback()
            raise
        if dry_run:
            tx.rollback()
        else:
            tx.commit()


def retrying(engine: Engine, fn, *, attempts: int = 5, wait: float = 0.5):
    """``fn(conn)`` in a write transaction, tried again (``attempts`` in all, waiting longer each
    time) when the database stays busy past its busy timeout — for batch writers (imports, ingests,
    indexing) that must not die because the site was writing at the same moment."""
    import time

    from sqlalchemy.exc import OperationalError

    for attempt in range(attempts):
        try:
            with write_transaction(engine) as conn:
                return fn(conn)
        except OperationalError as e:
            busy = "database is locked" in str(e) or "deadlock detected" in str(e) or "could not serialize" in str(e)
            if not busy or attempt == attempts - 1:
                raise
            time.sleep(wait * 2**attempt)


def serialize_writes(conn, key: int) -> None:
    """Let one transaction at a time past this point for ``key``, until it commits or rolls back.

    SQLite needs nothing: a write transaction (BEGIN IMMEDIATE) already excludes all other writers.
    On PostgreSQL this is a transaction-level advisory lock; readers never wait for it. Used where a
    writer reads, then writes what it read was missing (upserts), and where rows must become visible
    in the order of their ids (a reader that has seen id n must not later find a smaller one).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration this code knows (read from the scripts once per process)."""
    if not _head:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        _head.append(ScriptDirectory.from_config(cfg).get_current_head())
    return _head[0]


_head: list[str] = []


def current_revision(conn) -> str | None:
    """The schema revision the database is at (``None``: never migrated). One query."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default)."""
    command.upgrade(_alembic_config(engine), revision)


class SchemaState(enum.Enum):
    CURRENT = "current"
    EMPTY = "empty"  # never migrated
    BEHIND = "behind"  # older schema: run `paperboy db upgrade`
    AHEAD = "ahead"  # made by a newer Paperboy


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    current: str | None
    head: str

    def message(self) -> str:
        if self.state is SchemaState.EMPTY:
            return "The database has not been set up yet. Run `paperboy db upgrade` first (or pass --migrate)."
        if self.state is SchemaState.BEHIND:
            return (
                f"The database schema ({self.current}) is older than this Paperboy ({self.head}). "
                "Run `paperboy db upgrade` (or pass --migrate)."
            )
        if self.state is SchemaState.AHEAD:
            return (
                f"The database schema ({self.current}) was made by a newer Paperboy than this one "
                f"(which knows up to {self.head}). Upgrade Paperboy; downgrading the data is not done automatically."
            )
        return f"The database schema is up to date ({self.current})."


def schema_status(engine: Engine) -> SchemaStatus:
    script = ScriptDirectory.from_config(_alembic_config(engine))
    head = script.get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        state = SchemaState.EMPTY
    elif current == head:
        state = SchemaState.CURRENT
    else:
        try:
            known = script.get_revision(current) is not None
        except Exception:  # alembic raises for revisions it has never heard of
            known = False
        state = SchemaState.BEHIND if known else SchemaState.AHEAD
    return SchemaStatus(state, current, head)


def require_current_schema(engine: Engine, migrate: bool = False) -> None:
    """Raise :class:`SchemaError` unless the schema is current; with ``migrate``, upgrade instead."""
    status = schema_status(engine)
    if status.state is SchemaState.CURRENT:
        return
    if migrate and status.state in (SchemaState.EMPTY, SchemaState.BEHIND):
        upgrade(engine)
        return
    raise SchemaError(status.message())
