"""Agents' mail: is it really theirs, then their `#` commands, relaying their reply to the
customer, resolution terms and telling the assignee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from mailticket.desk import agents
from mailticket.desk.commands import USAGE, Problem, parse_commands
from mailticket.desk.context import Desk, log
from mailticket.desk.customer_mail import tell_customer
from mailticket.desk.decide import (
    AgentDecision,
    decide_agent_mail,
    throttle_reason,
    with_status,
)
from mailticket.desk.files import agent_files, bundles, customer_files
from mailticket.desk.tickets import (
    Effects,
    category,
    last_customer_mail,
    rescore,
    undeliverable,
    with_deadline,
)
from mailticket.model import (
    Attachment,
    InboundMail,
    MessageKind,
    Ticket,
)
from mailticket.outbound import compose
from mailticket.outbound.headers import header_safe
from mailticket.outbound.outbox import next_outbox_id, notify_agents


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
    """An authenticated agent's mail on a ticket: its commands applied and its words (and
    files) relayed to the customer; or, when a command line is not understood, nothing done
    and the agent told which line. Returns the ticket and how the mail is recorded (AGENT or
    NOTE)."""
    now, sender = desk.clock(), mail.from_addr
    rules = desk.rules.current if desk.rules else None
    files = agent_files(desk, ticket, mail.attachments)
    # The "history when nothing else" text is for customers' mail: an agent's reply with no
    # words of its own would relay our internal notice (score, flags, assignee) to the customer.
    decision = decide_agent_mail(
        parse_commands("" if mail.text_is_history else mail.text),
        ticket,
        sender=sender,
        addressed_customer=ticket.customer.lower() in (a.lower() for a in (*mail.to, *mail.cc)),
        is_agent=desk.config.is_agent,
        categories=[c.id for c in rules.categories] if rules else [],
        files=len(files),
    )
    effects.notes.extend(decision.notes)
    if decision.problems:
        problems = "; ".join(str(p) for p in decision.problems)
        effects.notes.append(f"not understood, nothing done: {problems}")
        _tell_sender(desk, ticket, mail, "command_error", effects, problems=decision.problems)
        return ticket, decision.kind
    assigned = ticket.assignee
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
    _answer(desk, ticket, mail, decision, files if decision.files else [], effects)
    if decision.assignee not in ("", sender.lower(), assigned):
        last = last_customer_mail(desk, ticket)
        notify_assignee(
            desk, ticket, "assigned", effects, assigned_by=sender, text=last.text if last else ""
        )
    return ticket, decision.kind


def _answer(
    desk: Desk,
    ticket: Ticket,
    mail: InboundMail,
    decision: AgentDecision,
    files: list[Attachment],
    effects: Effects,
) -> None:
    """The agent's words and files to the customer (or the agent told why not), and the
    customer's files to the agent on `#attachments`."""
    now = desk.clock()
    if decision.send is not None:
        terms = (
            _resolution_terms(desk, ticket, now) if decision.send == MessageKind.RESOLUTION else {}
        )
        [bundle] = bundles(desk, files, sum(f.size for f in files), split=False)
        _, held = tell_customer(
            desk,
            ticket,
            decision.send,
            effects,
            now,
            attachments=bundle.attached,
            text=decision.text,
            files=list(bundle.listed),
            **terms,
        )
        if held:
            _tell_sender(desk, ticket, mail, "not_sent", effects, reason=held)
    if decision.fetch:
        _send_customer_files(desk, ticket, mail, effects)
    if decision.send is None and not decision.text and not decision.notes:
        effects.notes.append("agent mail with no words of its own: nothing sent to the customer")
        problem = Problem("(没有新的文字 no new text)", "只有引用 only quoted text")
        _tell_sender(desk, ticket, mail, "command_error", effects, problems=[problem])


def _send_customer_files(desk: Desk, ticket: Ticket, mail: InboundMail, effects: Effects) -> None:
    """`#attachments`: every file the customer sent on the ticket, to the agent who asked, in
    as many mails as `[agents] attach_max_bytes` allows (never to anyone else)."""
    found = customer_files(desk, ticket)
    parts = bundles(desk, found, desk.config.agents.attach_max_bytes, split=True)
    for number, bundle in enumerate(parts, 1):
        _tell_sender(
            desk,
            ticket,
            mail,
            "attachments",
            effects,
            attachments=bundle.attached,
            files=list(bundle.listed),
            part=number,
            parts=len(parts),
        )
    effects.notes.append(f"{len(found)} file(s) of the customer's sent to {mail.from_addr}")


def _tell_sender(
    desk: Desk,
    ticket: Ticket,
    mail: InboundMail,
    template: str,
    effects: Effects,
    attachments: Sequence[Attachment] = (),
    **context: object,
) -> None:
    """A mail to the agent who wrote `mail`, in answer to it."""
    notify_agents(
        desk,
        ticket,
        template,
        effects,
        recipients=[mail.from_addr],
        kind=MessageKind.COMMAND_ERROR,
        thread=(*mail.references, mail.message_id),
        attachments=attachments,
        usages=list(USAGE.values()),
        **context,
    )


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
    desk: Desk,
    ticket: Ticket,
    occasion: str,
    effects: Effects,
    files: Sequence[Attachment] = (),
    **context: object,
) -> None:
    """Tell the assignee, or the team while nobody is assigned, what happened on a ticket,
    with the customer's new `files` attached up to `[agents] attach_max_bytes` (the rest
    listed). Each notice answers the ticket's previous one and has Reply-To the desk, so an
    agent's answer comes back here, on this ticket."""
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
    [bundle] = bundles(desk, files, desk.config.agents.attach_max_bytes, split=False)
    notify_agents(
        desk,
        ticket,
        "agent_notification",
        effects,
        recipients=[to],
        kind=MessageKind.AGENT_NOTIFICATION,
        thread=tuple(earlier[-10:]),
        attachments=bundle.attached,
        files=list(bundle.listed),
        occasion=occasion,
        **compose.ticket_facts(ticket, category(desk, ticket), desk.config.zone),
        **context,
    )


def answer_unmatched_agent(desk: Desk, mail: InboundMail) -> None:
    """An agent's mail that matches no ticket (a reply to the digest, a new thread) is kept
    in quarantine, never a ticket with the agent as its customer; the agent is told how to
    reach a ticket, at most `[limits] auto_replies_per_sender_per_hour` times an hour."""
    store, now = desk.store, desk.clock()
    kinds = {MessageKind.COMMAND_ERROR.value}
    sent = store.automatic_replies_since(mail.from_addr, kinds, now - timedelta(hours=1))
    held = throttle_reason(sent, desk.config.limits.auto_replies_per_sender_per_hour, False)
    if held:
        log.warning(
            "%s not told that %s matched no ticket: %s", mail.from_addr, mail.message_id, held
        )
        return
    text, html = desk.templates.render(
        "no_ticket",
        "agent",
        subject=header_safe(mail.subject),
        prefix=desk.config.desk.ticket_prefix,
        desk_name=desk.config.desk.name,
    )
    store.enqueue(
        compose.build_mail(
            desk=desk.identity,
            outbox_id=next_outbox_id(store),
            ticket_id="UNMATCHED",  # about no ticket: a reply to it matches none either
            kind=MessageKind.COMMAND_ERROR,
            recipients=[("", mail.from_addr)],
            subject=text.strip().splitlines()[0],
            text=text,
            html=html,
            now=now,
            language="zh",
            auto_submitted="auto-replied",
            in_reply_to=mail.message_id,
            references=mail.references,
        )
    )
