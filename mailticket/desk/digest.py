"""The daily digest to agents: open tickets with the time left on each."""

from __future__ import annotations

from datetime import datetime, time

from mailticket.desk.context import Desk
from mailticket.desk.report_gather import yesterday_line
from mailticket.desk.tickets import agents_for
from mailticket.model import (
    MessageKind,
    OutgoingMail,
    Ticket,
    TicketStatus,
)
from mailticket.outbound import compose, headers
from mailticket.outbound.outbox import next_outbox_id


def send_digests(desk: Desk, now: datetime | None = None) -> list[OutgoingMail]:
    """Once a day after `[sla] digest_time`: each assignee, and the team for unassigned
    tickets, gets their open tickets by time left, overdue first."""
    now = now or desk.clock()
    local = now.astimezone(desk.config.zone)
    if local.time() < time.fromisoformat(desk.config.sla.digest_time):
        return []
    store, today = desk.store, local.date().isoformat()
    sent: list[OutgoingMail] = []
    with store.transaction():
        # Claimed first, in the transaction that queues the digests: of two daemons at once,
        # one sets today's mark and sends; the other finds it set and sends nothing.
        if not store.claim_mark("digest", today):
            return []
        waiting = store.tickets(TicketStatus.OPEN) + store.tickets(TicketStatus.PENDING)
        summary = yesterday_line(store, desk.config.business_calendar, now)
        by_recipient: dict[str, list[Ticket]] = {}
        for ticket in waiting:
            for recipient in agents_for(desk, ticket):
                by_recipient.setdefault(recipient, []).append(ticket)
        for recipient, tickets in sorted(by_recipient.items()):
            rows = [
                {
                    "id": t.id,
                    "status": t.status.value,
                    "left": _time_left(t, now),
                    "subject": headers.header_safe(t.subject, 60),
                }
                for t in sorted(tickets, key=lambda t: t.due or now)
            ]
            text, html = desk.templates.render(
                "digest",
                "agent",
                rows=rows,
                date=today,
                desk_name=desk.config.desk.name,
                summary=summary,
            )
            outgoing = compose.build_mail(
                desk=desk.identity,
                outbox_id=next_outbox_id(store),
                ticket_id=f"DIGEST-{today}",  # about no one ticket: replies match none
                kind=MessageKind.DIGEST,
                recipients=[("", recipient)],
                subject=text.strip().splitlines()[0],
                text=text,
                html=html,
                now=now,
                language="zh",
                auto_submitted="auto-generated",
            )
            store.enqueue(outgoing)
            sent.append(outgoing)
    return sent


def _time_left(ticket: Ticket, now: datetime) -> str:
    if ticket.due is None:
        return "-"
    hours = (ticket.due - now).total_seconds() / 3600
    if hours < 0:
        return f"overdue {-hours:.0f}h / 超期"
    return f"{hours / 24:.1f}d" if hours >= 48 else f"{hours:.0f}h"
