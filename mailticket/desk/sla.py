"""The SLA clock: which thresholds a ticket has, when each falls due, and the pause while the
customer owes us information. Pure: the sweep in `pipeline` acts on what this decides.

Every threshold has a name, and a ticket records the names it has acted on (`sla_fired`), so
each reminder, escalation or notice happens exactly once, whenever and however often the sweep
runs. `next_check` is the earliest unfired threshold: the store indexes it, so a sweep reads
only the tickets that are due.

After a deadline passes, the customer is told a new expected date and the ticket's `due`
moves there: round 2 has its own deadline reminder, escalation and notice, and so on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from mailticket.desk.calendar import BusinessCalendar
from mailticket.model import Ticket, TicketStatus, replaced


class Audience(StrEnum):
    AGENT = "agent"  # the assignee, else the team
    SUPERVISOR = "supervisor"
    CUSTOMER = "customer"


@dataclass(frozen=True)
class Policy:
    """The `[sla]` settings the clock needs, as plain values."""

    first_response_hours: int = 8
    reminder_percents: tuple[int, ...] = (50, 80)
    pause_while_pending: bool = True
    delay_extension_days: int = 3
    info_reminder_days: int = 2
    auto_close_days: int = 7
    reopen_days: int = 7
    priority_percent: tuple[tuple[str, int], ...] = (("urgent", 25), ("high", 50), ("low", 200))

    def scaled(self, amount: int, priority: str) -> int:
        """A target for this priority: a share of the normal one, never below 1."""
        percent = dict(self.priority_percent).get(priority, 100)
        return max(1, math.ceil(amount * percent / 100))


@dataclass(frozen=True)
class Threshold:
    name: str  # unique per ticket: what `sla_fired` records
    at: datetime
    action: str  # first_response | reminder | escalation | delay | info_reminder | auto_close
    # | close_resolved
    audience: Audience | None
    percent: int = 0


def waiting_for_customer(ticket: Ticket) -> bool:
    """The ticket waits on the customer: set pending, or the rules still miss required items."""
    if ticket.status == TicketStatus.PENDING:
        return True
    return ticket.status == TicketStatus.OPEN and bool(ticket.category) and not ticket.complete


def delay_round(ticket: Ticket) -> int:
    """1 before any delay notice, then 2, 3...: the deadline `due` belongs to this round."""
    return 1 + sum(1 for name in ticket.sla_fired if name.startswith("delay-"))


def thresholds(ticket: Ticket, calendar: BusinessCalendar, policy: Policy) -> list[Threshold]:
    """Every threshold the ticket has now, fired or not, in time order."""
    if ticket.status == TicketStatus.CLOSED:
        return []
    if ticket.status == TicketStatus.RESOLVED:
        if ticket.resolved_at is None:
            return []
        at = ticket.resolved_at + timedelta(days=policy.reopen_days)
        return [Threshold("close-resolved", at, "close_resolved", None)]
    found: list[Threshold] = []
    paused = policy.pause_while_pending and waiting_for_customer(ticket)
    if paused and ticket.paused_since is not None:
        since = ticket.paused_since
        stamp = since.astimezone(UTC).strftime("%Y%m%dT%H%M")
        found.append(
            Threshold(
                f"info-reminder-{stamp}",
                calendar.add_working_days(since, policy.info_reminder_days),
                "info_reminder",
                Audience.CUSTOMER,
            )
        )
        found.append(
            Threshold(
                f"auto-close-{stamp}",
                calendar.add_working_days(since, policy.auto_close_days),
                "auto_close",
                Audience.CUSTOMER,
            )
        )
    if not paused:
        found += _clock_thresholds(ticket, calendar, policy)
    return sorted(found, key=lambda t: t.at)


def _clock_thresholds(
    ticket: Ticket, calendar: BusinessCalendar, policy: Policy
) -> list[Threshold]:
    found = []
    if ticket.first_response_due and ticket.first_response_at is None:
        found.append(
            Threshold("first-response", ticket.first_response_due, "first_response", Audience.AGENT)
        )
    if ticket.due is None:
        return found
    round_number = delay_round(ticket)
    if round_number == 1:  # fractions of the time the customer was promised
        total = calendar.working_seconds(ticket.created, ticket.due)
        for percent in policy.reminder_percents:
            at = calendar.add_working_seconds(ticket.created, total * percent / 100)
            found.append(Threshold(f"remind-{percent}", at, "reminder", Audience.AGENT, percent))
    suffix = "" if round_number == 1 else f"-{round_number}"
    found += [
        Threshold(f"remind-100{suffix}", ticket.due, "reminder", Audience.AGENT, 100),
        Threshold(f"escalate{suffix}", ticket.due, "escalation", Audience.SUPERVISOR),
        Threshold(f"delay-{round_number}", ticket.due, "delay", Audience.CUSTOMER),
    ]
    return found


def due_now(
    ticket: Ticket, calendar: BusinessCalendar, policy: Policy, now: datetime
) -> list[Threshold]:
    """The thresholds to act on at `now`: passed and not acted on yet."""
    return [
        t
        for t in thresholds(ticket, calendar, policy)
        if t.at <= now and t.name not in ticket.sla_fired
    ]


def plan(ticket: Ticket, calendar: BusinessCalendar, policy: Policy, now: datetime) -> Ticket:
    """The ticket with its clock brought up to date after a change (or at creation).

    Sets the first-response deadline once; starts the pause when the ticket begins to wait for
    the customer and, when it stops waiting, moves the deadlines on by the working time it
    waited; and sets `next_check` to the next unfired threshold.
    """
    if ticket.first_response_due is None and ticket.status == TicketStatus.OPEN:
        ticket = replaced(
            ticket,
            first_response_due=calendar.add_working_seconds(
                ticket.created, policy.scaled(policy.first_response_hours, ticket.priority) * 3600
            ),
        )
    waiting = policy.pause_while_pending and waiting_for_customer(ticket)
    if waiting and ticket.paused_since is None:
        ticket = replaced(ticket, paused_since=now)
    elif not waiting and ticket.paused_since is not None:
        # Whole minutes: a pause that began and ended in one breath moves nothing.
        stood = calendar.working_seconds(ticket.paused_since, now) // 60 * 60
        ticket = replaced(
            ticket,
            paused_since=None,
            due=calendar.add_working_seconds(ticket.due, stood) if ticket.due else None,
            first_response_due=(
                calendar.add_working_seconds(ticket.first_response_due, stood)
                if ticket.first_response_due and ticket.first_response_at is None
                else ticket.first_response_due
            ),
        )
    pending = [t for t in thresholds(ticket, calendar, policy) if t.name not in ticket.sla_fired]
    next_check = min((t.at for t in pending), default=None)
    return replaced(ticket, next_check=next_check.astimezone(UTC) if next_check else None)


def extended_due(
    ticket: Ticket, calendar: BusinessCalendar, policy: Policy, now: datetime
) -> datetime:
    """The new expected date we give the customer when their deadline has passed."""
    return calendar.add_working_days(max(now, ticket.due or now), policy.delay_extension_days)
