"""Who a mail speaks for, seen from the ticket it threads into: the customer whose mail an agent
forwarded, or a stranger to the ticket's conversation (whose mail joins it but changes nothing).
"""

from __future__ import annotations

from mailticket.desk.context import Desk
from mailticket.desk.match import sender_in_conversation
from mailticket.mail.forwards import Origin, forwarded_origin
from mailticket.model import Direction, InboundMail, Ticket


def forwarded_customer(desk: Desk, mail: InboundMail) -> Origin | None:
    """The customer whose mail an agent forwarded to the desk: the ticket is theirs."""
    origin = forwarded_origin(f"{mail.text}\n{mail.quoted}")
    if origin is None or desk.config.is_agent(origin.address):
        return None
    return None if origin.address.lower() in desk.own_addresses else origin


def stranger(
    desk: Desk, mail: InboundMail, ticket: Ticket | None, is_agent: bool, is_bounce: bool
) -> bool:
    """A mail that joins `ticket` (by its subject tag, or by In-Reply-To/References) from
    someone who is neither its customer, nor in its conversation, nor an agent: it must not
    silently join, nor change the ticket's fields or status. A delivery report is matched
    against our own sent mail elsewhere (`apply_bounce`)."""
    if ticket is None or is_agent or is_bounce:
        return False
    participants = {ticket.customer.lower()}
    for message in desk.store.messages(ticket.id, bodies=False):
        if message.direction == Direction.IN:
            participants.update(a.lower() for a in (message.from_addr, *message.to, *message.cc))
    participants.discard(desk.config.desk.address.lower())
    return not sender_in_conversation(mail, participants)
