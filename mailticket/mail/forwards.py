"""An agent's forward of a customer's mail: who the customer is and what they wrote, from the
header block mail clients put above a forwarded message (Gmail, Outlook, Apple Mail, QQ Mail,
NetEase), inline or from a `message/rfc822` part that `parse` wrote out the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

_MARKER = re.compile(
    r"^\s*(-{3,}\s*(forwarded message|original message|转发邮件|转发的邮件|原始邮件|邮件原文)"
    r"\s*-{3,}|begin forwarded message:?|转发的邮件[:：]?)\s*$",
    re.IGNORECASE,
)
_FROM = re.compile(r"^\s*\**(from|发件人)\**\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)
_SUBJECT = re.compile(r"^\s*\**(subject|主题)\**\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)
_HEADER_LINES = 12


@dataclass(frozen=True)
class Origin:
    address: str
    name: str
    subject: str
    text: str


def forwarded_origin(text: str) -> Origin | None:
    """The first forwarded message in `text` whose header block names a sender, else None."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if not _MARKER.match(line):
            continue
        sender: tuple[str, str] | None = None
        subject, end = "", len(lines)
        for offset, header in enumerate(lines[start + 1 : start + 1 + _HEADER_LINES], 1):
            if not header.strip():
                end = start + offset
                break
            if found := _FROM.match(header):
                sender = parseaddr(found.group(2))
            elif found := _SUBJECT.match(header):
                subject = found.group(2)
        if sender and "@" in sender[1]:
            local, _, domain = sender[1].rpartition("@")
            body = "\n".join(lines[end + 1 :]).strip()
            return Origin(f"{local}@{domain.lower()}", sender[0], subject, body)
    return None
