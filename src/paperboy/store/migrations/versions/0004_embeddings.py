"""Paper embeddings for semantic search; a "search" counter in site_state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_embeddings",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("text_hash", sa.String(32), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_paper_embeddings_paper_id_papers", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_paper_embeddings"),
    )
    op.create_index("ux_paper_embeddings_paper_model", "paper_embeddings", ["paper_id", "model"], unique=True)
    op.bulk_insert(sa.table("site_state", sa.column("key"), sa.column("value")), [{"key": "search", "value": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM site_state WHERE key = 'search'")
    op.drop_index("ux_paper_embeddings_paper_model", "paper_embeddings")
    op.drop_table("paper_embeddings")
