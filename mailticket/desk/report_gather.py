"""The report's input from the store, and the digest's line about yesterday.

`gather` is the report's only read of the store, through its public reading methods: the one
function a SQL store replaces with range queries on `created`, `resolved_at` and `closed_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mailticket.desk import report as figures
from mailticket.desk.calendar import BusinessCalendar
from mailticket.model import OutboxState, OutgoingMail
from mailticket.store import Store


def gather(
    store: Store,
    period: figures.Period,
    calendar: BusinessCalendar,
    now: datetime,
    category_names: dict[str, str] | None = None,
) -> figures.ReportInput:
    """The report's input, through the store's public reading methods only: the one place a
    SQL store will replace with range queries. Keeps only the period's tickets (and the
    backlog); messages are read without bodies."""
    tickets = []
    backlog = []
    failed: list[OutgoingMail] = []
    with store.transaction():  # one consistent read, and one catch-up for all the messages
        for ticket in store.tickets():
            if figures.still_open(ticket.status):
                backlog.append(ticket)
            touched = (ticket.created, ticket.resolved_at, ticket.closed_at)
            if any(period.contains(moment, calendar) for moment in touched):
                messages = tuple(store.messages(ticket.id, bodies=False))
                tickets.append(figures.TicketFacts(ticket, messages))
                # Per ticket: `outbox(FAILED)` would read every archived ticket's mail.
                failed += [m for m in store.outbox_of(ticket.id) if m.state == OutboxState.FAILED]
        quarantine = tuple(store.quarantine())
    return figures.ReportInput(
        period=period,
        now=now,
        tickets=tuple(tickets),
        backlog=tuple(backlog),
        quarantine=quarantine,
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
