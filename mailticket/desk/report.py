"""The supervisor's figures for a period: counts, working-time medians, SLA compliance, backlog.

Pure: plain data in (tickets with their message headers, quarantine and outbox records, a
calendar, the period, `now`), plain data out (a JSON-safe dict). `app.report_view` gathers the input
from the store and renders it; the working time is the desk's `BusinessCalendar`, never a copy.

A ticket belongs to the period it was received in (its `created` local day); the counts of
resolutions and closings count the tickets resolved or closed in the period, whenever received.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from mailticket.desk.calendar import BusinessCalendar
from mailticket.model import (
    Direction,
    MessageKind,
    OutboxState,
    OutgoingMail,
    QuarantineRecord,
    Ticket,
    TicketMessage,
    TicketStatus,
)

AGE_BUCKETS = ((0, "0-1"), (2, "2-3"), (4, "4-7"), (8, "8+"))  # working days, lower bounds
_OUR_ANSWERS = {MessageKind.REPLY, MessageKind.RESOLUTION, MessageKind.INFORMATION_REQUEST}


@dataclass(frozen=True)
class Period:
    """Inclusive local days in the desk's time zone: a boundary is a calendar day there."""

    first: date
    last: date

    def bounds(self, calendar: BusinessCalendar) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time(0), tzinfo=calendar.zone)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=calendar.zone)
        return start, end

    def contains(self, moment: datetime | None, calendar: BusinessCalendar) -> bool:
        if moment is None:
            return False
        start, end = self.bounds(calendar)
        return start <= moment < end


@dataclass(frozen=True)
class TicketFacts:
    """A ticket and the headers of its messages (no bodies: a report never needs them)."""

    ticket: Ticket
    messages: tuple[TicketMessage, ...] = ()


@dataclass(frozen=True)
class ReportInput:
    period: Period
    now: datetime
    tickets: tuple[TicketFacts, ...]  # touched in the period: received, resolved or closed
    backlog: tuple[Ticket, ...]  # open or pending now
    quarantine: tuple[QuarantineRecord, ...] = ()
    outbox: tuple[OutgoingMail, ...] = ()  # of the period's tickets
    category_names: dict[str, str] | None = None  # id -> "中文 / English"


def first_response_at(facts: TicketFacts) -> datetime | None:
    """The first answer an agent sent the customer, else the ticket's recorded first response."""
    answers = [
        m.date for m in facts.messages if m.direction == Direction.OUT and m.kind in _OUR_ANSWERS
    ]
    return min(answers, default=facts.ticket.first_response_at)


def reopened(facts: TicketFacts) -> bool:
    """A customer wrote after a resolution and the ticket went on: the decide step reopens it."""
    resolutions = [m.date for m in facts.messages if m.kind == MessageKind.RESOLUTION]
    if not resolutions:
        return False
    return any(m.kind == MessageKind.FOLLOWUP and m.date > min(resolutions) for m in facts.messages)


def within_deadline(ticket: Ticket, now: datetime) -> bool | None:
    """Resolved by the deadline promised first; `due` already includes the paused time. An
    unresolved ticket past its deadline is a breach; None while still in time."""
    if ticket.due is None:
        return None
    escalated = any(name.startswith("escalate") for name in ticket.sla_fired)
    if ticket.resolved_at is not None:
        return ticket.resolved_at <= ticket.due and not escalated
    return False if escalated or ticket.due < now else None


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 2)


