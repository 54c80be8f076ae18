"""The SLA sweep: tickets whose next check has come, each threshold acted on once and
recorded (a UNIQUE row in `sla_fired`, inserted if absent) in the same transaction as the
mail it queues, so two daemons never both act on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailticket.desk import sla
from mailticket.desk.context import Desk, log
from mailticket.desk.customer_mail import tell_customer
from mailticket.desk.tickets import Effects, agents_for, save_ticket
from mailticket.model import (
    MessageKind,
    Ticket,
    TicketStatus,
    replaced,
)
from mailticket.outbound import compose
from mailticket.outbound.outbox import notify_agents, queue_effects


@dataclass(frozen=True)
class SweepAction:
    ticket_id: str
    threshold: str
    action: str
    to: tuple[str, ...]


class _DryRun(Exception):
    """Unwinds a sweep transaction so that nothing it did is kept."""


def sweep(desk: Desk, *, now: datetime | None = None, dry_run: bool = False) -> list[SweepAction]:
    """Act on every SLA threshold that has come, each exactly once per ticket, even across
    restarts: the mail and the record that it was sent land in one store transaction.

    Reads only tickets whose indexed next check has come. With `dry_run`, says what it would
    do and writes nothing.
    """
    now = now or desk.clock()
    done: list[SweepAction] = []
    due = [t.id for t in desk.store.tickets_to_check(now)]
    for start in range(0, len(due), SWEEP_BATCH):  # one durable write per batch, not per ticket
        actions: list[SweepAction] = []
        try:
            with desk.store.transaction():
                for ticket_id in due[start : start + SWEEP_BATCH]:
                    actions += _sweep_one(desk, ticket_id, now)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        done += actions
    return done


SWEEP_BATCH = 200


class _Taken(Exception):
    """Another daemon recorded one of this ticket's thresholds first: the ticket is its."""


def _sweep_one(desk: Desk, ticket_id: str, now: datetime) -> list[SweepAction]:
    """One ticket in a savepoint: when another instance won a threshold (the UNIQUE row in
    `sla_fired`), everything this one did for the ticket is undone and nothing is sent. The
    ticket is read with its row locked, so another daemon's sweep of it waits, then sees the
    thresholds this one fired."""
    try:
        with desk.store.savepoint():
            current = desk.store.lock_ticket(ticket_id)
            return _sweep_ticket(desk, current, now)
    except _Taken:
        log.info("%s: its SLA threshold was acted on by another instance", ticket_id)
        return []


def _sweep_ticket(desk: Desk, ticket: Ticket, now: datetime) -> list[SweepAction]:
    calendar, policy = desk.config.business_calendar, desk.sla_policy
    effects = Effects()
    actions: list[SweepAction] = []
    for threshold in sla.due_now(ticket, calendar, policy, now):
        if not desk.store.fire_threshold(ticket.id, threshold.name):  # insert-if-absent
            raise _Taken(ticket.id)
        ticket, action = _act(desk, ticket, threshold, now, effects)
        ticket = replaced(ticket, sla_fired=(*ticket.sla_fired, threshold.name))
        actions.append(action)
        if ticket.status == TicketStatus.CLOSED:
            break
    save_ticket(desk, ticket)
    queue_effects(desk.store, effects)
    for note in effects.notes:
        log.info("%s: %s", ticket.id, note)
    return actions


def _act(
    desk: Desk, ticket: Ticket, threshold: sla.Threshold, now: datetime, effects: Effects
) -> tuple[Ticket, SweepAction]:
    """Do what one threshold asks; returns the ticket as it changed and what was done."""
    zone, language = desk.config.zone, ticket.language
    due = compose.format_due(ticket.due, "zh", zone) if ticket.due else ""
    recipients: list[str] = []
    if threshold.action in ("first_response", "reminder"):
        recipients = agents_for(desk, ticket)
        event = "sla_first_response" if threshold.action == "first_response" else "sla_reminder"
        notify_agents(
            desk,
            ticket,
            event,
            effects,
            recipients=recipients,
            kind=MessageKind.REMINDER,
            percent=threshold.percent,
            due=due,
        )
    elif threshold.action == "escalation":
        supervisor = desk.config.agents.supervisor
        recipients = [supervisor] if supervisor else agents_for(desk, ticket)
        notify_agents(
            desk,
            ticket,
            "sla_escalation",
            effects,
            recipients=recipients,
            kind=MessageKind.ESCALATION,
            due=due,
            assignee=ticket.assignee or "(unassigned / 未分配)",
        )
    elif threshold.action == "delay":
        new_due = sla.extended_due(ticket, desk.config.business_calendar, desk.sla_policy, now)
        recipients, _ = tell_customer(
            desk,
            ticket,
            MessageKind.DELAY_NOTICE,
            effects,
            now,
            new_due=compose.format_due(new_due, language, zone),
            escalation_path=desk.config.desk.escalation_path,
        )
        ticket = replaced(ticket, due=new_due, updated=now)
    elif threshold.action == "info_reminder":
        recipients, _ = tell_customer(desk, ticket, MessageKind.INFO_REMINDER, effects, now)
    elif threshold.action == "auto_close":
        recipients, _ = tell_customer(desk, ticket, MessageKind.CLOSING_NOTICE, effects, now)
        ticket = replaced(ticket, status=TicketStatus.CLOSED, closed_at=now, updated=now)
    else:  # close_resolved: the reopening window has passed; nothing to send
        ticket = replaced(ticket, status=TicketStatus.CLOSED, closed_at=now, updated=now)
    return ticket, SweepAction(ticket.id, threshold.name, threshold.action, tuple(recipients))
