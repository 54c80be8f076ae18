"""The periods `report` accepts: calendar months and quarters, explicit days, the last N days."""

from __future__ import annotations

from datetime import date

import pytest

from mailticket.app.report_view import parse_period
from mailticket.desk.report import Period

TODAY = date(2026, 12, 4)


def period(**options: object) -> Period:
    given = {"first": None, "last": None, "month": None, "quarter": None, "days": None}
    return parse_period(**(given | options), today=TODAY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"month": "2026-12"}, (date(2026, 12, 1), date(2026, 12, 31))),
        ({"month": "2028-02"}, (date(2028, 2, 1), date(2028, 2, 29))),
        ({"quarter": "2026Q4"}, (date(2026, 10, 1), date(2026, 12, 31))),
        ({"quarter": "2027q1"}, (date(2027, 1, 1), date(2027, 3, 31))),
        ({"first": "2026-09-28", "last": "2026-10-31"}, (date(2026, 9, 28), date(2026, 10, 31))),
        ({"days": 1}, (TODAY, TODAY)),
        ({}, (date(2026, 11, 5), TODAY)),
    ],
)
def test_periods(options: dict[str, object], expected: tuple[date, date]) -> None:
    found = period(**options)
    assert (found.first, found.last) == expected


def test_a_backward_span_is_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        period(first="2026-10-31", last="2026-10-01")
