"""A delivery report matched to one of our mails: the address is marked undeliverable and
the agents are told; a bounce never opens a ticket.
"""

from __future__ import annotations

from dataclasses import replace

from mailticket.desk.context import Desk
from mailticket.desk.tickets import Effects
from mailticket.mail.dsn import DeliveryReport
from mailticket.model import (
    Ticket,
)
from mailticket.outbound.outbox import notify_agents


def apply_bounce(desk: Desk, ticket: Ticket, report: DeliveryReport, effects: Effects) -> Ticket:
    """Mark the addresses a bounce proves dead, and tell the agents."""
    failed = dict(report.failed)
    returned = [m for m in desk.store.outbox_of(ticket.id) if m.message_id in report.message_ids]
    if not failed and not report.delayed:  # an old-style bounce: it is about our recipients
        for outgoing in returned:
            failed.update((r, "returned to sender") for r in outgoing.rcpt_to)
    if not failed:
        delayed = ", ".join(report.delayed) or "unknown recipients"
        effects.notes.append(f"delivery delayed to {delayed}")
        return ticket
    dead = tuple(dict.fromkeys((*ticket.undeliverable, *failed)))
    ticket = replace(ticket, undeliverable=dead)
    original = returned[0].subject if returned else ""
    for recipient, detail in failed.items():
        effects.notes.append(f"bounce: {recipient} marked undeliverable ({detail})")
        notify_agents(
            desk,
            ticket,
            "bounced",
            effects,
            recipient=recipient,
            detail=detail,
            original_subject=original,
        )
    return ticket
