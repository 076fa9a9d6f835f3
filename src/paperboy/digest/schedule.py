"""When the worker sends digests: the daily edition at ``PAPERBOY_DIGEST_AT`` (``PAPERBOY_DAILY_TZ``)
on each edition day, after that evening's ingest and Hugging Face mirror; the weekly edition at the
same time on ``PAPERBOY_DIGEST_WEEKDAY``.

The weekly edition sent on a Friday, Saturday or Sunday is that ISO week's; sent on Monday to
Thursday it is the previous week's (a week is sent once it has had its papers). Each run is keyed
``digest-send:<edition>`` and claimed with a lease (:func:`~paperboy.jobs.leases.run_once`), so any
number of workers send each edition once; a worker that starts late catches up with the latest
due edition.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from paperboy.config import Settings
from paperboy.digest.editions import Edition, daily_edition, is_edition_day, weekly_edition

__all__ = ["due_editions", "next_digest_time", "latest_daily_edition"]


def _local(day: dt.date, at: dt.time, zone) -> dt.datetime:
    return dt.datetime.combine(day, at).replace(tzinfo=zone).astimezone(dt.timezone.utc)


def _weekly_for(send_day: dt.date) -> Edition:
    return weekly_edition(send_day if send_day.weekday() >= 4 else send_day - dt.timedelta(days=7))


def due_editions(now: dt.datetime, settings: Settings) -> list[Edition]:
    """The latest daily and weekly editions whose send time is at or before ``now`` (looking back a week)."""
    at, weekday = settings.digest_schedule()
    _, tz, holidays = settings.daily_schedule()
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    found: list[Edition] = []
    for kind in ("daily", "weekly"):
        for back in range(8):
            day = today - dt.timedelta(days=back)
            if _local(day, at, zone) > now:
                continue
            if kind == "daily" and is_edition_day(day, holidays):
                found.append(daily_edition(day))
                break
            if kind == "weekly" and day.weekday() == weekday:
                found.append(_weekly_for(day))
                break
    return found


def next_digest_time(now: dt.datetime, settings: Settings) -> dt.datetime:
    """The first digest send time after ``now`` (daily or weekly), in UTC."""
    at, weekday = settings.digest_schedule()
    _, tz, holidays = settings.daily_schedule()
    zone = ZoneInfo(tz)
    day = now.astimezone(zone).date()
    for _ in range(16):
        t = _local(day, at, zone)
        if t > now and (is_edition_day(day, holidays) or day.weekday() == weekday):
            return t
        day += dt.timedelta(days=1)
    return now + dt.timedelta(days=1)


def latest_daily_edition(now: dt.datetime, settings: Settings) -> Edition:
    """The most recent edition day at or before ``now``'s local date (its send time need not have come)."""
    _, tz, holidays = settings.daily_schedule()
    day = now.astimezone(ZoneInfo(tz)).date()
    for _ in range(16):
        if is_edition_day(day, holidays):
            return daily_edition(day)
        day -= dt.timedelta(days=1)
    return daily_edition(day)
