"""The Alembic migrations build exactly the schema the code declares, and schema states are told apart."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from paperboy.store.db import SchemaState, make_engine, schema_status, upgrade
from paperboy.store.schema import metadata


def _not_postgresql_only(obj, name, type_, reflected, compare_to) -> bool:
    """What migration 0009 adds on PostgreSQL only (search/pg_index.py) is checked on its own below."""
    from paperboy.search.pg_index import EMBEDDING_COLUMN, pg_metadata

    if type_ == "table":
        return name not in pg_metadata.tables
    if type_ == "column":
        return (obj.table.name, name) != EMBEDDING_COLUMN and obj.table.name not in pg_metadata.tables
    return obj.table.name not in pg_metadata.tables


# pgvector's type is reflected (then excluded or checked by name) without SQLAlchemy knowing it.
VECTOR_REFLECTED = pytest.mark.filterwarnings("ignore:Did not recognize type 'vector'")


@VECTOR_REFLECTED
def test_migrations_match_the_declared_schema(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _not_postgresql_only})
        assert compare_metadata(context, metadata) == []


@VECTOR_REFLECTED
def test_postgresql_only_search_schema(engine):
    """On PostgreSQL: pgvector, the embedding column and the keyword postings tables, as declared;
    on SQLite: none of them (the embedded backend keeps its indexes in files)."""
    from sqlalchemy import inspect

    from paperboy.search.pg_index import pg_metadata

    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        if engine.dialect.name != "postgresql":
            assert not tables & set(pg_metadata.tables)
            assert "embedding" not in {c["name"] for c in inspect(conn).get_columns("paper_embeddings")}
            return
        keep = lambda obj, name, type_, *_: (obj.table.name if type_ != "table" else name) in pg_metadata.tables  # noqa: E731
        context = MigrationContext.configure(conn, opts={"include_object": keep})
        assert compare_metadata(context, pg_metadata) == []
        assert set(pg_metadata.tables) <= tables
        assert conn.exec_driver_sql("SELECT extversion FROM pg_extension WHERE extname = 'vector'").scalar() >= "0.6"
        kind = conn.exec_driver_sql(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'paper_embeddings'::regclass AND attname = 'embedding'"
        ).scalar()
        assert kind == "vector"  # no fixed dimension: each model has its own


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

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    _store_as_0001_did(engine, FIXTURES / "kaggle-sample.jsonl")
    counts = lambda: {t: engine.connect().exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()  # noqa: E731
                      for t in ("papers", "paper_authors", "paper_categories")}  # fmt: skip
    before = counts()
    assert before["paper_authors"] == 14 and before["papers"] == 4
    upgrade(engine)
    assert counts() == before
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _store_as_0001_did(engine, path):
    """Papers written with only the columns revision 0001 had (today's import writes later ones too)."""
    import datetime as dt

    from paperboy.ingest.dumps import detect_format, parse_line
    from paperboy.papers.normalize import author_key

    now = dt.datetime(2026, 11, 1).isoformat(" ")
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    fmt = detect_format(__import__("json").loads(lines[0]))
    with engine.begin() as conn:
        for pid, line in enumerate(lines, 1):
            rec = parse_line(line, fmt)
            conn.execute(text(
                "INSERT INTO papers (id, arxiv_id, version, title, abstract, primary_category, announced, source, content_hash,"
                " upvotes, created_at, modified_at) VALUES (:id, :a, :v, :t, :ab, :pc, :an, 'kaggle', :h, 0, :now, :now)"),
                {"id": pid, "a": rec.arxiv_id, "v": rec.version, "t": rec.title, "ab": rec.abstract, "pc": rec.primary_category,
                 "an": rec.announced, "h": rec.content_hash(), "now": now})  # fmt: skip
            for i, name in enumerate(rec.authors):
                conn.execute(text("INSERT INTO paper_authors VALUES (:p, :i, :n, :k)"), {"p": pid, "i": i, "n": name, "k": author_key(name)})
            for i, code in enumerate(rec.categories):
                conn.execute(text("INSERT INTO paper_categories VALUES (:p, 'arxiv', :c, :i)"), {"p": pid, "c": code, "i": i})


def test_db_upgrade_renders_the_math_of_papers_stored_before_renderings_were(tmp_path):
    from conftest import FIXTURES
    from paperboy.papers.tex import MATH_VERSION
    from paperboy.store.maintenance import render_stale_math
    from paperboy.store.repo import get_papers

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0005")
    _store_as_0001_did(engine, FIXTURES / "kaggle-sample.jsonl")
    upgrade(engine)
    assert render_stale_math(engine) == 4
    assert render_stale_math(engine) == 0  # the second run has nothing to do
    with engine.connect() as conn:
        stored = get_papers(conn, [1, 2, 3, 4])
    assert all(p.math_version == MATH_VERSION for p in stored)
    with_math = [p for p in stored if "$" in p.abstract]
    assert with_math and all("<math" in p.abstract_html for p in with_math)
