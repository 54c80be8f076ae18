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
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ONE_DAY = timedelta(days=1)


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
    # Whether a day counts, worked out once per day: the SLA clock of every ticket asks about
    # the same weeks (a calendar is immutable, and so is the official schedule of a year).
    _working: dict[date, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

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
        working = self._working.get(day)
        if working is None:
            working = self._working[day] = self.info(day).working
        return working

    @cached_property
    def _day_seconds(self) -> float:
        """Working seconds in a whole working day. Local times in one zone subtract and
        compare as wall-clock times, so this is the same on every day, DST or not."""
        day = date(2000, 1, 1)
        opens = datetime.combine(day, self.work_start, tzinfo=self.zone)
        closes = datetime.combine(day, self.work_end, tzinfo=self.zone)
        return (closes - opens).total_seconds()

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
        first, last = local_start.date(), local_end.date()
        whole = max(0.0, self._day_seconds)
        total = 0.0
        day = first
        while day <= last:
            if self.is_working_day(day):
                if first < day < last:  # the whole working day lies between the two
                    total += whole
                else:
                    opens = datetime.combine(day, self.work_start, tzinfo=self.zone)
                    closes = datetime.combine(day, self.work_end, tzinfo=self.zone)
                    overlap = min(closes, local_end) - max(opens, local_start)
                    total += max(0.0, overlap.total_seconds())
            day += _ONE_DAY
        return total

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of working time after `start` (for paused clocks and hours)."""
        if seconds <= 0:
            return start
        moment = start.astimezone(self.zone)
        remaining = seconds
        day = moment.date()
        if self.is_working_day(day):  # the first day: from `start` on
            closes = datetime.combine(day, self.work_end, tzinfo=self.zone)
            if moment < closes:
                begin = max(moment, datetime.combine(day, self.work_start, tzinfo=self.zone))
                available = (closes - begin).total_seconds()
                if remaining <= available:
                    return begin + timedelta(seconds=remaining)
                remaining -= available
        whole = self._day_seconds  # every later day from its midnight: all its working hours
        opens_after_midnight = time(0) < self.work_end
        while True:
            day += _ONE_DAY
            if opens_after_midnight and self.is_working_day(day):
                if remaining <= whole:
                    opens = datetime.combine(day, self.work_start, tzinfo=self.zone)
                    return opens + timedelta(seconds=remaining)
                remaining -= whole

    def unofficial_years(self, years: range) -> list[int]:
        """Years the official schedule (with make-up days) is not known for yet."""
        return [
            year
            for year in years
            if not any(d.year == year for d in _china(year).weekend_workdays)
            and not any(d.year == year for d in self.days_on | self.days_off)
        ]
