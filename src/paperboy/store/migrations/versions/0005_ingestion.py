"""Ingestion: harvest checkpoints, shared request slots, job runs; withdrawn and HF upvotes on papers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (no constraint changes): SQLite does these in place, no table rebuild.
    op.add_column("papers", sa.Column("withdrawn", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("papers", sa.Column("hf_upvotes", sa.Integer(), nullable=True))
    op.create_table(
        "harvest_checkpoints",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("resumption_token", sa.Text(), nullable=True),
        sa.Column("pages", sa.Integer(), server_default="0", nullable=False),
        sa.Column("records", sa.Integer(), server_default="0", nullable=False),
        sa.Column("complete", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_harvest_checkpoints"),
    )
    op.create_table(
        "request_slots",
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("service", name="pk_request_slots"),
    )
    op.create_table(
        "job_runs",
        sa.Column("run_key", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_key", name="pk_job_runs"),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
    op.drop_table("request_slots")
    op.drop_table("harvest_checkpoints")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("hf_upvotes")
        batch.drop_column("withdrawn")
