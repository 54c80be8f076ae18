from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailticket.desk.calendar import BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
CN = BusinessCalendar(SHANGHAI)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


def test_national_day_week_2026_with_its_make_up_saturday() -> None:
    start = at(2026, 9, 30, 10, 0)
    # Oct 1-7 off; Saturday Oct 10 is a make-up working day; Sunday Oct 11 is not.
    assert [CN.add_working_days(start, n).date() for n in (1, 2, 3, 4, 7)] == [
        date(2026, 10, 8),
        date(2026, 10, 9),
        date(2026, 10, 10),
        date(2026, 10, 12),
        date(2026, 10, 15),
    ]
    assert CN.add_working_days(start, 7) == at(2026, 10, 15, 18, 0)
    assert CN.info(date(2026, 10, 1)).why == "National Day"
    assert CN.info(date(2026, 10, 10)).why == "make-up working day (调休)"
    assert CN.info(date(2026, 10, 11)).why == "weekend"


def test_spring_festival_2026() -> None:
    assert CN.is_working_day(date(2026, 2, 14))  # Saturday, make-up day
    assert CN.is_working_day(date(2026, 2, 28))  # Saturday, make-up day
    assert not CN.is_working_day(date(2026, 2, 17))  # Spring Festival
    assert not CN.is_working_day(date(2026, 2, 21))  # a Saturday inside the holiday
    friday = at(2026, 2, 13, 9, 0)
    assert CN.add_working_days(friday, 1) == at(2026, 2, 14, 18, 0)
    assert CN.add_working_days(friday, 2).date() == date(2026, 2, 24)
    assert CN.add_working_days(friday, 7).date() == date(2026, 3, 2)


def test_days_count_from_the_local_day_in_the_desks_zone() -> None:
    late = datetime(2026, 9, 29, 17, 0, tzinfo=UTC)  # already Sep 30 in Shanghai
    assert CN.add_working_days(late, 7) == at(2026, 10, 15, 18, 0)
    early = datetime(2026, 9, 29, 15, 0, tzinfo=UTC)  # 23:00 on Sep 29 in Shanghai
    assert CN.add_working_days(early, 7) == at(2026, 10, 14, 18, 0)


def test_working_seconds_count_only_working_hours() -> None:
    friday_evening, monday_morning = at(2026, 11, 27, 17, 0), at(2026, 11, 30, 10, 0)
    assert CN.working_seconds(friday_evening, monday_morning) == 2 * 3600
    assert CN.working_seconds(monday_morning, friday_evening) == 0
    # Across the whole National Day week only Sep 30 afternoon and Oct 8 morning count.
    assert CN.working_seconds(at(2026, 9, 30, 15, 0), at(2026, 10, 8, 12, 0)) == 6 * 3600


def test_adding_working_time_skips_nights_weekends_and_holidays() -> None:
    friday_evening = at(2026, 11, 27, 17, 0)
    assert CN.add_working_seconds(friday_evening, 2 * 3600) == at(2026, 11, 30, 10, 0)
    night = at(2026, 11, 24, 22, 30)
    assert CN.add_working_seconds(night, 1800) == at(2026, 11, 25, 9, 30)
    assert CN.add_working_seconds(at(2026, 9, 30, 17, 0), 2 * 3600) == at(2026, 10, 8, 10, 0)


def test_admins_override_days_hours_and_weekdays() -> None:
    custom = BusinessCalendar(
        ZoneInfo("Europe/Berlin"),
        weekdays=frozenset({0, 1, 2, 3, 4, 5}),  # Saturdays too
        work_start=time(8, 0),
        work_end=time(16, 0),
        days_off=frozenset({date(2026, 11, 26)}),
        days_on=frozenset({date(2026, 10, 1)}),
    )
    assert custom.info(date(2026, 11, 26)).why == "day off (set by admin)"
    assert custom.info(date(2026, 10, 1)).working  # admin beats the official holiday
    assert custom.is_working_day(date(2026, 11, 28))  # a Saturday
    start = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert custom.add_working_days(start, 1) == datetime(
        2026, 11, 27, 16, 0, tzinfo=ZoneInfo("Europe/Berlin")
    )


def test_years_without_an_official_schedule_are_named() -> None:
    assert CN.unofficial_years(range(2026, 2027)) == []
    far = CN.unofficial_years(range(2030, 2032))
    assert far == [2030, 2031]
    told = BusinessCalendar(SHANGHAI, days_on=frozenset({date(2030, 2, 2)}))
    assert told.unofficial_years(range(2030, 2032)) == [2031]


def test_adding_no_working_time_stays_put_even_at_closing_time() -> None:
    closing = at(2026, 11, 27, 18, 0)
    assert CN.add_working_seconds(closing, 0) == closing


# --- the arithmetic against its day-by-day definition ---------------------------------------


def day_by_day_seconds(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Working time as defined: each day's working hours that lie between the two, in order."""
    if end <= start:
        return 0.0
    local_start, local_end = start.astimezone(calendar.zone), end.astimezone(calendar.zone)
    total, day = 0.0, local_start.date()
    while day <= local_end.date():
        if calendar.info(day).working:
            opens = datetime.combine(day, calendar.work_start, tzinfo=calendar.zone)
            closes = datetime.combine(day, calendar.work_end, tzinfo=calendar.zone)
            total += max(0.0, (min(closes, local_end) - max(opens, local_start)).total_seconds())
        day += timedelta(days=1)
    return total


def day_by_day_add(calendar: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    if seconds <= 0:
        return start
    moment, remaining = start.astimezone(calendar.zone), seconds
    while True:
        day = moment.date()
        opens = datetime.combine(day, calendar.work_start, tzinfo=calendar.zone)
        closes = datetime.combine(day, calendar.work_end, tzinfo=calendar.zone)
        if calendar.info(day).working and moment < closes:
            begin = max(moment, opens)
            available = (closes - begin).total_seconds()
            if remaining <= available:
                return begin + timedelta(seconds=remaining)
            remaining -= available
        moment = datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.zone)


@pytest.mark.parametrize(
    ("zone", "hours"),
    [
        ("Asia/Shanghai", (time(9), time(18))),
        ("Europe/Berlin", (time(8, 30), time(17, 15, 30))),  # DST changes at night
        ("America/New_York", (time(0), time(23, 59, 59, 999999))),
        ("Australia/Lord_Howe", (time(0), time(12))),  # half-hour DST
    ],
)
def test_working_time_is_counted_day_by_day(zone: str, hours: tuple[time, time]) -> None:
    rng = random.Random(zone)
    calendar = BusinessCalendar(
        ZoneInfo(zone),
        work_start=hours[0],
        work_end=hours[1],
        days_off=frozenset({date(2026, 3, 30)}),
        days_on=frozenset({date(2026, 3, 29)}),
    )
    for _ in range(400):
        start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(2 * 365 * 86400), microseconds=rng.randrange(10**6)
        )
        end = start + timedelta(seconds=rng.uniform(-3600, 40 * 86400))
        seconds = rng.choice([0, 1, 3600, 32400, 32400.000001, rng.uniform(0, 3e6)])
        # Twice: the second time from what the calendar remembers about each day.
        for _ in range(2):
            assert calendar.working_seconds(start, end) == day_by_day_seconds(calendar, start, end)
            added = calendar.add_working_seconds(start, seconds)
            assert added == day_by_day_add(calendar, start, seconds)
            assert added.tzinfo is calendar.zone or added is start
