"""Digests: subscribers, the papers each was sent, and batch claims in the outbox.

* ``subscribers``: e-mail digest subscriptions (double opt-in, preferences, bounce count).
* ``digest_deliveries``: (subscriber, paper) pairs already mailed, so editions never repeat a paper.
* ``outbox.claimed_by``: deliverers claim rows in batches; the claim says whose a 'sending' row is.
* ``outbox_bodies``: what a mail says moves out of the outbox row, so claiming and marking a row
  sent rewrites a narrow row, not a 20 KB one (SQLite rewrites whole rows on UPDATE).

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
        "outbox_bodies",
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name=op.f("fk_outbox_bodies_outbox_id_outbox"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_outbox_bodies")),
    )
    op.execute("INSERT INTO outbox_bodies (outbox_id, body_text, body_html, headers) SELECT id, body_text, body_html, headers FROM outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("headers")
        batch_op.drop_column("body_html")
        batch_op.drop_column("body_text")
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
        batch_op.add_column(sa.Column("body_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("body_html", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("headers", sa.Text(), nullable=True))
    op.execute("UPDATE outbox SET body_text = (SELECT b.body_text FROM outbox_bodies b WHERE b.outbox_id = outbox.id), "
               "body_html = (SELECT b.body_html FROM outbox_bodies b WHERE b.outbox_id = outbox.id), "
               "headers = (SELECT b.headers FROM outbox_bodies b WHERE b.outbox_id = outbox.id)")
    op.drop_table("outbox_bodies")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("claimed_by")
