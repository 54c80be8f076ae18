"""The one place that chooses what happens to a ticket when something arrives.

`decide_inbound` looks at a parsed mail and the ticket it continues (if any) and returns a
`Decision`; it has no side effects, so every rule here is a unit test away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mailticket.model import InboundMail, MessageKind, Ticket


class Action(StrEnum):
    NEW_TICKET = "new_ticket"
    APPEND = "append"
    QUARANTINE = "quarantine"


@dataclass(frozen=True)
class Decision:
    action: Action
    kind: MessageKind
    acknowledge: bool = False
    notes: tuple[str, ...] = ()
    reason: str = ""  # why it goes to quarantine


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
    mail: InboundMail, ticket: Ticket | None, *, is_agent: bool, own_addresses: set[str]
) -> Decision:
    blocked = autoreply_block_reason(mail, own_addresses)
    notes: tuple[str, ...] = (f"no automatic reply: {blocked}",) if blocked else ()
    if mail.is_delivery_report:
        if ticket is None:
            return Decision(
                Action.QUARANTINE,
                MessageKind.BOUNCE,
                reason="delivery status notification that matches no ticket",
            )
        return Decision(Action.APPEND, MessageKind.BOUNCE, notes=notes)
    if ticket is not None:
        if is_agent:
            kind = MessageKind.AGENT
        elif blocked:
            kind = MessageKind.AUTOMATED
        else:
            kind = MessageKind.FOLLOWUP
        return Decision(Action.APPEND, kind, notes=notes)
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
    if is_agent:
        notes += ("no automatic reply: the sender is an agent",)
        return Decision(Action.NEW_TICKET, MessageKind.COMPLAINT, notes=notes)
    return Decision(Action.NEW_TICKET, MessageKind.COMPLAINT, acknowledge=not blocked, notes=notes)


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
