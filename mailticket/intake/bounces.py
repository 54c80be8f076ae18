"""A delivery report matched to one of our mails: its failed recipients are marked
undeliverable and the agents are told; a bounce never opens a ticket.

Only a mail we sent counts: the report must return one of our signed Message-IDs (`match.
signed_ticket` checks the HMAC) that is in the outbox, and only that mail's recipients can be
marked. A forged report (naming the customer's own Message-ID, an unsigned or forged one, or
someone who never got the mail) changes nothing (issue 17 item 11).
"""

from __future__ import annotations

from dataclasses import replace

from mailticket.desk.context import Desk
from mailticket.desk.match import signed_ticket
from mailticket.desk.tickets import Effects
from mailticket.mail.dsn import DeliveryReport
from mailticket.model import OutgoingMail, Ticket
from mailticket.outbound.outbox import notify_agents


def returned_mail(desk: Desk, report: DeliveryReport) -> list[OutgoingMail]:
    """The mails of ours a report is about: signed by this desk and in the outbox."""
    domain = desk.config.desk_domain
    for message_id in report.message_ids:
        ticket_id = signed_ticket(message_id, domain, desk.secret)
        if ticket_id is None:
            continue
        sent = [m for m in desk.store.outbox_of(ticket_id) if m.message_id in report.message_ids]
        if sent:
            return sent
    return []


def apply_bounce(desk: Desk, ticket: Ticket, report: DeliveryReport, effects: Effects) -> Ticket:
    """Mark the recipients of our returned mail that the report proves dead; tell the agents."""
    returned = [m for m in returned_mail(desk, report) if m.ticket_id == ticket.id]
    if not returned:
        effects.notes.append("delivery report about none of our mails: ignored")
        return ticket
    ours = {r.lower() for outgoing in returned for r in outgoing.rcpt_to}
    failed = {r: d for r, d in report.failed if r.lower() in ours}
    strangers = [r for r, _ in report.failed if r.lower() not in ours]
    if strangers:
        effects.notes.append(
            f"delivery report names {', '.join(strangers[:3])}, not a recipient of "
            f"{returned[0].message_id}: ignored"
        )
    if not report.failed and not report.delayed:  # an old-style bounce: it is about our recipients
        for outgoing in returned:
            failed.update((r, "returned to sender") for r in outgoing.rcpt_to)
    if not failed:
        if report.delayed:
            effects.notes.append(f"delivery delayed to {', '.join(report.delayed)}")
        return ticket
    dead = tuple(dict.fromkeys((*ticket.undeliverable, *failed)))
    ticket = replace(ticket, undeliverable=dead)
    for recipient, detail in failed.items():
        effects.notes.append(f"bounce: {recipient} marked undeliverable ({detail})")
        notify_agents(
            desk,
            ticket,
            "bounced",
            effects,
            recipient=recipient,
            detail=detail,
            original_subject=returned[0].subject,
        )
    return ticket
