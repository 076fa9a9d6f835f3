"""Hardening: per-paper activity stamps, math rendered once, log-in back-off, a designated owner.

* ``papers.activity``: bumped when a paper's comments change, so a comment invalidates that
  paper's cached page only (not every page of the site, as the global content version did);
  ``site_state.activity`` says that some paper's stamp moved; ``site_state.comments`` moves with
  comment counts (cards may show them a few seconds late).
* ``papers.title_html`` / ``abstract_html`` / ``math_version``: TeX rendered to MathML once,
  when the paper is stored (NULL when the text has no math); ``paperboy db upgrade`` renders
  what older versions stored without it.
* ``site_state.sessions``: bumped when sessions end or accounts change, so per-process session
  caches stay correct across processes.
* ``rate_limits.last_at``: when the last event was counted, for back-off rules (log-in).
* ``users.is_owner``: the one account that may suspend admins.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite does these in place, no table rebuild.
    op.add_column("papers", sa.Column("activity", sa.Integer(), server_default="0", nullable=False))
    op.add_column("papers", sa.Column("title_html", sa.Text(), nullable=True))
    op.add_column("papers", sa.Column("abstract_html", sa.Text(), nullable=True))
    op.add_column("papers", sa.Column("math_version", sa.Integer(), server_default="0", nullable=False))
    op.add_column("rate_limits", sa.Column("last_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("is_owner", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.bulk_insert(sa.table("site_state", sa.column("key"), sa.column("value")), [{"key": k, "value": 0} for k in ("comments", "activity", "sessions")])


def downgrade() -> None:
    op.execute("DELETE FROM site_state WHERE key IN ('comments', 'activity', 'sessions')")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("is_owner")
    with op.batch_alter_table("rate_limits") as batch_op:
        batch_op.drop_column("last_at")
    with op.batch_alter_table("papers") as batch_op:
        batch_op.drop_column("math_version")
        batch_op.drop_column("abstract_html")
        batch_op.drop_column("title_html")
        batch_op.drop_column("activity")
