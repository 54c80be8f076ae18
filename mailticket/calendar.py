"""Working time as a Chinese company counts it: weekends and public holidays off, make-up
working days (调休) on, within working hours, in the desk's time zone.

The `holidays` package knows each year's official schedule once the State Council has
published it, including the Saturdays and Sundays that are working days; for a later year it
only guesses (no make-up days). Admins add or override days in `[calendar]`, and
`unofficial_years` says which years still need that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=16)
def _china(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year)


@dataclass(frozen=True)
class DayInfo:
    day: date
    working: bool
    why: str  # weekend, a holiday's name, make-up working day, admin day off / working day


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo
    weekdays: frozenset[int] = frozenset(range(5))  # 0 = Monday
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    days_off: frozenset[date] = field(default_factory=frozenset)  # the admin's holidays
    days_on: frozenset[date] = field(default_factory=frozenset)  # the admin's working days

    def info(self, day: date) -> DayInfo:
        """Whether `day` counts, and why: admins first, then the official schedule."""
        if day in self.days_on:
            return DayInfo(day, True, "working day (set by admin)")
        if day in self.days_off:
            return DayInfo(day, False, "day off (set by admin)")
        official = _china(day.year)
        if day in official:
            return DayInfo(day, False, str(official.get(day)))
        if day in official.weekend_workdays:
            return DayInfo(day, True, "make-up working day (调休)")
        if day.weekday() in self.weekdays:
            return DayInfo(day, True, "")
        return DayInfo(day, False, "weekend")

    def is_working_day(self, day: date) -> bool:
        return self.info(day).working

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end of working hours on the `days`-th working day after `start`'s local day."""
        day = start.astimezone(self.zone).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.combine(day, self.work_end, tzinfo=self.zone)

    def working_seconds(self, start: datetime, end: datetime) -> float:
        """Working time between two moments: what an SLA clock counts."""
        if end <= start:
            return 0.0
        local_start, local_end = start.astimezone(self.zone), end.astimezone(self.zone)
        total = 0.0
        day = local_start.date()
        while day <= local_end.date():
            if self.is_working_day(day):
                opens = datetime.combine(day, self.work_start, tzinfo=self.zone)
                closes = datetime.combine(day, self.work_end, tzinfo=self.zone)
                overlap = min(closes, local_end) - max(opens, local_start)
                total += max(0.0, overlap.total_seconds())
            day += timedelta(days=1)
        return total

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of working time after `start` (for paused clocks and hours)."""
        if seconds <= 0:
            return start
        moment = start.astimezone(self.zone)
        remaining = seconds
        while True:
            day = moment.date()
            opens = datetime.combine(day, self.work_start, tzinfo=self.zone)
            closes = datetime.combine(day, self.work_end, tzinfo=self.zone)
            if self.is_working_day(day) and moment < closes:
                begin = max(moment, opens)
                available = (closes - begin).total_seconds()
                if remaining <= available:
                    return begin + timedelta(seconds=remaining)
                remaining -= available
            moment = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)

    def unofficial_years(self, years: range) -> list[int]:
        """Years the official schedule (with make-up days) is not known for yet."""
        return [
            year
            for year in years
            if not any(d.year == year for d in _china(year).weekend_workdays)
            and not any(d.year == year for d in self.days_on | self.days_off)
        ]
