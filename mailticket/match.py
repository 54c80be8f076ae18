"""Threading: which ticket, if any, an incoming mail continues."""

from __future__ import annotations

import re
from collections.abc import Callable

from mailticket.model import InboundMail

_TAG = re.compile(r"\[\s*([A-Z][A-Z0-9]{1,9}-\d{4}-\d{6})\s*\]")


def ticket_tag(subject: str, prefix: str) -> str | None:
    """The `[OKW-2026-000123]` tag of our own prefix in a subject, if any."""
    for found in _TAG.findall(subject.upper()):
        if found.startswith(f"{prefix}-"):
            return found
    return None


def find_ticket(
    mail: InboundMail,
    prefix: str,
    ticket_for_message_ids: Callable[[list[str]], str | None],
    ticket_exists: Callable[[str], bool],
) -> str | None:
    """Headers first (In-Reply-To, then References newest first), then the subject tag.

    Headers win because clients keep them exact; the tag catches replies from clients that drop
    them, and customers who write a new mail quoting their ticket number.
    """
    referenced = list(mail.in_reply_to) + list(reversed(mail.references))
    found = ticket_for_message_ids(referenced) if referenced else None
    if found:
        return found
    tagged = ticket_tag(mail.subject, prefix)
    if tagged and ticket_exists(tagged):
        return tagged
    return None
