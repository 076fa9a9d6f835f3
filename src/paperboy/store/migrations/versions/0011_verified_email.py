"""Verified e-mail addresses: ``users.email_verified_at``; an address is unique among verified
accounts only; links between accounts and digest subscriptions made before this are dropped.

What existing data gets, and why:

* Every existing account is *unverified* (``email_verified_at`` NULL) until it clicks a mailed
  link (or resets its password by one): nothing before this release proved that an account's
  address was its own, and an account made with somebody else's address must not keep it.
* Every ``subscribers.user_id`` is cleared. Sign-up never checked addresses, so a link may be a
  stranger's take-over of somebody's subscription (issue #22); there is no telling which. The
  subscription itself (address, state, preferences) is untouched and keeps arriving; the account
  that verifies the address is linked to it again (accounts/verification.py), and until then its
  "more like my upvotes" picks nothing (that needs the link).
* The lower-cased key of an address now comes from ``mail/addresses.py`` (IDNA domain); stored
  keys are left as they are: for ASCII addresses, every one that could ever get mail, they are
  the same.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

VERIFIED = sa.text("email_verified_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint("uq_users_email_key", type_="unique")
        batch_op.create_index("ix_users_email_key", ["email_key"])
        batch_op.create_index("uq_users_verified_email", ["email_key"], unique=True, sqlite_where=VERIFIED, postgresql_where=VERIFIED)
    op.execute("UPDATE subscribers SET user_id = NULL WHERE user_id IS NOT NULL")


def downgrade() -> None:
    # Several unverified accounts may share an address now; the old constraint cannot come back
    # while they do, so the downgrade refuses rather than delete accounts.
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_index("uq_users_verified_email")
        batch_op.drop_index("ix_users_email_key")
        batch_op.create_unique_constraint("uq_users_email_key", ["email_key"])
        batch_op.drop_column("email_verified_at")
