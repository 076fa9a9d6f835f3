"""Papers, their authors and categories, and the shared content counter.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer()),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("primary_category", sa.String(32)),
        sa.Column("comment", sa.Text()),
        sa.Column("journal_ref", sa.Text()),
        sa.Column("doi", sa.String(255)),
        sa.Column("license", sa.String(255)),
        sa.Column("published", sa.Date()),
        sa.Column("updated", sa.Date()),
        sa.Column("announced", sa.Date()),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("upvotes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_papers"),
        sa.UniqueConstraint("arxiv_id", name="uq_papers_arxiv_id"),
    )
    op.create_index("ix_papers_feed", "papers", ["announced", "upvotes", "arxiv_id"])
    op.create_table(
        "paper_authors",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("name_key", sa.String(512), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_paper_authors_paper_id_papers", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", "position", name="pk_paper_authors"),
    )
    op.create_index("ix_paper_authors_name_key", "paper_authors", ["name_key"])
    op.create_table(
        "paper_categories",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(8), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_paper_categories_paper_id_papers", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", "scheme", "code", name="pk_paper_categories"),
    )
    op.create_index("ix_paper_categories_code", "paper_categories", ["scheme", "code", "paper_id"])
    op.create_table(
        "site_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_site_state"),
    )
    op.bulk_insert(sa.table("site_state", sa.column("key"), sa.column("value")), [{"key": "content", "value": 0}])


def downgrade() -> None:
    op.drop_table("site_state")
    op.drop_index("ix_paper_categories_code", "paper_categories")
    op.drop_table("paper_categories")
    op.drop_index("ix_paper_authors_name_key", "paper_authors")
    op.drop_table("paper_authors")
    op.drop_index("ix_papers_feed", "papers")
    op.drop_table("papers")
