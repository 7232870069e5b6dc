"""Timestamps are UTC and say so.

SQLite hands stored datetimes back without a timezone; printed or served as they come, they
break the ``date-time`` format the HTTP API declares (RFC 3339 requires an offset) and read as
local time. Every public model's timestamp is a :data:`UtcDatetime`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def aware(value: datetime) -> datetime:
    """``value`` as UTC: privet stores UTC, so a naive datetime from the database is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(aware)]
