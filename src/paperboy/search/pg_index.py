"""The search indexes PostgreSQL holds (migration 0009), and writing them — the worker's side.

* **Keyword**: the same BM25 impact index the embedded backend keeps in a file
  (:func:`~paperboy.search.keyword.build_keyword_index`: Snowball stems, title ×2, Lucene idf,
  k1 1.2, b 0.75), stored as one row per term — ``paper_ids`` (uint32, ascending) and ``impacts``
  (float32), little-endian — in a *generation*. ``paperboy index`` writes a new generation and marks
  it complete in one transaction, then drops the older ones; each query reads the rows of its own
  terms from the newest complete generation in one statement, so it never mixes two. A web node
  reads nothing else and keeps no index of its own (only the papers added since the generation, see
  :mod:`paperboy.search.pg`). Document frequencies drift as papers arrive: each rebuild (the
  worker's daily index step) re-scores everything with the new statistics.
* **Dense**: ``paper_embeddings.embedding`` (pgvector, no fixed dimension), written with the
  ``vector`` bytes in the same row (both are kept: the bytes are what the portable schema, the
  embedded backend and ``migrate-data`` read); one HNSW index per model (cosine) over
  ``embedding::vector(dim)``, partial on the model, made once there are vectors to index — after
  that PostgreSQL keeps it current as rows arrive.

These tables are PostgreSQL-only, so they live here and not in :mod:`paperboy.store.schema` (whose
tables exist on both databases); tests/test_schema.py checks them against the migration.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    delete,
    false,
    func,
    insert,
    select,
    text,
    update,
)

from paperboy import clock
from paperboy.search.keyword import KeywordIndex
from paperboy.store import versions
from paperboy.store.db import write_transaction
from paperboy.store.schema import paper_embeddings
from paperboy.store.types import UTCDateTime

__all__ = [
    "EMBEDDING_COLUMN",
    "backfill_vectors",
    "ensure_vector_index",
    "hnsw_index_name",
    "pg_metadata",
    "search_generations",
    "search_postings",
    "vector_literal",
    "insert_embeddings",
    "write_keyword_generation",
]

pg_metadata = MetaData()

search_generations = Table(
    "search_generations",
    pg_metadata,
    Column("generation", Integer, primary_key=True),
    Column("complete", Boolean, nullable=False, server_default=false()),
    Column("papers", Integer, nullable=False),
    Column("max_paper_id", Integer, nullable=False),  # papers with a larger id are not in it
    Column("terms", Integer, nullable=False, server_default="0"),
    Column("postings", BigInteger, nullable=False, server_default="0"),
    Column("built_at", UTCDateTime(), nullable=False),
)

search_postings = Table(
    "search_postings",
    pg_metadata,
    Column("generation", Integer, ForeignKey("search_generations.generation", ondelete="CASCADE"), primary_key=True),
    Column("term", Text, primary_key=True),
    Column("paper_ids", LargeBinary, nullable=False),  # uint32 little-endian, ascending
    Column("impacts", LargeBinary, nullable=False),  # float32 little-endian, BM25 of (term, paper)
)

#: ``paper_embeddings`` has this column on PostgreSQL only (pgvector's ``vector``, any dimension).
EMBEDDING_COLUMN = ("paper_embeddings", "embedding")

POSTINGS_BATCH = 2_000  # terms per INSERT: a few MB per statement at 1M papers


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, ``[0.1,0.2,…]`` (float32 printed exactly)."""
    return "[" + ",".join(map(repr, np.asarray(vector, np.float32).tolist())) + "]"


# -- keyword -----------------------------------------------------------------------------------------


