"""Agents' mail: is it really theirs, then their `#` commands, relaying their reply to the
customer, resolution terms and telling the assignee.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from mailticket.desk import agents
from mailticket.desk.commands import USAGE, Problem, parse_commands
from mailticket.desk.context import Desk
from mailticket.desk.decide import (
    decide_agent_mail,
    with_status,
)
from mailticket.desk.sweep import tell_customer
from mailticket.desk.tickets import (
    Effects,
    category,
    last_customer_mail,
    rescore,
    undeliverable,
    with_deadline,
)
from mailticket.model import (
    InboundMail,
    MessageKind,
    Ticket,
)
from mailticket.outbound import compose
from mailticket.outbound.outbox import notify_agents


def agent_claim(desk: Desk, mail: InboundMail) -> agents.Verdict | None:
    """For mail from an agent's address, whether it may act as that agent: vouched for by a
    trusted server, or taken on its From when `require_authentication` is off. None for
    everyone else."""
    part = desk.config.agents
    if not mail.from_valid or not desk.config.is_agent(mail.from_addr):
        return None
    if not part.require_authentication:
        return agents.Verdict(True, "not checked ([agents] require_authentication = false)")
    return agents.verify_sender(
        mail.authentication_results, mail.from_addr, part.trusted_authserv_ids
    )


def act_on_agent_mail(
    desk: Desk, ticket: Ticket, mail: InboundMail, effects: Effects
) -> tuple[Ticket, MessageKind]:
    """An authenticated agent's mail on a ticket: its commands applied and its words relayed
    to the customer; or, when a command line is not understood, nothing done and the agent
    told which line. Returns the ticket and how the mail is recorded (AGENT or NOTE)."""
    now, sender, assigned = desk.clock(), mail.from_addr, ticket.assignee
    rules = desk.rules.current if desk.rules else None
    # The "history when nothing else" text is for customers' mail: an agent's reply with no
    # words of its own would relay our internal notice (score, flags, assignee) to the customer.
    decision = decide_agent_mail(
        parse_commands("" if mail.text_is_history else mail.text),
        ticket,
        sender=sender,
        addressed_customer=ticket.customer.lower() in (a.lower() for a in (*mail.to, *mail.cc)),
        is_agent=desk.config.is_agent,
        categories=[c.id for c in rules.categories] if rules else [],
    )
    effects.notes.extend(decision.notes)
    if decision.problems:
        problems = "; ".join(str(p) for p in decision.problems)
        effects.notes.append(f"not understood, nothing done: {problems}")
        notify_agents(
            desk,
            ticket,
            "command_error",
            effects,
            recipients=[sender],
            kind=MessageKind.COMMAND_ERROR,
            thread=(*mail.references, mail.message_id),
            problems=list(decision.problems),
            usages=list(USAGE.values()),
        )
        return ticket, decision.kind
    if decision.status is not None:
        ticket = with_status(ticket, decision.status, now)
    if decision.priority is not None and decision.priority != ticket.priority:
        prioritised = replace(ticket, priority=decision.priority)
        ticket = with_deadline(desk, prioritised, category(desk, ticket))
    if decision.assignee:
        ticket = replace(ticket, assignee=decision.assignee)
    if decision.category:
        ticket, _ = rescore(
            desk, replace(ticket, category_set_by=sender), effects, category=decision.category
        )
    if decision.public and ticket.first_response_at is None:
        ticket = replace(ticket, first_response_at=now)
    if decision.send is not None:
        terms = (
            _resolution_terms(desk, ticket, now) if decision.send == MessageKind.RESOLUTION else {}
        )
        tell_customer(desk, ticket, decision.send, effects, now, text=decision.text, **terms)
    if decision.send is None and not decision.text and not decision.notes:
        effects.notes.append("agent mail with no words of its own: nothing sent to the customer")
        notify_agents(
            desk,
            ticket,
            "command_error",
            effects,
            recipients=[sender],
            kind=MessageKind.COMMAND_ERROR,
            thread=(*mail.references, mail.message_id),
            problems=[Problem("(没有新的文字 no new text)", "只有引用 only quoted text")],
            usages=list(USAGE.values()),
        )
    if decision.assignee not in ("", sender.lower(), assigned):
        last = last_customer_mail(desk, ticket)
        notify_assignee(
            desk, ticket, "assigned", effects, assigned_by=sender, text=last.text if last else ""
        )
    return ticket, decision.kind


def _resolution_terms(desk: Desk, ticket: Ticket, now: datetime) -> dict[str, object]:
    """What the resolution mail says about not being satisfied: reply by when to reopen the
    ticket, and where to turn after that."""
    days = desk.config.agents.reopen_days
    until = compose.format_due(now + timedelta(days=days), ticket.language, desk.config.zone)
    return {
        "reopen_days": days,
        "reopen_until": until,
        "escalation_path": desk.config.desk.escalation_path,
    }


def notify_assignee(
    desk: Desk, ticket: Ticket, occasion: str, effects: Effects, **context: object
) -> None:
    """Tell the assignee, or the team while nobody is assigned, what happened on a ticket.
    Each notice answers the ticket's previous one and has Reply-To the desk, so an agent's
    answer comes back here, on this ticket."""
    to = ticket.assignee or desk.config.team_for(ticket.category)
    if not to:
        return
    if undeliverable(ticket, to):
        effects.notes.append(f"agents not told ({occasion}): {to} is marked undeliverable")
        return
    earlier = [
        m.message_id
        for m in desk.store.messages(ticket.id, bodies=False)  # headers are enough
        if m.kind == MessageKind.AGENT_NOTIFICATION
    ]
    notify_agents(
        desk,
        ticket,
        "agent_notification",
        effects,
        recipients=[to],
        kind=MessageKind.AGENT_NOTIFICATION,
        thread=tuple(earlier[-10:]),
        occasion=occasion,
        **compose.ticket_facts(ticket, category(desk, ticket), desk.config.zone),
        **context,
    )
