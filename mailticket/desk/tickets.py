"""Writing tickets: every ticket write goes through `save_ticket` (which plans the SLA
clock), new tickets and continuations, rescoring from the thread, and the small lookups
(category, last customer mail, agents for a ticket) the other steps share.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mailticket.completeness.rules import Category
from mailticket.completeness.score import Assessment, ThreadMail, assess
from mailticket.desk import sla
from mailticket.desk.context import Desk
from mailticket.desk.decide import (
    with_status,
)
from mailticket.mail.parse import detect_language
from mailticket.model import (
    Direction,
    InboundMail,
    MessageKind,
    OutgoingMail,
    Ticket,
    TicketMessage,
    TicketStatus,
)


def save_ticket(desk: Desk, ticket: Ticket, *, new: bool = False) -> Ticket:
    """Store a ticket with its SLA clock brought up to date: every ticket write goes here, so
    the sweep's index of next checks is never stale."""
    ticket = sla.plan(ticket, desk.config.business_calendar, desk.sla_policy, desk.clock())
    if new:
        desk.store.add_ticket(ticket)
    else:
        desk.store.update_ticket(ticket)
    return ticket


def new_ticket(desk: Desk, mail: InboundMail, continues: Ticket | None = None) -> Ticket:
    """A ticket for a new complaint, or for a customer's answer to a closed ticket (which it
    `continues`: same subject, and the old one named as `previous_ticket`)."""
    config, now = desk.config, desk.clock()
    local_now = now.astimezone(config.zone)
    days = config.desk.sla_working_days
    return Ticket(
        id=desk.store.next_ticket_id(config.desk.ticket_prefix, local_now.year),
        status=TicketStatus.OPEN,
        customer=mail.from_addr,
        customer_name=mail.from_name,
        subject=continues.subject if continues else mail.subject,
        language=detect_language(mail.subject, mail.text),
        created=now,
        updated=now,
        due=config.business_calendar.add_working_days(now, days),
        sla_working_days=days,
        previous_ticket=continues.id if continues else "",
    )


def close_continued(desk: Desk, ticket: Ticket, successor: str) -> None:
    """The answered ticket is closed (if it was only resolved) and points at its successor,
    where the customer's further mail on the old thread goes."""
    now = desk.clock()
    closed = with_status(ticket, TicketStatus.CLOSED, now)
    save_ticket(desk, replace(closed, continued_by=successor, updated=now))


def continuation(desk: Desk, ticket: Ticket) -> Ticket:
    """The newest ticket that continues a closed one: a customer's second mail on the old
    thread joins the ticket their first one started instead of starting another."""
    seen = {ticket.id}
    while ticket.status == TicketStatus.CLOSED and ticket.continued_by not in seen:
        successor = desk.store.find_ticket(ticket.continued_by) if ticket.continued_by else None
        if successor is None:
            break
        seen.add(successor.id)
        ticket = successor
    return ticket


def category(desk: Desk, ticket: Ticket) -> Category | None:
    rules = desk.rules.current if desk.rules else None
    return rules.get(ticket.category) if rules and ticket.category else None


CUSTOMER_KINDS = (MessageKind.COMPLAINT, MessageKind.FOLLOWUP)


@dataclass
class Effects:
    """What handling one event adds besides the ticket: notes on it, and mail to queue after
    the event's own record (so a ticket's history reads in order)."""

    notes: list[str] = field(default_factory=list)
    outgoing: list[tuple[OutgoingMail, str]] = field(default_factory=list)


def rescore(
    desk: Desk,
    ticket: Ticket,
    effects: Effects,
    *,
    mail: InboundMail | None = None,
    kind: MessageKind = MessageKind.FOLLOWUP,
    flags: tuple[str, ...] = (),
    category: str = "",
    fresh: bool = False,
) -> tuple[Ticket, Assessment | None]:
    """The ticket scored again on its whole thread with this customer `mail` (when there are
    rules), its flags gathered from every customer mail; a new category brings its deadline.
    The `category` an agent chose (now, or earlier: `category_set_by`) is kept, not guessed.
    A `fresh` ticket (made from this mail) has no earlier messages to read."""
    zone = desk.config.zone
    earlier = [
        m
        for m in (() if fresh else desk.store.messages(ticket.id))
        if m.direction == Direction.IN and m.kind in CUSTOMER_KINDS
    ]
    thread_flags = [f for m in earlier for f in m.flags] + list(flags)
    if desk.rules is None:
        return replace(ticket, flags=tuple(dict.fromkeys(thread_flags))), None
    thread = [
        ThreadMail(
            m.message_id,
            m.date.astimezone(zone),
            m.subject if m.kind == MessageKind.COMPLAINT else "",  # replies repeat it
            m.text,
            m.attachments,
        )
        for m in earlier
    ]
    if mail is not None:
        thread.append(
            ThreadMail(
                mail.message_id,
                (mail.date or desk.clock()).astimezone(zone),
                mail.subject if kind == MessageKind.COMPLAINT else "",
                mail.text,
                mail.attachments,
            )
        )
    chosen = category or (ticket.category if ticket.category_set_by else "")
    forced = desk.rules.current.get(chosen) if chosen else None
    assessment = assess(desk.rules.current, thread, category=forced)
    effects.notes.append(assessment.explanation())
    classification = assessment.classification
    scored = replace(
        ticket,
        category=assessment.category.id,
        category_confidence=classification.confidence,
        score=assessment.score,
        complete=assessment.complete,
        missing=assessment.missing,
        fields=assessment.fields,
        field_history=assessment.history,
        flags=tuple(dict.fromkeys([*filter(None, [classification.flag]), *thread_flags])),
    )
    if scored.category != ticket.category:
        scored = with_deadline(desk, scored, assessment.category)
    return scored, assessment


def last_customer_mail(desk: Desk, ticket: Ticket, *, bodies: bool = True) -> TicketMessage | None:
    """The customer's latest mail on the ticket: what our mail to them answers (without its
    texts read back from the packs when only its Message-IDs are needed)."""
    mails = [
        m
        for m in desk.store.messages(ticket.id, bodies=bodies)
        if m.direction == Direction.IN and m.kind in CUSTOMER_KINDS
    ]
    return mails[-1] if mails else None


def with_deadline(desk: Desk, ticket: Ticket, category: Category | None) -> Ticket:
    """The promise in working days for the category (else the desk's) and the priority,
    counted from when the complaint arrived; the first-response target is set anew too."""
    base = category.sla_working_days if category else desk.config.desk.sla_working_days
    days = desk.sla_policy.scaled(base, ticket.priority)
    due = desk.config.business_calendar.add_working_days(ticket.created, days)
    first_response_due = None if ticket.first_response_at is None else ticket.first_response_due
    return replace(ticket, sla_working_days=days, due=due, first_response_due=first_response_due)


def agents_for(desk: Desk, ticket: Ticket) -> list[str]:
    """The assignee, else the category's team, else every agent."""
    if ticket.assignee:
        return [ticket.assignee]
    team = desk.config.team_for(ticket.category)
    return [team] if team else list(desk.config.agents.addresses)


def undeliverable(ticket: Ticket, address: str) -> bool:
    return address.lower() in (a.lower() for a in ticket.undeliverable)
