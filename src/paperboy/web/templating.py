"""The Jinja2 environment: autoescaping on, filters for dates, math and search snippets, cache-busted static URLs."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from paperboy.community.comments import render_comment
from paperboy.feed.periods import period_of
from paperboy.papers.tex import plain_text, render_math
from paperboy.search.snippets import snippet
from paperboy.web.personal import personal, without_marks

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


@lru_cache(maxsize=None)
def static_url(name: str) -> str:
    """``/static/name?v=<content hash>`` so assets can be cached forever and still update."""
    digest = hashlib.blake2b((STATIC / name).read_bytes(), digest_size=6).hexdigest()
    return f"/static/{name}?v={digest}"


def _day(value: dt.date | None, fmt: str = "long") -> str:
    if value is None:
        return ""
    if fmt == "short":
        return f"{value:%a} {value.day} {value:%b}"
    if fmt == "iso":
        return value.isoformat()
    return f"{value:%a}, {value.day} {value:%b %Y}"


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        finalize=without_marks,
    )
    env.filters["math"] = render_math
    env.filters["plain"] = plain_text  # TeX as plain text: <title>, link previews
    env.filters["comment"] = render_comment
    env.filters["day"] = _day
    env.filters["count"] = _count
    env.filters["snippet"] = snippet
    env.globals["static"] = static_url
    env.globals["personal"] = personal
    env.globals["period_path"] = lambda kind, day: period_of(kind, day).path
    env.globals["Markup"] = Markup
    return env
