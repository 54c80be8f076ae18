"""Every mail to a customer is queued through `send_to_customer`, the one guard: never to an
undeliverable address, never to an address held back as a mail loop, and automatic mail of
every kind (acknowledgement, information request, SLA notices) within the storm limit per
address and never the same text twice on a ticket in a while.

An address is held back as a loop when the mail that opened its ticket was a machine's
(Auto-Submitted, a list, a robot sender) or when its acknowledgement or information request
was held back by the storm limit: from then on nothing scheduled or relayed goes to it, until
a mail of its own passes every guard and is answered.

`reply_automatically` composes our answer to a customer's mail (acknowledgement, information
request) and `tell_customer` the scheduled mail and the agents' relayed words; both queue
through the guard.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mailticket.completeness.rules import Category
from mailticket.desk.context import Desk, log
from mailticket.desk.decide import throttle_reason
from mailticket.desk.tickets import Effects, category, last_customer_mail, undeliverable
from mailticket.model import Attachment, InboundMail, MessageKind, OutgoingMail, Ticket
from mailticket.outbound import compose
from mailticket.outbound.outbox import next_outbox_id

# Mail no person wrote: counted and limited per address by the storm guard.
AUTOMATIC_CUSTOMER_KINDS = {
    MessageKind.ACKNOWLEDGEMENT.value,
    MessageKind.INFORMATION_REQUEST.value,
    MessageKind.DELAY_NOTICE.value,
    MessageKind.INFO_REMINDER.value,
    MessageKind.CLOSING_NOTICE.value,
}


def _loop_mark(address: str) -> str:
    return f"loop:{address.lower()}"


def held_as_loop(desk: Desk, address: str) -> str:
    """Why `address` is held back as a mail loop ("" when it is not)."""
    return desk.store.mark(_loop_mark(address))


def hold_as_loop(desk: Desk, address: str, reason: str) -> None:
    desk.store.set_mark(_loop_mark(address), f"{desk.clock().isoformat()}: {reason}")


def send_to_customer(
    desk: Desk,
    ticket: Ticket,
    outgoing: OutgoingMail,
    text: str,
    effects: Effects,
    *,
    answering: bool = False,
) -> str:
    """Queue `outgoing` for the ticket's customer unless a guard holds it back; returns why
    it was held back (also noted on the ticket), "" when it was queued. `answering`: our
    answer to a mail the customer just sent (the acknowledgement, an information request),
    which a loop mark does not hold back, and which marks the address as a loop when the
    storm limit holds it back."""
    store, limits, now = desk.store, desk.config.limits, desk.clock()
    what = "automatic reply" if answering else outgoing.kind.value
    customer = ticket.customer
    if undeliverable(ticket, customer):
        return _held(effects, what, "the address is marked undeliverable")
    loop = "" if answering else held_as_loop(desk, customer)
    if loop:
        return _held(effects, what, f"{customer} is held back as a mail loop ({loop})")
    if outgoing.kind.value in AUTOMATIC_CUSTOMER_KINDS:
        sent = store.automatic_replies_since(
            customer, AUTOMATIC_CUSTOMER_KINDS, now - timedelta(hours=1)
        )
        identical = store.has_identical_since(
            ticket.id, outgoing.fingerprint, now - timedelta(hours=limits.identical_reply_hours)
        )
        held = throttle_reason(sent, limits.auto_replies_per_sender_per_hour, identical)
        if held:
            if answering and sent >= limits.auto_replies_per_sender_per_hour:
                hold_as_loop(desk, customer, held)
            return _held(effects, what, held)
    if answering and held_as_loop(desk, customer):
        store.set_mark(_loop_mark(customer), "")  # a mail of its own passed every guard
    effects.outgoing.append((outgoing, text))
    return ""


def _held(effects: Effects, what: str, why: str) -> str:
    effects.notes.append(f"no {what}: {why}")
    return why


def tell_customer(
    desk: Desk,
    ticket: Ticket,
    kind: MessageKind,
    effects: Effects,
    now: datetime,
    attachments: Sequence[Attachment] = (),
    **context: object,
) -> tuple[list[str], str]:
    """Queue a mail to the customer (scheduled, or an agent's words), threaded under their
    last mail, through the guard; returns its recipients, or none and why it was held back."""
    last = last_customer_mail(desk, ticket, bodies=False)
    outgoing, text = compose.scheduled_customer_mail(
        desk.templates,
        desk.identity,
        ticket,
        kind,
        outbox_id=next_outbox_id(desk.store),
        now=now,
        in_reply_to=last.message_id if last else "",
        references=last.references if last else (),
        category=category(desk, ticket),
        attachments=attachments,
        **context,
    )
    held = send_to_customer(desk, ticket, outgoing, text, effects)
    return ([], held) if held else (list(outgoing.rcpt_to), "")


def reply_automatically(
    desk: Desk,
    ticket: Ticket,
    mail: InboundMail,
    effects: Effects,
    *,
    category: Category | None,
    redacted: tuple[str, ...],
    received: tuple[str, ...] | None = None,
) -> None:
    """Queue the acknowledgement (or, with `received`, the answer to a follow-up) through the
    customer guard: not to a dead address, not to a sender storming us, not twice the same."""
    what = "acknowledgement" if received is None else "information request"
    try:
        outgoing, text = compose.customer_reply(
            desk.templates,
            desk.identity,
            ticket,
            mail,
            MessageKind.ACKNOWLEDGEMENT if received is None else MessageKind.INFORMATION_REQUEST,
            outbox_id=next_outbox_id(desk.store),
            now=desk.clock(),
            category=category,
            received=received or (),
            redacted=redacted,
        )
    except Exception as exc:
        log.exception("%s: the %s could not be composed", ticket.id, what)
        effects.notes.append(f"no {what}: composing it failed: {type(exc).__name__}: {exc}")
        return
    send_to_customer(desk, ticket, outgoing, text, effects, answering=True)
