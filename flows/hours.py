"""Business hours: whether a flow's ``open:`` hours include a moment."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from flows.model import Hours

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_open(hours: Hours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(hours.timezone))
    if local.date().isoformat() in hours.closed_dates:
        return False
    span = hours.open.get(WEEKDAYS[local.weekday()])
    if not span:
        return False
    start, end = span.split("-")
    return start.strip() <= local.strftime("%H:%M") < end.strip()
