"""Feed periods: days, ISO weeks and months with hf.co/papers URL shapes."""

import datetime as dt

import pytest

from paperboy.feed.periods import BadPeriod, parse_period, period_of


def test_iso_weeks_run_monday_to_sunday_and_cross_years():
    week = parse_period("week", "2026-W27")
    assert (week.start, week.end) == (dt.date(2026, 6, 29), dt.date(2026, 7, 5))
    assert week.path == "/papers/week/2026-W27"
    first = parse_period("week", "2026-W01")
    assert first.start == dt.date(2025, 12, 29)  # ISO week 1 of 2026 starts in 2025
    assert period_of("week", dt.date(2025, 12, 31)).slug == "2026-W01"


def test_months_and_days():
    feb = parse_period("month", "2028-02")
    assert (feb.start, feb.end) == (dt.date(2028, 2, 1), dt.date(2028, 2, 29))
    assert period_of("month", dt.date(2026, 12, 15)).end == dt.date(2026, 12, 31)
    day = parse_period("day", "2026-06-30")
    assert day.path == "/papers/date/2026-06-30" and day.label == "Tuesday, 30 June 2026"


@pytest.mark.parametrize("kind, text", [("day", "2026-02-29"), ("day", "2026-6-30"), ("week", "2025-W53"),
                                        ("week", "2026-27"), ("month", "2026-13"), ("month", "June")])  # fmt: skip
def test_impossible_periods_are_refused(kind, text):
    with pytest.raises(BadPeriod):
        parse_period(kind, text)
