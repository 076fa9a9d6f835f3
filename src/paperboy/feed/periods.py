"""Days, ISO weeks and months as feed periods, with the URL shapes of hf.co/papers.

``/papers/date/2026-06-30``, ``/papers/week/2026-W27``, ``/papers/month/2026-06``. A period is an
inclusive range of announcement days; parsing refuses impossible dates so they can 404 cleanly.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Period", "parse_period", "period_of", "BadPeriod"]

Kind = Literal["day", "week", "month"]

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


#: Periods are refused outside these years: arXiv began in 1991, and at year 9999 a week's or a
#: month's end, or the day after, no longer fits Python's dates.
MIN_YEAR, MAX_YEAR = 1900, 9998


class BadPeriod(ValueError):
    """Not a valid day, ISO week or month."""


@dataclass(frozen=True, slots=True)
class Period:
    kind: Kind
    start: dt.date
    end: dt.date  # inclusive

    @property
    def slug(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def path(self) -> str:
        segment = {"day": "date", "week": "week", "month": "month"}[self.kind]
        return f"/papers/{segment}/{self.slug}"

    @property
    def label(self) -> str:
        if self.kind == "day":
            return f"{self.start:%A}, {self.start.day} {self.start:%B %Y}"
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"Week {week}, {year} · {self.start.day} {self.start:%b} – {self.end.day} {self.end:%b}"
        return f"{self.start:%B %Y}"

    @property
    def short_label(self) -> str:
        """For previous/next buttons: "Mon 29 Jun", "Week 26", "May 2026"."""
        if self.kind == "day":
            return f"{self.start:%a} {self.start.day} {self.start:%b}"
        if self.kind == "week":
            return f"Week {self.start.isocalendar()[1]}"
        return f"{self.start:%b %Y}"


def period_of(kind: Kind, day: dt.date) -> Period:
    """The day, ISO week (Monday to Sunday) or calendar month that contains ``day``."""
    if kind == "day":
        return Period("day", day, day)
    if kind == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return Period("week", monday, monday + dt.timedelta(days=6))
    return Period("month", day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1]))


def parse_period(kind: Kind, text: str) -> Period:
    """Parse ``YYYY-MM-DD`` / ``YYYY-Www`` / ``YYYY-MM`` for ``kind``; :class:`BadPeriod` if impossible."""
    pattern = {"day": _DAY, "week": _WEEK, "month": _MONTH}[kind]
    m = pattern.fullmatch(text)
    if m and not MIN_YEAR <= int(m[1]) <= MAX_YEAR:
        raise BadPeriod(f"{text[:40]!r} is outside the years Paperboy shows ({MIN_YEAR}–{MAX_YEAR})")
    try:
        if kind == "day" and m:
            return period_of("day", dt.date(int(m[1]), int(m[2]), int(m[3])))
        if kind == "week" and m:
            return period_of("week", dt.date.fromisocalendar(int(m[1]), int(m[2]), 1))
        if kind == "month" and m:
            return period_of("month", dt.date(int(m[1]), int(m[2]), 1))
    except ValueError:
        pass
    examples = {"day": "2026-06-30", "week": "2026-W27", "month": "2026-06"}
    raise BadPeriod(f"{text[:40]!r} is not a {kind} (expected e.g. {examples[kind]})")
