"""What every door accepts: one rule, one limit and one message per parameter.

The pages, ``/api/v1``, the Hugging Face–compatible API, Atom, the citation files and the CLI check
what they were given through these functions (the views call them), so a bad value is refused the
same way whichever door it came in by. Each raises :class:`~paperboy.errors.Invalid` (400 on the
web, a message on the command line) — except :func:`period_in_path`: a period that is part of a
URL's path names a page that does not exist (404).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from paperboy.errors import Invalid, NotFound
from paperboy.feed.periods import BadPeriod, Kind, Period, parse_period
from paperboy.papers.normalize import ARXIV_CATEGORY

__all__ = ["MAX_PAGE", "MAX_SEARCH_PAGE", "MAX_AUTHOR", "category", "category_in_path", "page_number", "iso_date", "choice",
           "period_in_path", "period_param"]  # fmt: skip

#: The largest page number of any list (a feed, trending, comments). Deeper than any real list, small
#: enough that an offset computed from it is cheap to refuse.
MAX_PAGE = 10_000
#: Search results are ranked: nobody reads past page 50, and each deeper page costs a longer ranking.
MAX_SEARCH_PAGE = 50
#: An author filter longer than this is cut: no name is, and the filter is matched word by word.
MAX_AUTHOR = 100
_MAX_CATEGORY = 32

_PERIOD_SHAPES = {"day": "YYYY-MM-DD", "week": "YYYY-Www", "month": "YYYY-MM"}


def category(value: str | None, name: str = "cat") -> str | None:
    """An arXiv category (``cs.CL``, ``math``, ``astro-ph.GA``), or None when not given."""
    if not value:
        return None
    if len(value) > _MAX_CATEGORY or not ARXIV_CATEGORY.fullmatch(value):
        raise Invalid(f"{name} must be an arXiv category such as cs.CL")
    return value


def category_in_path(value: str) -> str:
    """An arXiv category that is part of a URL's path (``/papers/category/cs.CL/feed.atom``): like
    :func:`period_in_path`, NotFound when it is no such thing — the rule of :func:`category`."""
    try:
        found = category(value)
    except Invalid:
        found = None
    if found is None:
        raise NotFound("Not an arXiv category (e.g. cs.CL).")
    return found


def page_number(value: str | int | None, name: str = "page", *, maximum: int = MAX_PAGE, first: int = 1) -> int:
    """A page number from ``first`` (1, or 0 where a door counts from 0) to ``maximum``; ``first`` when not given."""
    if value is None or value == "":
        return first
    text = str(value)
    if not text.isdigit() or not first <= int(text) <= maximum:
        raise Invalid(f"{name} must be a number from {first} to {maximum:,}")
    return int(text)


def iso_date(value: str | dt.date | None, name: str) -> dt.date | None:
    """A day written ``2026-06-30``, or None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date like 2026-06-30") from None


def choice(value: str | None, name: str, allowed: Iterable[str], default: str) -> str:
    """One of ``allowed`` (``default`` when not given): a sort order, a format. Never silently another one."""
    allowed = tuple(allowed)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise Invalid(f"{name} must be one of {', '.join(allowed)}")
    return value


def period_in_path(kind: Kind, text: str) -> Period:
    """A day, week or month that is part of a URL's path (``/papers/week/2026-W27``): NotFound when it is no such thing."""
    try:
        return parse_period(kind, text)
    except BadPeriod as e:
        raise NotFound(str(e)) from None


def period_param(kind: Kind, value: str, name: str | None = None) -> Period:
    """A day, week or month given as a parameter (``?week=2026-W27``): Invalid, naming the shape, when it is not."""
    try:
        return parse_period(kind, value)
    except BadPeriod:
        raise Invalid(f"Invalid '{name or kind}', expected {_PERIOD_SHAPES[kind]}") from None
