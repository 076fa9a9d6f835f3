"""The schema, as SQLAlchemy Core tables: one definition for SQLite and PostgreSQL.

Only portable types and constraints are used; database-specific search structures (FTS5, pgvector)
live with the search backends, not here. Every change goes through an Alembic migration in
``store/migrations/versions``; a test checks the migrations and these tables agree.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

papers = Table(
    "papers",
    metadata,
    Column("id", Integer, primary_key=True),
    # Canonical, versionless: "2406.01234" or "hep-th/9901001".
    Column("arxiv_id", String(64), nullable=False, unique=True),
    Column("version", Integer),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False),
    Column("primary_category", String(32)),
    Column("comment", Text),
    Column("journal_ref", Text),
    Column("doi", String(255)),
    Column("license", String(255)),
    Column("published", Date),  # first version submitted
    Column("updated", Date),  # latest version submitted
    Column("announced", Date),  # first appeared in an arXiv listing: the paper's feed day
    Column("source", String(32), nullable=False),
    Column("content_hash", String(32), nullable=False),
    # Denormalised vote count, kept by the community module, so feeds sort without a join.
    Column("upvotes", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    # The feed query: one day (or range), best first, stable order.
    Index("ix_papers_feed", "announced", "upvotes", "arxiv_id"),
)

paper_authors = Table(
    "paper_authors",
    metadata,
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(512), nullable=False),
    # Case- and accent-folded name for "papers by this author" look-ups.
    Column("name_key", String(512), nullable=False, index=True),
)

paper_categories = Table(
    "paper_categories",
    metadata,
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    # "arxiv" (cs.CL), "acm" (I.2.7) or "msc" (68T05): classification schemes kept apart.
    Column("scheme", String(8), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_paper_categories_code", "scheme", "code", "paper_id"),
)

# Small counters shared by every process. "content" is bumped in the same transaction as any write
# that changes what a page shows, so page caches in any number of web processes stay correct.
site_state = Table(
    "site_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)
