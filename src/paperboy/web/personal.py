"""Pages rendered once for everyone, with what is personal filled in per request.

A feed or paper page is mostly the same for every visitor — cards, MathML, abstracts — and that part
costs milliseconds to render. What differs per visitor is small: the header's account links, a
flash message, the CSRF token in forms, the state of each vote button, the comment box, one's own
comments' edit buttons. Templates mark each such spot with ``{{ personal("vote", ...) }}``.

* **Shared rendering** (``render`` with a :class:`Recorder`): no viewer exists at all, and each
  mark becomes a placeholder. The result — page text with placeholders, plus the list of marks —
  is what the page cache keeps. Nothing per-visitor can reach a shared cache entry, because the
  shared render has nobody to take it from.
* **Filling** (:func:`assemble`): per request, each placeholder is replaced by its fragment for
  this visitor, from the same macros (``_personal.html``) a direct render uses. Fragments that
  contain a CSRF token are made with a placeholder token, memoised, and the visitor's token is put
  in once at the end, so filling a 50-card page is a few dictionary look-ups and one join.
* **Direct rendering** (no recorder: admins, pages that are never cached): ``personal()`` renders
  the fragment at once, with the real viewer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import pass_context
from markupsafe import Markup

__all__ = ["MARK", "Recorder", "FillState", "personal", "assemble", "split", "without_marks"]

MARK = "\x00"  # never in rendered text: every value a template prints passes without_marks
CSRF_PLACEHOLDER = "\x01csrf\x01"


class _Mark(Markup):
    """A placeholder personal() printed: the one value that may carry MARK."""


def without_marks(value):
    """The templates' ``finalize``: plain text a template prints (the search box echoing a query of
    "\\x00", say) never carries MARK or the CSRF placeholder's delimiter. Markup passes as it is:
    macros' output holds personal()'s marks, and filters' Markup is built from cleaned text."""
    if isinstance(value, Markup) or not isinstance(value, str) or ("\x00" not in value and "\x01" not in value):
        return value
    return value.replace("\x00", "").replace("\x01", "")


@dataclass(slots=True)
class Recorder:
    """Collects the personal marks of one shared rendering, in page order."""

    specs: list[tuple[str, dict]] = field(default_factory=list)


@dataclass(slots=True)
class FillState:
    """What the fragments of one request are made from."""

    viewer: Any  # web.context.Viewer, or None for a visitor with nothing personal (the anonymous copy)
    request_url: str
    voted: Collection[int] = ()
    counts: Mapping[int, int] | None = None  # fresh vote counts; None: the counts the page was rendered with


class _TokenlessViewer:
    """The viewer as fragments see it while they are memoised: the CSRF token is a placeholder."""

    __slots__ = ("_viewer",)

    def __init__(self, viewer):
        self._viewer = viewer

    @property
    def csrf_token(self) -> str:
        return _Mark(CSRF_PLACEHOLDER)

    def __getattr__(self, name):
        return getattr(self._viewer, name)


def _macros(env):
    return env.get_template("_personal.html").module


def _fragment(env, name: str, args: dict, state: FillState, viewer) -> str:
    m = _macros(env)
    user = viewer.user if viewer is not None else None
    if name == "vote":
        count = state.counts.get(args["paper_id"], args["count"]) if state.counts is not None else args["count"]
        return str(m.vote_widget(args["arxiv_id"], count, args["paper_id"] in state.voted, viewer, args.get("inline", False), args.get("title", "")))
    if name == "user-nav":
        return str(m.user_nav(viewer, state.request_url))
    if name == "csrf-meta":
        return str(m.csrf_meta(viewer)) if user else ""
    if name == "flash":
        return str(m.flash(viewer.flash)) if viewer is not None and viewer.flash else ""
    if name == "comment-form":
        return str(m.comment_form(args["arxiv_id"], viewer))
    if name == "comment-owner":
        return str(m.comment_owner_tools(args["comment_id"], args["body"], viewer)) if user and user.id == args["author_id"] else ""
    if name == "claim":
        return str(m.claim_form(args["arxiv_id"], args["choices"], viewer)) if user and args["choices"] else ""
    if name == "digest-subscribe":
        return str(m.digest_subscribe(viewer))
    raise KeyError(f"unknown personal fragment {name!r}")


@pass_context
def personal(ctx, name: str, **args) -> Markup:
    """The template global: a placeholder in a shared rendering, the fragment itself otherwise."""
    recorder: Recorder | None = ctx.get("_personal")
    if recorder is not None:
        recorder.specs.append((name, args))
        return _Mark(f"{MARK}{len(recorder.specs) - 1}{MARK}")
    state = FillState(ctx.get("viewer"), ctx.get("request_url", "/"), ctx.get("voted") or ())
    return Markup(_fragment(ctx.environment, name, args, state, state.viewer))


def split(marked: str) -> list:
    """A shared rendering cut at its marks: text, mark number, text, mark number, …, text — the
    text pieces UTF-8 encoded once, so filling a page joins bytes and never re-encodes it."""
    parts: list = marked.split(MARK)
    parts[::2] = [text.encode() for text in parts[::2]]
    return parts


_CSRF = CSRF_PLACEHOLDER.encode()


def assemble(env, parts: list, specs: list[tuple[str, dict]], state: FillState, memo: dict | None = None) -> bytes:
    """The page for ``state``'s visitor, UTF-8 encoded: each mark replaced by its fragment.

    ``memo`` (kept by the caller, e.g. per cache entry) remembers fragments by what they depend on,
    so a page filled again for another member costs look-ups, not template calls. Fragments are kept
    cut at the CSRF placeholder, and the visitor's token goes into those cuts: nothing scans or
    copies the page's ~150 KB but the final join (a whole-page replace was a fifth of a member's
    request).
    """
    viewer = state.viewer
    tokenless = _TokenlessViewer(viewer) if viewer is not None else None
    user_id = viewer.user.id if viewer is not None and viewer.user else None
    token = viewer.csrf_token.encode() if viewer is not None else b""
    out: list[bytes] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
            continue
        name, args = specs[int(part)]
        key = _memo_key(name, args, state, viewer, user_id) if memo is not None else None
        pieces = memo.get(key) if key is not None else None
        if pieces is None:
            pieces = _fragment(env, name, args, state, tokenless).encode().split(_CSRF)
            if key is not None:
                memo[key] = pieces
        out.append(pieces[0])
        for piece in pieces[1:]:
            out.append(token)
            out.append(piece)
    return b"".join(out)


def _memo_key(name: str, args: dict, state: FillState, viewer, user_id):
    """What a fragment depends on, or None for fragments made afresh each time (flash, account links)."""
    if name == "vote":
        pid = args["paper_id"]
        count = state.counts.get(pid, args["count"]) if state.counts is not None else args["count"]
        return ("vote", pid, count, pid in state.voted, user_id is not None, args.get("inline", False))
    if name in ("comment-form", "csrf-meta"):
        return (name, args.get("arxiv_id"), user_id is not None)
    if name == "comment-owner":
        return (name, args["comment_id"], user_id == args["author_id"])
    if name == "claim":
        return (name, args["arxiv_id"], user_id is not None)
    if name == "digest-subscribe":
        return (name, user_id)  # a member's carries their address
    return None
