"""arXiv's announcement calendar: which evenings new papers are announced.

arXiv announces new papers Sunday to Thursday at 20:00 US Eastern; there is no mailing on Friday
or Saturday evenings, nor on its holidays (it publishes them yearly; ``PAPERBOY_ARXIV_HOLIDAYS``).
A listing carries the date after the announcement evening, so the papers of Sunday to Thursday
evenings appear on Monday to Friday.

It lives with the papers, below everything that needs it: the worker schedules its daily run on
announcement evenings (``jobs/scheduler.py``), the backfill counts listing days
(``ingest/backfill.py``) and the digest has daily editions on them (``digest/editions.py``). Dates
here are arXiv's local (US Eastern) dates; the times of day are the scheduler's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

__all__ = ["is_announcement_day", "is_listing_day"]

# Sunday to Thursday evenings (Monday=0 … Sunday=6).
_ANNOUNCEMENT_WEEKDAYS = frozenset({6, 0, 1, 2, 3})


def is_announcement_day(day: dt.date, holidays: Iterable[dt.date] = ()) -> bool:
    """Whether arXiv announces new papers on the evening of ``day`` (local date, US Eastern).

    Sunday to Thursday, except ``holidays`` (evenings arXiv skips; it publishes them yearly).
    """
    return day.weekday() in _ANNOUNCEMENT_WEEKDAYS and day not in set(holidays)


def is_listing_day(day: dt.date, holidays: Iterable[dt.date] = ()) -> bool:
    """Whether arXiv has a listing dated ``day``: the papers announced the evening before.

    Monday to Friday, except the days after ``holidays``: the days the backfill counts, and the
    days the digest has a daily edition for.
    """
    return is_announcement_day(day - dt.timedelta(days=1), holidays)
