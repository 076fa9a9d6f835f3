"""Taking SQLite's write lock: writers wait in short steps, give up with SQLAlchemy's "database is
locked" error after the busy wait (which `retrying` knows), and leave the connection as they found it."""

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from paperboy.store import db
from paperboy.store.db import make_engine, retrying, write_transaction


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield engine
    engine.dispose()


def test_a_writer_behind_a_held_lock_gives_up_with_the_locked_error(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(db, "BUSY_WAIT_SECONDS", 0.05)
    holder = sqlite3.connect(tmp_path / "lock.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            with write_transaction(engine) as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
        tries = []
        with pytest.raises(OperationalError, match="database is locked"):
            retrying(engine, lambda conn: tries.append(1), attempts=2, wait=0.01)
        assert tries == []  # the block never ran without the lock
    finally:
        holder.rollback()
        holder.close()
    with engine.connect() as conn:  # the pooled connection has SQLite's own busy timeout back
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_MS
    with write_transaction(engine) as conn:  # and the lock, once free, is taken at once
        conn.execute(text("INSERT INTO t VALUES (2)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [2]
