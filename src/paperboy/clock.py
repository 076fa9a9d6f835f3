"""The one clock: every "now" in Paperboy comes from here, always timezone-aware UTC.

Functions that need the time take an optional ``now`` argument and fall back to :func:`now`, so
tests pass instants instead of patching anything.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["now", "today", "UTC"]

UTC = dt.timezone.utc


def now() -> dt.datetime:
    """The current instant, aware, in UTC."""
    return dt.datetime.now(UTC)


def today() -> dt.date:
    """Today's date in UTC (the day a submission lands on, a digest edition's default)."""
    return now().date()
