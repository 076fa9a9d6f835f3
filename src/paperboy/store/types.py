"""Column types shared by the schema.

:class:`UTCDateTime` is the only datetime column type: values go in as aware datetimes (converted
to UTC) and always come back aware in UTC. SQLite has no time zones and hands timestamps back naive;
without this every reader had to repair them, and a naive value compared with an aware one raises.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime"]


class UTCDateTime(TypeDecorator):
    """``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, text on SQLite; aware UTC in Python, both ways."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetimes are not stored: pass an aware one (paperboy.clock.now())")
        value = value.astimezone(dt.timezone.utc)
        # SQLite keeps the text as written: store it without an offset, always in UTC.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)

    @property
    def python_type(self):
        return dt.datetime
