"""The Alembic migrations build exactly the schema the code declares, and schema states are told apart."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from paperboy.store.db import SchemaState, make_engine, schema_status, upgrade
from paperboy.store.schema import metadata


def test_migrations_match_the_declared_schema(engine):
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_schema_states(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert schema_status(engine).state is SchemaState.EMPTY
    upgrade(engine)
    assert schema_status(engine).state is SchemaState.CURRENT
    upgrade(engine)  # a second upgrade is a no-op
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'abcdef123456'"))
    status = schema_status(engine)
    assert status.state is SchemaState.AHEAD and "newer Paperboy" in status.message()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrading_a_database_with_papers_keeps_every_row(tmp_path):
    """Batch migrations rebuild tables on SQLite; nothing may be lost through cascades on the way."""
    from conftest import FIXTURES
    from paperboy.ingest.dumps import import_dump

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    import_dump(engine, FIXTURES / "kaggle-sample.jsonl")
    counts = lambda: {t: engine.connect().exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()  # noqa: E731
                      for t in ("papers", "paper_authors", "paper_categories")}  # fmt: skip
    before = counts()
    assert before["paper_authors"] == 14 and before["papers"] == 4
    upgrade(engine)
    assert counts() == before
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
