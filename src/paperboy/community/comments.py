"""Comments on papers: plain text only, shown with URLs turned into links and TeX math as MathML.

Bodies are stored exactly as typed (trimmed) and escaped when rendered (:func:`render_comment`),
so no HTML from a comment ever reaches a page. Authors edit and delete their own comments;
moderators hide any. The paper's ``comment_count`` (shown on feed cards) moves in the same
transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from markupsafe import Markup, escape
from sqlalchemy import Connection, func, insert, select, update

from paperboy import clock
from paperboy.accounts import ratelimit
from paperboy.errors import Forbidden, Invalid, NotFound
from paperboy.papers.normalize import strip_bidi_controls
from paperboy.papers.tex import has_math, render_math
from paperboy.store.repo import find_paper, set_comment_count
from paperboy.store.schema import comments, papers, users
from paperboy.store.versions import touch_paper

__all__ = ["Comment", "CommentError", "post_comment", "add_comment", "edit_comment", "delete_comment", "list_comments", "recount_comments",
           "count_visible", "get_comment", "render_comment", "MAX_LENGTH", "PAGE_SIZE"]  # fmt: skip

MAX_LENGTH = 5000
PAGE_SIZE = 50


class CommentError(Invalid):
    """A comment that can't be taken as written (empty, too long); the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    paper_id: int
    user_id: int
    username: str
    body: str
    created_at: dt.datetime
    edited_at: dt.datetime | None
    deleted_at: dt.datetime | None
    hidden_at: dt.datetime | None
    arxiv_id: str  # the paper's

    @property
    def visible(self) -> bool:
        return self.deleted_at is None and self.hidden_at is None


def _clean(body: str) -> str:
    body = strip_bidi_controls((body or "").replace("\r\n", "\n")).strip()
    body = "".join(c for c in body if c in "\n\t" or ord(c) >= 32)
    if not body:
        raise CommentError("A comment can't be empty.")
    if len(body) > MAX_LENGTH:
        raise CommentError(f"Comments can be at most {MAX_LENGTH:,} characters.")
    return body


def recount_comments(conn: Connection, paper_id: int) -> None:
    """Store the paper's count of visible comments after one was added, deleted, hidden or shown."""
    visible = (
        select(func.count())
        .select_from(comments)
        .where(comments.c.paper_id == paper_id, comments.c.deleted_at.is_(None), comments.c.hidden_at.is_(None))
        .scalar_subquery()
    )
    set_comment_count(conn, paper_id, visible)
    touch_paper(conn, paper_id)  # that paper's page, and the counts on cards; nothing else


def add_comment(conn: Connection, paper_id: int, user_id: int, body: str) -> int:
    pk = conn.execute(
        insert(comments).returning(comments.c.id),
        {"paper_id": paper_id, "user_id": user_id, "body": _clean(body), "created_at": clock.now()},
    ).scalar_one()
    recount_comments(conn, paper_id)
    return pk


_SELECT = [comments.c.id, comments.c.paper_id, comments.c.user_id, users.c.username, comments.c.body,
           comments.c.created_at, comments.c.edited_at, comments.c.deleted_at, comments.c.hidden_at, papers.c.arxiv_id]  # fmt: skip


def _select():
    return select(*_SELECT).join(users, users.c.id == comments.c.user_id).join(papers, papers.c.id == comments.c.paper_id)


def get_comment(conn: Connection, comment_id: int) -> Comment | None:
    row = conn.execute(_select().where(comments.c.id == comment_id)).first()
    return Comment(*row) if row else None


def post_comment(conn: Connection, user_id: int, arxiv_id: str, body: str) -> tuple[str, int]:
    """The comment action: on a visible paper, limited per user. Returns (the paper's arXiv id, comment id)."""
    paper = find_paper(conn, arxiv_id)
    body = _clean(body)
    ratelimit.enforce(conn, "comment-user", str(user_id))
    return paper.arxiv_id, add_comment(conn, paper.id, user_id, body)


def _own(conn: Connection, comment_id: int, user_id: int) -> Comment:
    comment = get_comment(conn, comment_id)
    if comment is None or not comment.visible:
        raise NotFound("That comment doesn't exist.")
    if comment.user_id != user_id:
        raise Forbidden("You can only change your own comments.")
    return comment


def edit_comment(conn: Connection, comment_id: int, user_id: int, body: str) -> str:
    """Change one's own comment (limited per user); returns the paper's arXiv id (where it is shown)."""
    comment = _own(conn, comment_id, user_id)
    body = _clean(body)
    ratelimit.enforce(conn, "comment-edit-user", str(user_id))
    conn.execute(update(comments).where(comments.c.id == comment_id).values(body=body, edited_at=clock.now()))
    touch_paper(conn, comment.paper_id, counts_changed=False)  # only that paper's page shows the text
    return comment.arxiv_id


def delete_comment(conn: Connection, comment_id: int, user_id: int) -> str:
    """Delete one's own comment (limited per user, with edits); returns the paper's arXiv id."""
    comment = _own(conn, comment_id, user_id)
    ratelimit.enforce(conn, "comment-edit-user", str(user_id))
    conn.execute(update(comments).where(comments.c.id == comment_id).values(deleted_at=clock.now()))
    recount_comments(conn, comment.paper_id)
    return comment.arxiv_id


def list_comments(conn: Connection, paper_id: int, *, include_hidden: bool = False, limit: int = PAGE_SIZE, offset: int = 0) -> list[Comment]:
    """Comments oldest first; deleted ones never, hidden ones only for moderators."""
    stmt = (
        _select()
        .where(comments.c.paper_id == paper_id, comments.c.deleted_at.is_(None))
        .order_by(comments.c.created_at, comments.c.id)
        .limit(limit)
        .offset(offset)
    )
    if not include_hidden:
        stmt = stmt.where(comments.c.hidden_at.is_(None))
    return [Comment(*row) for row in conn.execute(stmt)]


def count_visible(conn: Connection, paper_id: int, *, include_hidden: bool = False) -> int:
    stmt = select(func.count()).select_from(comments).where(comments.c.paper_id == paper_id, comments.c.deleted_at.is_(None))
    if not include_hidden:
        stmt = stmt.where(comments.c.hidden_at.is_(None))
    return conn.execute(stmt).scalar_one()


_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def render_comment(body: str) -> Markup:
    """Escape everything; turn http(s) URLs into links (rel="nofollow ugc noopener"); keep line breaks;
    render ``$…$`` / ``\\(…\\)`` math as MathML, like abstracts.

    Only ``http``/``https`` become links, so ``javascript:`` and ``data:`` stay inert text. Math goes
    through the abstracts' sanitiser (:func:`paperboy.papers.tex.render_math`: allowlisted MathML,
    every text node escaped, bounded in length and in the number of formulas) one line at a time, so
    a formula never spans lines and a stray ``$`` cannot swallow the rest of the comment. Text
    without math is shown exactly as typed (no TeX escapes undone).
    """
    return Markup("<br>\n".join(_render_line(line) for line in body.split("\n")))


def _render_line(line: str) -> str:
    out: list[str] = []
    last = 0
    for m in _URL.finditer(line):
        url = m.group(0)
        while url and url[-1] in _TRAILING:
            url = url[:-1]
        if not url:
            continue
        out.append(_text(line[last : m.start()]))
        safe = escape(url)
        out.append(f'<a href="{safe}" rel="nofollow ugc noopener">{safe}</a>')
        last = m.start() + len(url)
    out.append(_text(line[last:]))
    return "".join(out)


def _text(text: str) -> str:
    return str(render_math(text)) if has_math(text) else str(escape(text))
