"""Search inside PostgreSQL: pgvector for the embeddings, the BM25 impact index as database rows.

PostgreSQL only (SQLite keeps its indexes in files beside the database and is left untouched):

* ``CREATE EXTENSION vector`` (pgvector ≥ 0.6; needs a role that may create it, or a DBA who did);
* ``paper_embeddings.embedding vector``: the same vector as the ``vector`` bytes, as pgvector's
  type, without a fixed dimension (each model has its own); the HNSW index is per model, made by
  ``paperboy index`` (``CREATE INDEX … ((embedding::vector(dim))) … WHERE model = …``);
* ``search_generations`` / ``search_postings``: one complete BM25 impact index per generation,
  one row per term (paper ids and precomputed impacts as little-endian arrays); the newest
  complete generation is served, older ones are deleted (cascade) after a new one is complete.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("ALTER TABLE paper_embeddings ADD COLUMN embedding vector")
    # A row holds the vector twice (bytes and pgvector's type), which is over PostgreSQL's 2 kB TOAST
    # threshold at 384 dimensions: keep pgvector's copy in the row (MAIN) and move the bytes out
    # (EXTERNAL), so searching — which reads `embedding` for every result — never fetches TOAST.
    op.execute("ALTER TABLE paper_embeddings ALTER COLUMN vector SET STORAGE EXTERNAL, ALTER COLUMN embedding SET STORAGE MAIN")
    op.create_table(
        "search_generations",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("papers", sa.Integer(), nullable=False),
        sa.Column("max_paper_id", sa.Integer(), nullable=False),
        sa.Column("terms", sa.Integer(), server_default="0", nullable=False),
        sa.Column("postings", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("generation", name="pk_search_generations"),
    )
    op.create_table(
        "search_postings",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("paper_ids", sa.LargeBinary(), nullable=False),
        sa.Column("impacts", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["generation"], ["search_generations.generation"], name="fk_search_postings_generation_search_generations", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("generation", "term", name="pk_search_postings"),
    )
    # Out of line and uncompressed: a query reads whole postings, and decompressing megabytes of ids
    # and floats (which compress poorly) would cost more than the bytes saved.
    op.execute("ALTER TABLE search_postings ALTER COLUMN paper_ids SET STORAGE EXTERNAL, ALTER COLUMN impacts SET STORAGE EXTERNAL")


def downgrade() -> None:
    if not _postgresql():
        return
    op.drop_table("search_postings")
    op.drop_table("search_generations")
    op.execute("ALTER TABLE paper_embeddings DROP COLUMN embedding")  # its per-model HNSW indexes go with it
