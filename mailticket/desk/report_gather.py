"""The report's input from the store, and the digest's line about yesterday.

`gather` is the report's only read of the store: range queries on the indexed `created`,
`resolved_at` and `closed_at` columns, so a month's report reads that month, not the history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mailticket.desk import report as figures
from mailticket.desk.calendar import BusinessCalendar
from mailticket.model import OutboxState
from mailticket.store import Store


def gather(
    store: Store,
    period: figures.Period,
    calendar: BusinessCalendar,
    now: datetime,
    category_names: dict[str, str] | None = None,
) -> figures.ReportInput:
    """The report's input in a few indexed queries, whatever the store holds: tickets
    received, resolved or closed in the period (with their messages' headers, no bodies, and
    their failed mail), the open backlog, and the period's quarantine."""
    start, end = period.bounds(calendar)
    with store.transaction():  # one consistent read
        touched = store.tickets_touched(start, end)
        ids = [ticket.id for ticket in touched]
        messages = store.messages_of(ids, bodies=False)
        failed = store.outbox_of_tickets(ids, OutboxState.FAILED)
        backlog = store.tickets(figures.OPEN_STATUSES)
        quarantine = store.quarantine_between(start, end)
    return figures.ReportInput(
        period=period,
        now=now,
        tickets=tuple(figures.TicketFacts(t, tuple(messages.get(t.id, ()))) for t in touched),
        backlog=tuple(backlog),
        quarantine=tuple(quarantine),
        outbox=tuple(failed),
        category_names=category_names,
    )


def summary_line(report: dict[str, Any]) -> str:
    """The digest's one line about yesterday."""
    t = report["totals"]
    compliance = "-" if t["sla_compliance"] is None else f"{t['sla_compliance']:.1%}"
    return (
        f"昨日 / Yesterday: 收到 received {t['received']}, 解决 resolved {t['resolved']}, "
        f"超期 breached {t['breached']}, 达标率 SLA {compliance}, "
        f"积压 backlog {report['backlog']['total']}"
    )


def yesterday_line(store: Store, calendar: BusinessCalendar, now: datetime) -> str:
    """The digest's summary of yesterday (a local calendar day in the desk's zone)."""
    yesterday = now.astimezone(calendar.zone).date() - timedelta(days=1)
    period = figures.Period(yesterday, yesterday)
    return summary_line(figures.compute(gather(store, period, calendar, now), calendar))
