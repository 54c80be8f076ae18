"""Working days as China counts them: weekends and public holidays off, make-up days (调休) on.

The `holidays` package knows each year's official schedule, including the Saturdays and Sundays
that are working days. Deadlines are whole working days after the day a complaint arrives.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@lru_cache(maxsize=8)
def _china(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year)


def is_working_day(day: date) -> bool:
    return bool(_china(day.year).is_working_day(day))


def add_working_days(start: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The end (23:59:59 local) of the `days`-th working day after the local day of `start`."""
    day = start.astimezone(zone).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return datetime.combine(day, time(23, 59, 59), tzinfo=zone)
