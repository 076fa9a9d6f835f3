"""Digests: subscribers, the papers each was sent, and batch claims in the outbox.

* ``subscribers``: e-mail digest subscriptions (double opt-in, preferences, bounce count).
* ``digest_deliveries``: (subscriber, paper) pairs already mailed, so editions never repeat a paper.
* ``outbox.claimed_by``: deliverers claim rows in batches; the claim says whose a 'sending' row is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("claimed_by", sa.String(length=64), nullable=True))
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("trending_count", sa.Integer(), nullable=False),
        sa.Column("personal_count", sa.Integer(), nullable=False),
        sa.Column("keywords", sa.Text(), server_default="", nullable=False),
        sa.Column("authors", sa.Text(), server_default="", nullable=False),
        sa.Column("categories", sa.Text(), server_default="", nullable=False),
        sa.Column("more_like_votes", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("token_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bounces", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_subscribers_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("email_key", name=op.f("uq_subscribers_email_key")),
        sa.UniqueConstraint("user_id", name=op.f("uq_subscribers_user_id")),
    )
    op.create_index("ix_subscribers_status", "subscribers", ["status", "frequency", "id"], unique=False)
    op.create_table(
        "digest_deliveries",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("edition", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], name=op.f("fk_digest_deliveries_paper_id_papers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], name=op.f("fk_digest_deliveries_subscriber_id_subscribers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscriber_id", "paper_id", name=op.f("pk_digest_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("digest_deliveries")
    op.drop_index("ix_subscribers_status", table_name="subscribers")
    op.drop_table("subscribers")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("claimed_by")