def _spread(values: list[float]) -> dict[str, float | None]:
    """Median and 90th percentile (nearest rank): what a supervisor reads, not a mean."""
    if not values:
        return {"median": None, "p90": None, "count": 0}
    ordered = sorted(values)
    rank = max(0, -(-len(ordered) * 9 // 10) - 1)
    return {
        "median": round(statistics.median(ordered), 2),
        "p90": ordered[rank],
        "count": len(ordered),
    }


def _median(values: list[int]) -> float | None:
    return statistics.median(values) if values else None


def ticket_row(facts: TicketFacts, calendar: BusinessCalendar, now: datetime) -> dict[str, Any]:
    """One ticket's figures: the CSV row, and what the totals are summed from."""
    t = facts.ticket
    first = first_response_at(facts)
    resolved = t.resolved_at
    resolution = calendar.working_seconds(t.created, resolved) if resolved else None
    response = calendar.working_seconds(t.created, first) if first else None
    return {
        "id": t.id,
        "category": t.category,
        "language": t.language,
        "assignee": t.assignee,
        "channel": "email",
        "acknowledged": any(m.kind == MessageKind.ACKNOWLEDGEMENT for m in facts.messages),
        "status": t.status.value,
        "received": t.created.astimezone(calendar.zone).isoformat(),
        "first_response": first.astimezone(calendar.zone).isoformat() if first else "",
        "resolved": resolved.astimezone(calendar.zone).isoformat() if resolved else "",
        "first_response_hours": None if response is None else _hours(response),
        "resolution_hours": None if resolution is None else _hours(resolution),
        "working_days": None
        if resolution is None
        else round(resolution / calendar_day(calendar), 2),
        "within_deadline": within_deadline(t, now),
        "reopened": reopened(facts),
        "escalated": any(n.startswith("escalate") for n in t.sla_fired),
        "delay_notices": sum(1 for n in t.sla_fired if n.startswith("delay-")),
        "auto_closed": any(n.startswith("auto-close") for n in t.sla_fired),
        "info_requests": sum(
            1 for m in facts.messages if m.kind == MessageKind.INFORMATION_REQUEST
        ),
        "complete_at_intake": _complete_at_intake(facts),
        "complete": t.complete or not t.category,
        "bounces": sum(1 for m in facts.messages if m.kind == MessageKind.BOUNCE),
        "successor": bool(t.previous_ticket),
    }


def calendar_day(calendar: BusinessCalendar) -> float:
    """Working seconds in one whole working day: what one "working day" of age is."""
    day = date(2000, 1, 1)
    opens = datetime.combine(day, calendar.work_start, tzinfo=calendar.zone)
    return (datetime.combine(day, calendar.work_end, tzinfo=calendar.zone) - opens).total_seconds()


def _complete_at_intake(facts: TicketFacts) -> bool:
    """Complete on arrival: we never had to ask the customer for anything."""
    asked = any(m.kind == MessageKind.INFORMATION_REQUEST for m in facts.messages)
    return not asked and (facts.ticket.complete or not facts.ticket.category)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The totals over some received tickets' rows."""
    judged = [r["within_deadline"] for r in rows if r["within_deadline"] is not None]
    return {
        "received": len(rows),
        "acknowledged": sum(1 for r in rows if r["acknowledged"]),
        "still_open": sum(1 for r in rows if r["status"] in ("open", "pending")),
        "first_response_hours": _spread(
            [r["first_response_hours"] for r in rows if r["first_response_hours"] is not None]
        ),
        "resolution_hours": _spread(
            [r["resolution_hours"] for r in rows if r["resolution_hours"] is not None]
        ),
        "within_deadline": sum(1 for j in judged if j),
        "breached": sum(1 for j in judged if not j),
        "sla_compliance": round(sum(judged) / len(judged), 4) if judged else None,
        "escalated": sum(1 for r in rows if r["escalated"]),
        "delay_notices": sum(r["delay_notices"] for r in rows),
        "complete_at_intake": sum(1 for r in rows if r["complete_at_intake"]),
        "info_requests": sum(r["info_requests"] for r in rows),
        # Rounds of asking until complete, over the tickets we had to ask that are complete now.
        "rounds_until_complete_median": _median(
            [r["info_requests"] for r in rows if r["info_requests"] and r["complete"]]
        ),
        "auto_closed": sum(1 for r in rows if r["auto_closed"]),
        "reopened": sum(1 for r in rows if r["reopened"]),
        "successors": sum(1 for r in rows if r["successor"]),
        "bounces": sum(r["bounces"] for r in rows),
    }


def backlog(tickets: Iterable[Ticket], calendar: BusinessCalendar, now: datetime) -> dict[str, Any]:
    """Open tickets now by age in working days and by assignee, overdue first."""
    ages: Counter[str] = Counter()
    by_assignee: Counter[str] = Counter()
    listing: list[dict[str, Any]] = []
    for t in tickets:
        age = calendar.working_seconds(t.created, now) / calendar_day(calendar)
        bucket = [label for low, label in AGE_BUCKETS if age >= low][-1]
        ages[bucket] += 1
        by_assignee[t.assignee or "(team)"] += 1
        overdue = t.due is not None and t.due < now
        listing.append(
            {
                "id": t.id,
                "age_days": round(age, 2),
                "overdue": overdue,
                "assignee": t.assignee,
                "category": t.category,
            }
        )
    listing.sort(key=lambda r: (not r["overdue"], -r["age_days"]))
    return {
        "total": len(listing),
        "overdue": sum(1 for r in listing if r["overdue"]),
        "by_age": {label: ages[label] for _, label in AGE_BUCKETS},
        "by_assignee": dict(sorted(by_assignee.items())),
        "tickets": listing,
    }


def compute(data: ReportInput, calendar: BusinessCalendar, by: str = "category") -> dict[str, Any]:
    """Every figure of the report, as plain JSON-safe data."""
    period = data.period
    received = [f for f in data.tickets if period.contains(f.ticket.created, calendar)]
    rows = [ticket_row(f, calendar, data.now) for f in received]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_group_key(row, by, calendar), []).append(row)
    names = data.category_names or {}
    start, end = period.bounds(calendar)
    in_period = [q for q in data.quarantine if start <= q.created < end]
    return {
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat()},
        "now": data.now.astimezone(calendar.zone).isoformat(),
        "totals": summarise(rows)
        | {
            "resolved": sum(
                1 for f in data.tickets if period.contains(f.ticket.resolved_at, calendar)
            ),
            "closed": sum(1 for f in data.tickets if period.contains(f.ticket.closed_at, calendar)),
            "quarantined": len(in_period),
            "outbox_failed": sum(1 for m in data.outbox if m.state == OutboxState.FAILED),
        },
        "by": by,
        "groups": [
            {"key": key, "name": names.get(key, key)} | summarise(group)
            for key, group in sorted(groups.items())
        ],
        "weeks": _weeks(rows),
        "quarantine_reasons": dict(Counter(q.reason for q in in_period).most_common()),
        "backlog": backlog(data.backlog, calendar, data.now),
        "tickets": rows,
    }


def _group_key(row: dict[str, Any], by: str, calendar: BusinessCalendar) -> str:
    if by in ("day", "week"):
        day = date.fromisoformat(row["received"][:10])
        return day.isoformat() if by == "day" else _week(day)
    if by == "assignee":
        return row["assignee"] or "(team)"  # as the backlog names the unassigned
    return str(row.get(by) or "-")


def _week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per ISO week: received per category and SLA compliance, for the charts."""
    weeks: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        weeks.setdefault(_week(date.fromisoformat(row["received"][:10])), []).append(row)
    result = []
    for week, group in sorted(weeks.items()):
        totals = summarise(group)
        result.append(
            {
                "week": week,
                "received": totals["received"],
                "by_category": dict(sorted(Counter(r["category"] or "-" for r in group).items())),
                "sla_compliance": totals["sla_compliance"],
            }
        )
    return result


# The backlog: tickets still waiting for the desk or the customer.
OPEN_STATUSES = (TicketStatus.OPEN, TicketStatus.PENDING)
