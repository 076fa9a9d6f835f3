"""The schema, as SQLAlchemy Core tables: one definition for SQLite and PostgreSQL.

Only portable types and constraints are used; database-specific search structures (FTS5, pgvector)
live with the search backends, not here. Every change goes through an Alembic migration in
``store/migrations/versions``; a test checks the migrations and these tables agree.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text, false, text

from paperboy.store.types import UTCDateTime

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
    Column("comment_count", Integer, nullable=False, server_default="0"),
    # Community: who put the paper on the feed (NULL for papers that came from arXiv listings).
    Column("submitted_by", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("submitted_at", UTCDateTime()),
    # Moderation: hidden papers stay stored but appear on no feed.
    Column("hidden_at", UTCDateTime()),
    # Ingestion: arXiv marks withdrawn papers; Hugging Face's own upvote count, kept apart from ours.
    Column("withdrawn", Boolean, nullable=False, server_default=false()),
    Column("hf_upvotes", Integer),
    # What Hugging Face's Daily Papers say beyond upvotes: its comment count and the paper's links.
    Column("hf_comments", Integer),
    Column("github_repo", String(500)),
    Column("project_page", String(500)),
    # Bumped when the paper's comments change: its cached page goes, no other page does.
    Column("activity", Integer, nullable=False, server_default="0"),
    # TeX rendered to sanitised MathML when the paper is stored (NULL: the text has no math);
    # math_version says which renderer made it (papers.tex.MATH_VERSION), so a better one re-renders.
    Column("title_html", Text),
    Column("abstract_html", Text),
    Column("math_version", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("modified_at", UTCDateTime(), nullable=False),
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


# --- community ---------------------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(32), nullable=False),
    # Lower-cased copies carry the uniqueness, so "Alice" and "alice" cannot both exist.
    Column("username_key", String(32), nullable=False, unique=True),
    Column("email", String(254), nullable=False),  # as mail is sent to it (mail/addresses.py)
    Column("email_key", String(254), nullable=False),  # the mailbox (mail/addresses.py)
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    # The one account that may suspend admins (and that no admin can suspend).
    Column("is_owner", Boolean, nullable=False, server_default=false()),
    Column("suspended_at", UTCDateTime()),
    Column("suspended_reason", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    # When the account proved it receives mail at its address (clicked a mailed link); until then
    # nothing is tied to the address (accounts/verification.py).
    Column("email_verified_at", UTCDateTime()),
    # An address belongs to one *verified* account; unverified ones may share it, so that signing
    # up with somebody else's address cannot lock the mailbox's owner out.
    Index("uq_users_verified_email", "email_key", unique=True,
          sqlite_where=text("email_verified_at IS NOT NULL"), postgresql_where=text("email_verified_at IS NOT NULL")),
    Index("ix_users_email_key", "email_key"),
)

# Server-side sessions: the cookie holds a random token, the table its SHA-256. Logging out,
# suspending or resetting a password deletes rows, and the session is gone everywhere at once.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# One vote per user per paper: the primary key enforces it, also under concurrent requests.
votes = Table(
    "votes",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_votes_paper", "paper_id", "created_at"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("edited_at", UTCDateTime()),
    Column("deleted_at", UTCDateTime()),  # by its author
    Column("hidden_at", UTCDateTime()),  # by a moderator
    Index("ix_comments_paper", "paper_id", "created_at"),
    Index("ix_comments_user", "user_id", "created_at"),
)

# "This author is me": a user claims one author position on a paper; an admin decides.
authorship_claims = Table(
    "authorship_claims",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("author_position", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # pending, approved, rejected
    Column("created_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime()),
    Column("decided_by", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Index("ix_authorship_claims_paper", "paper_id", "author_position", "status"),
    Index("ix_authorship_claims_status", "status", "created_at"),
)

# Every moderator action, for the admins' audit page.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("actor_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("action", String(32), nullable=False),
    Column("target", String(128), nullable=False),
    Column("detail", Text),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
)

# API tokens (``Authorization: Bearer pb_…``): only the SHA-256 of the secret is stored; ``prefix``
# (the secret's first characters) tells a user's tokens apart. Scope is "read" or "write".
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scope", String(8), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

# Fixed-window counters for rate limits, in the database so every web process shares them.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("count", Integer, nullable=False),
    Column("last_at", UTCDateTime()),  # the latest event counted (back-off rules wait from it)
)


# --- mail --------------------------------------------------------------------------------------

# The outbox: every mail the site sends is a row first, written in the same transaction as what
# caused it, and sent later by a deliverer (paperboy.mail.outbox) so no web request waits on SMTP.
# The unique idempotency key ("reset:42:<digest>", "digest:2026-06-30:user:7") makes each mail
# happen once however often its cause is retried. lease_until is "nobody takes this row before":
# for a 'sending' row the deliverer's lease, for a 'queued' row the retry back-off.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("to_addr", String(254), nullable=False),
    Column("subject", String(300), nullable=False),
    # queued, sending, sent; failed (out of attempts), bounced (the server refused the recipient for
    # good: 5xx), cancelled (the recipient no longer wants it, e.g. unsubscribed after it was queued)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime()),
    Column("sent_at", UTCDateTime()),
    # Which claim holds a 'sending' row: a deliverer claims rows in batches and records, renews and
    # finishes only the rows its own claim still holds.
    Column("claimed_by", String(64)),
    Index("ix_outbox_queue", "status", "created_at"),
)

# What an outbox row sends, kept apart from its delivery state: a claim or a 'sent' mark updates
# the narrow row above, and SQLite rewrites a whole row on UPDATE — with a 20 KB digest in it, 35
# times the work (measured: 0.52 ms against 0.015 ms per update and commit).
outbox_bodies = Table(
    "outbox_bodies",
    metadata,
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("headers", Text),  # JSON object of extra headers, e.g. List-Unsubscribe
)


# --- digests -----------------------------------------------------------------------------------

# Who gets the e-mail digest. An address is mailed nothing but its confirmation link until it is
# confirmed (double opt-in); ``token_version`` is signed into every link, so bumping it (or changing
# the address, or deleting the row) makes every earlier link stop working.
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False),
    Column("email_key", String(254), nullable=False, unique=True),  # lower-cased: one row per mailbox
    Column("name", String(200)),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), unique=True),
    # pending (not confirmed yet), active, unsubscribed, bounced (disabled after too many 5xx answers)
    Column("status", String(16), nullable=False),
    Column("frequency", String(8), nullable=False),  # daily, weekly
    Column("trending_count", Integer, nullable=False),
    Column("personal_count", Integer, nullable=False),
    Column("keywords", Text, nullable=False, server_default=""),  # one query per line
    Column("authors", Text, nullable=False, server_default=""),  # one name per line
    Column("categories", Text, nullable=False, server_default=""),  # space-separated arXiv codes
    Column("more_like_votes", Boolean, nullable=False, server_default=false()),
    Column("token_version", Integer, nullable=False, server_default="0"),
    Column("bounces", Integer, nullable=False, server_default="0"),  # permanent refusals since the last delivery
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime()),
    Column("unsubscribed_at", UTCDateTime()),
    Index("ix_subscribers_status", "status", "frequency", "id"),
)

# Which papers a subscriber was sent, written in the same transaction as the edition's outbox row,
# so no later edition repeats a paper and a rerun of an edition repeats nothing.
digest_deliveries = Table(
    "digest_deliveries",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("edition", String(16), nullable=False),  # 2026-06-30 (daily) or 2026-W27 (weekly)
    Column("created_at", UTCDateTime(), nullable=False),
)


# --- search ------------------------------------------------------------------------------------

# One embedding per paper and model. ``text_hash`` is the digest of the text that was embedded, so
# a paper whose title or abstract changes is embedded again; ``seq`` grows with every write, so a
# search process picks up exactly the vectors written since it last looked.
paper_embeddings = Table(
    "paper_embeddings",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("paper_id", Integer, ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("model", String(100), nullable=False),
    Column("text_hash", String(32), nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, L2-normalised, little-endian
    Index("ux_paper_embeddings_paper_model", "paper_id", "model", unique=True),
)


# --- ingestion and jobs --------------------------------------------------------------------------

# Where a long harvest stopped: one row per harvest (source + its parameters), updated after every
# page in the same transaction as that page's papers, so a killed harvest resumes at the next page.
harvest_checkpoints = Table(
    "harvest_checkpoints",
    metadata,
    Column("key", String(200), primary_key=True),  # e.g. "oai:arXivRaw:cs:2026-06-01:"
    Column("resumption_token", Text),  # NULL: start from the beginning
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("records", Integer, nullable=False, server_default="0"),
    Column("complete", Boolean, nullable=False, server_default=false()),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# The first run's backfill (ingest/backfill.py): one row, "first-run", made when the worker starts
# on an empty database. It keeps the plan (window, categories) so a rerun after a crash carries on
# with the same harvests, and the progress the empty home page shows (updated after every page).
backfill_state = Table(
    "backfill_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # running, stopped (by a failure), done
    Column("first_day", Date, nullable=False),  # the earliest listing day wanted
    Column("last_day", Date, nullable=False),  # the newest (the day the backfill started)
    Column("from_date", Date, nullable=False),  # the OAI ``from`` of the harvests
    Column("days", Integer, nullable=False),  # announcement days wanted
    Column("categories", Text, nullable=False),  # comma-separated
    Column("days_done", Integer, nullable=False, server_default="0"),  # listing days with papers so far
    Column("papers", Integer, nullable=False, server_default="0"),  # papers of the window stored so far
    Column("pages", Integer, nullable=False, server_default="0"),  # OAI pages read, over all sets
    Column("started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
)

# Politeness shared by every process of the instance: the earliest time the next request to a
# service (arxiv-api, arxiv-oai, arxiv-rss, hf) may start; taken under a write lock.
request_slots = Table(
    "request_slots",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("next_at", UTCDateTime(), nullable=False),
)

# Each scheduled job run happens once across all workers: a run key ("daily-ingest:2026-06-30") is
# claimed with a lease; a crashed worker's lease expires and another takes the run over.
job_runs = Table(
    "job_runs",
    metadata,
    Column("run_key", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("lease_until", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # running, done, failed
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("detail", Text),
)
