"""Threading: which ticket, if any, an incoming mail continues."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

from mailticket.model import InboundMail
from mailticket.outbound.compose import sign

_TAG = re.compile(r"\[\s*([A-Z][A-Z0-9]{1,9}-\d{4}-\d{6})\s*\]")


def ticket_tag(subject: str, prefix: str) -> str | None:
    """The `[OKW-2026-000123]` tag of our own prefix in a subject, if any."""
    for found in _TAG.findall(subject.upper()):
        if found.startswith(f"{prefix}-"):
            return found
    return None


_SIGNED = re.compile(
    r"^<([A-Z][A-Z0-9]{1,9}-\d{4}-\d{6})\.([a-z_]{1,3}\.[0-9a-f]{8})\.([0-9a-f]{12})@(.+)>$"
)


def signed_ticket(message_id: str, domain: str, secret: bytes) -> str | None:
    """The ticket named by one of our signed Message-IDs, or None (not ours, or forged)."""
    found = _SIGNED.match(message_id)
    if not found or not secret or found.group(4).lower() != domain.lower():
        return None
    ticket_id, middle, signature = found.group(1), found.group(2), found.group(3)
    expected = sign(secret, f"{ticket_id}.{middle}")
    return ticket_id if hmac.compare_digest(expected, signature) else None


def forged_references(mail: InboundMail, domain: str, secret: bytes) -> list[str]:
    """References shaped like our signed Message-IDs whose signature does not hold."""
    forged = []
    for message_id in (*mail.in_reply_to, *mail.references):
        shaped = _SIGNED.match(message_id)
        ours = shaped is not None and shaped.group(4).lower() == domain.lower()
        if ours and signed_ticket(message_id, domain, secret) is None:
            forged.append(message_id)
    return forged


def find_ticket(
    mail: InboundMail,
    prefix: str,
    ticket_for_message_ids: Callable[[list[str]], str | None],
    ticket_exists: Callable[[str], bool],
    signed: Callable[[str], str | None] = lambda _: None,
) -> str | None:
    """Our subject tag first, then In-Reply-To and References (newest first) against every
    Message-ID we know for a ticket, then our signed Message-IDs; nothing else guesses.

    The tag is what a person sees and keeps when they write about a ticket; headers catch
    replies whose subject lost it. A stranger quoting a tag is judged by the pipeline.
    """
    tagged = ticket_tag(mail.subject, prefix)
    if tagged and ticket_exists(tagged):
        return tagged
    referenced = list(mail.in_reply_to) + list(reversed(mail.references))
    found = ticket_for_message_ids(referenced) if referenced else None
    if found:
        return found
    for message_id in referenced:  # ours, but not (or no longer) in the store's index
        ticket_id = signed(message_id)
        if ticket_id and ticket_exists(ticket_id):
            return ticket_id
    return None


def sender_in_conversation(mail: InboundMail, participants: set[str]) -> bool:
    """Whether the sender is one of `participants` (lower-cased addresses). A best-effort
    address the parser marked invalid (`MAILER-DAEMON` with no domain, spaces in the local
    part, `Name addr` without brackets) names nobody for sure and many senders alike: it never
    counts, so such a mail never joins a ticket on its sender alone."""
    return mail.from_valid and bool(mail.from_addr) and mail.from_addr.lower() in participants
