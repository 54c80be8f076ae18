"""The one place that chooses what happens to a ticket when something arrives.

`decide_inbound` looks at a parsed mail and the ticket it continues (if any) and returns a
`Decision`; it has no side effects, so every rule here is a unit test away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from mailticket.desk.commands import AgentCommands, Problem
from mailticket.model import InboundMail, MessageKind, Priority, Ticket, TicketStatus


class Action(StrEnum):
    NEW_TICKET = "new_ticket"
    APPEND = "append"
    QUARANTINE = "quarantine"


@dataclass(frozen=True)
class Decision:
    action: Action
    kind: MessageKind
    acknowledge: bool = False  # answer the sender (QUARANTINE: an agent told it matched nothing)
    notes: tuple[str, ...] = ()
    reason: str = ""  # why it goes to quarantine
    reopen: bool = False  # a customer answered a resolved ticket in time
    resume: bool = False  # a customer answered a pending ticket: it is open again
    continues: str = ""  # NEW_TICKET: the resolved or closed ticket the customer answered
    machine: str = ""  # NEW_TICKET: why its sender is a machine we never answer (a loop)


_ROBOT_SENDER = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|auto[-_.]?reply)"
    r"([-+_.].*)?@",
    re.IGNORECASE,
)


def autoreply_block_reason(mail: InboundMail, own_addresses: set[str]) -> str | None:
    """Why this mail must not get an automatic answer (RFC 3834 and practice), or None."""
    h = mail.auto_headers
    auto_submitted = h.get("auto-submitted", "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        if name in h:
            return f"mailing list mail ({name})"
    suppress = h.get("x-auto-response-suppress", "").lower()
    if any(word in suppress for word in ("all", "autoreply", "oof")):
        return f"X-Auto-Response-Suppress: {h['x-auto-response-suppress']}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in h:
            return f"{name} header"
    if h.get("return-path", "").strip() in ("<>", "") and "return-path" in h:
        return "empty Return-Path (a bounce or notification)"
    if mail.is_delivery_report:
        return "delivery status notification"
    if not mail.from_addr:
        return "no sender address"
    if not mail.from_valid:
        return f"the sender address {mail.from_addr!r} is not a valid address"
    if _ROBOT_SENDER.match(mail.from_addr):
        return f"automated sender {mail.from_addr}"
    if mail.from_addr.lower() in own_addresses:
        return "sent from the desk's own address"
    return None


def throttle_reason(
    replies_to_sender_last_hour: int, per_hour_limit: int, identical_recently: bool
) -> str | None:
    """Why an automatic reply we would send must be held back (storm or repeat), or None.

    Counted per sender address, not per subject or ticket, so a machine that varies its
    subject cannot draw more than the limit out of us.
    """
    if replies_to_sender_last_hour >= per_hour_limit:
        return f"{replies_to_sender_last_hour} automatic replies to this sender in the last hour"
    if identical_recently:
        return "the same reply was sent on this ticket recently"
    return None


def decide_inbound(
    mail: InboundMail,
    ticket: Ticket | None,
    *,
    is_agent: bool,
    own_addresses: set[str],
    now: datetime,
    reopen_days: int,
) -> Decision:
    """What a mail does: open a ticket, join one (reopening it when a customer answers a
    resolution in time), or go to quarantine. `is_agent` means an authenticated agent."""
    blocked = autoreply_block_reason(mail, own_addresses)
    notes: tuple[str, ...] = (f"no automatic reply: {blocked}",) if blocked else ()
    if mail.is_delivery_report:
        if ticket is None:
            return Decision(
                Action.QUARANTINE,
                MessageKind.BOUNCE,
                reason="delivery status notification that returns no mail we sent",
            )
        return Decision(Action.APPEND, MessageKind.BOUNCE, notes=notes)
    if ticket is not None:
        if blocked:  # an agent's out-of-office too: it must never reach the customer
            return Decision(Action.APPEND, MessageKind.AUTOMATED, notes=notes)
        if is_agent:
            return Decision(Action.APPEND, MessageKind.AGENT, notes=notes)
        return _customer_answer(ticket, now, reopen_days)
    if not mail.from_addr:
        return Decision(
            Action.QUARANTINE, MessageKind.COMPLAINT, reason="no sender address to answer"
        )
    if mail.from_addr.lower() in own_addresses:
        return Decision(
            Action.QUARANTINE,
            MessageKind.AUTOMATED,
            reason="mail from the desk's own address that continues no ticket (a loop?)",
        )
    if is_agent:  # a reply to the digest, a new thread: an agent is never a ticket's customer
        return Decision(
            Action.QUARANTINE,
            MessageKind.AGENT,
            acknowledge=not blocked,  # the agent is told; never their out-of-office
            notes=notes,
            reason="an agent's mail that matches no ticket",
        )
    return Decision(
        Action.NEW_TICKET,
        MessageKind.COMPLAINT,
        acknowledge=not blocked,
        notes=notes,
        machine=blocked or "",
    )


def _customer_answer(ticket: Ticket, now: datetime, reopen_days: int) -> Decision:
    """A customer's mail on a ticket: a follow-up, a reopening within `reopen_days` of the
    resolution, or (later, or on a closed ticket) a new ticket that continues the old one."""
    if ticket.status == TicketStatus.RESOLVED:
        resolved = ticket.resolved_at or ticket.updated
        if now - resolved <= timedelta(days=reopen_days):
            return Decision(
                Action.APPEND,
                MessageKind.FOLLOWUP,
                reopen=True,
                notes=(
                    f"reopened: the customer answered within {reopen_days} days of the resolution",
                ),
            )
        why = f"resolved more than {reopen_days} days ago: closed"
    elif ticket.status == TicketStatus.CLOSED:
        why = "closed"
    elif ticket.status == TicketStatus.PENDING:
        return Decision(
            Action.APPEND,
            MessageKind.FOLLOWUP,
            resume=True,
            notes=("open again: the customer answered while the ticket was pending",),
        )
    else:
        return Decision(Action.APPEND, MessageKind.FOLLOWUP)
    return Decision(
        Action.NEW_TICKET,
        MessageKind.COMPLAINT,
        acknowledge=True,
        continues=ticket.id,
        notes=(f"a new ticket: the customer answered {ticket.id}, which is {why}",),
    )


def with_status(ticket: Ticket, status: TicketStatus, now: datetime) -> Ticket:
    """The ticket in `status`, with the times that go with it: `resolved_at` when resolved,
    `closed_at` when closed, neither once it is open or pending again."""
    if status == ticket.status:
        return ticket
    if status == TicketStatus.RESOLVED:
        return replace(ticket, status=status, resolved_at=now, closed_at=None, updated=now)
    if status == TicketStatus.CLOSED:
        return replace(ticket, status=status, closed_at=now, updated=now)
    return replace(ticket, status=status, resolved_at=None, closed_at=None, updated=now)


@dataclass(frozen=True)
class AgentDecision:
    """What an authenticated agent's mail on a ticket does. With `problems` nothing else
    happens: the agent is told which lines were not understood."""

    kind: MessageKind  # how the agent's mail is recorded: AGENT, or NOTE (never sent)
    problems: tuple[Problem, ...] = ()
    status: TicketStatus | None = None
    assignee: str = ""
    priority: Priority | None = None
    category: str = ""
    send: MessageKind | None = None  # REPLY or RESOLUTION to the customer, from the desk
    text: str = ""  # what the customer reads: the agent's words without the commands
    public: bool = False  # the customer hears from an agent (relayed, or written directly)
    notes: tuple[str, ...] = ()
    files: bool = False  # the agent's files go to the customer with `send`
    fetch: bool = False  # `#attachments`: the customer's files go to the agent


def decide_agent_mail(
    commands: AgentCommands,
    ticket: Ticket,
    *,
    sender: str,
    addressed_customer: bool,
    is_agent: Callable[[str], bool],
    categories: Collection[str],
    files: int = 0,
) -> AgentDecision:
    """Commands, and whether the agent's words go to the customer: as a reply, as the
    resolution (`#resolve`, `#status resolved`), not at all (`#note`, no words), or not
    again (`addressed_customer`: the agent wrote to them directly and copied the desk). The
    agent's own `files` are content too: alone they go out with a short line from the desk."""
    problems = list(commands.problems)
    note = commands.get("note") is not None
    kind = MessageKind.NOTE if note else MessageKind.AGENT
    assignee = ""
    if assign := commands.get("assign"):
        assignee = sender.lower() if assign.argument == "me" else assign.argument
        if not is_agent(assignee):
            problems.append(Problem(assign.line, f"{assignee} is not an agent"))
    category = commands.get("category")
    if category and category.argument not in categories:
        known = ", ".join(categories) or "none: no [rules] configured"
        problems.append(Problem(category.line, f"unknown category (known: {known})"))
    if problems:
        return AgentDecision(kind, problems=tuple(problems))
    status_command = commands.get("status")
    status = TicketStatus(status_command.argument) if status_command else None
    if commands.get("resolve"):
        status = TicketStatus.RESOLVED
    priority = commands.get("priority")
    notes = [f"#{c.name} {c.argument}".rstrip() + f" by {sender}" for c in commands.commands]
    words = "" if note else commands.text
    content = bool(words) or (files > 0 and not note)
    send: MessageKind | None = None
    if content and addressed_customer:
        notes.append("written to the customer directly (desk copied): not sent again")
    elif content and ticket.customer.lower() in (a.lower() for a in ticket.undeliverable):
        notes.append(f"not sent: {ticket.customer} is marked undeliverable")
    elif content:
        send = MessageKind.RESOLUTION if status == TicketStatus.RESOLVED else MessageKind.REPLY
        if not words:
            notes.append(f"{files} file(s) of the agent's, no words: sent with the desk's line")
    return AgentDecision(
        kind,
        status=status,
        assignee=assignee,
        priority=Priority(priority.argument) if priority else None,
        category=category.argument if category else "",
        send=send,
        text=words,
        public=send is not None or (content and addressed_customer),
        notes=tuple(notes),
        files=send is not None and files > 0,
        fetch=commands.get("attachments") is not None,
    )


def wants_information_reply(before: Ticket, after: Ticket, kind: MessageKind) -> bool:
    """Whether a customer's follow-up gets an automatic answer about the ticket's details.

    Only while we are still collecting them (the ticket was scored and incomplete) and only when
    the mail changed what is missing: it gave some of it, or made the category clear. A mail
    that gives nothing new gets no second copy of the same list, and once the ticket is
    complete the agents take over the conversation.
    """
    return (
        kind == MessageKind.FOLLOWUP
        and bool(before.category)
        and not before.complete
        and after.missing != before.missing
    )