def write_keyword_generation(engine: Engine, index: KeywordIndex) -> int:
    """Store ``index`` as a new complete generation, drop the older ones, move the search version
    (search processes see the new generation on their next query). Returns the generation number.

    One transaction: a crash leaves the previous generation serving, and nothing half-written."""
    impacts = index.impacts  # columns ascending within each row
    col_ids = np.asarray(index.paper_ids, np.int64)
    if len(col_ids) and (col_ids.max() >= 2**32 or np.any(np.diff(col_ids) <= 0)):
        raise ValueError("paper ids must be ascending and fit in 32 bits")
    terms = sorted(index.vocab, key=index.vocab.get)
    with write_transaction(engine) as conn:
        generation = (conn.execute(select(func.max(search_generations.c.generation))).scalar() or 0) + 1
        conn.execute(
            insert(search_generations).values(
                generation=generation, complete=False, papers=len(col_ids), max_paper_id=int(col_ids.max()) if len(col_ids) else 0,
                terms=len(terms), postings=int(impacts.nnz), built_at=clock.now(),
            )
        )  # fmt: skip
        rows = []
        for row, term in enumerate(terms):
            lo, hi = impacts.indptr[row], impacts.indptr[row + 1]
            if lo == hi:
                continue
            ids = col_ids[impacts.indices[lo:hi]].astype("<u4")  # CSR columns are ascending, so are ids
            rows.append({"generation": generation, "term": term, "paper_ids": ids.tobytes(),
                         "impacts": impacts.data[lo:hi].astype("<f4").tobytes()})  # fmt: skip
            if len(rows) >= POSTINGS_BATCH:
                conn.execute(insert(search_postings), rows)
                rows = []
        if rows:
            conn.execute(insert(search_postings), rows)
        conn.execute(update(search_generations).where(search_generations.c.generation == generation).values(complete=True))
        conn.execute(delete(search_generations).where(search_generations.c.generation < generation))  # cascades to postings
        versions.bump_search_version(conn)
    return generation


# -- dense -------------------------------------------------------------------------------------------


def insert_embeddings(conn: Connection, rows: list[dict]) -> None:
    """Insert ``paper_embeddings`` rows (their ``vector`` bytes) with ``embedding`` set from the same
    bytes — :func:`~paperboy.search.vectors.store_embeddings` on PostgreSQL, in its transaction."""
    conn.execute(
        text(
            "INSERT INTO paper_embeddings (paper_id, model, text_hash, vector, embedding)"
            " VALUES (:paper_id, :model, :text_hash, :vector, CAST(:embedding AS vector))"
        ),
        [dict(row, embedding=vector_literal(np.frombuffer(row["vector"], "<f4"))) for row in rows],
    )


def backfill_vectors(engine: Engine, model: str, *, batch: int = 5_000) -> int:
    """Fill ``embedding`` where only the bytes are there (rows copied by ``migrate-data``, or written
    before migration 0009). Returns how many rows it filled."""
    filled = 0
    while True:
        with write_transaction(engine) as conn:
            rows = conn.execute(
                select(paper_embeddings.c.seq, paper_embeddings.c.vector)
                .where(paper_embeddings.c.model == model, text("embedding IS NULL"))
                .order_by(paper_embeddings.c.seq).limit(batch)
            ).all()  # fmt: skip
            if not rows:
                return filled
            conn.execute(
                text("UPDATE paper_embeddings SET embedding = CAST(:embedding AS vector) WHERE seq = :seq"),
                [{"embedding": vector_literal(np.frombuffer(blob, "<f4")), "seq": seq} for seq, blob in rows],
            )
            filled += len(rows)


def hnsw_index_name(model: str) -> str:
    """One index per model: a readable prefix and a digest (model names may hold any character)."""
    return "ix_paper_embeddings_hnsw_" + hashlib.blake2b(model.encode(), digest_size=6).hexdigest()


def model_literal(conn: Connection, model: str) -> str:
    """``model`` as a quoted SQL string literal: the HNSW index is partial on the model, and the
    planner uses a partial index only for a query whose WHERE clause names the same constant (a
    bound parameter stops matching once the driver prepares the statement)."""
    from sqlalchemy import String

    return String().literal_processor(conn.dialect)(model)


#: HNSW build parameters: pgvector's defaults (m 16, ef_construction 64), the same graph degree and
#: build width as the embedded backend's usearch graph.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64


def ensure_vector_index(engine: Engine, model: str, dim: int, *, maintenance_work_mem: str = "1GB") -> float:
    """Create the model's HNSW index if it is missing (after a bulk load this is one parallel build;
    afterwards PostgreSQL maintains it). Returns seconds spent building (0.0: it was there)."""
    name = hnsw_index_name(model)
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
            return 0.0
        started = time.perf_counter()
        # Raise the session's memory for the build, never lower it below the server's own setting: a
        # graph that does not fit is built on disk, several times slower.
        configured = conn.execute(text("SELECT setting::bigint * 1024 FROM pg_settings WHERE name = 'maintenance_work_mem'")).scalar()
        wanted = conn.execute(text("SELECT pg_size_bytes(:v)"), {"v": maintenance_work_mem}).scalar()
        if wanted > configured:
            conn.execute(text(f"SET maintenance_work_mem = '{maintenance_work_mem}'"))
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {name} ON paper_embeddings USING hnsw ((embedding::vector({int(dim)})) vector_cosine_ops)"
                f" WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE model = {model_literal(conn, model)}"
            )
        )
        conn.commit()
        return time.perf_counter() - started
