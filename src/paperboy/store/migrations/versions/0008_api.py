"""API: tokens for scripts and bots, and what Hugging Face knows about a paper beyond its upvotes.

* ``api_tokens``: a user's API tokens. Only the SHA-256 of a token is stored (the secret is shown
  once, when it is made), with a short prefix to tell tokens apart in the settings page, a scope
  (``read`` or ``write``) and when it was made, last used and revoked.
* ``papers.hf_comments`` / ``github_repo`` / ``project_page``: Hugging Face's comment count and the
  links its Daily Papers give, served by the HF-compatible API (``numComments`` stays ours).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    # Plain ADD COLUMNs: SQLite does these in place, no table rebuild.
    op.add_column("papers", sa.Column("hf_comments", sa.Integer(), nullable=True))
    op.add_column("papers", sa.Column("github_repo", sa.String(500), nullable=True))
    op.add_column("papers", sa.Column("project_page", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch_op:
        batch_op.drop_column("project_page")
        batch_op.drop_column("github_repo")
        batch_op.drop_column("hf_comments")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
