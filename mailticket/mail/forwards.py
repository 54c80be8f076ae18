"""An agent's forward of a customer's mail: who the customer is and what they wrote, from the
header block mail clients put above a forwarded message (Gmail, Outlook, Apple Mail, QQ Mail,
NetEase), inline or from a `message/rfc822` part that `parse` wrote out the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

from mailticket.mail.markers import (
    BEGIN_FORWARDED,
    FORWARDED_MESSAGE,
    ORIGINAL_MESSAGE,
    header_field,
)

_MARKER = re.compile(
    rf"^\s*+([-*=]{{3,}}+\s*+(?:(?P<original>{ORIGINAL_MESSAGE})|{FORWARDED_MESSAGE})\s*+"
    rf"[-*=]{{3,}}+|(?:{BEGIN_FORWARDED})\s*+[:：]?"
    r"|-{3,}+\s*+forwarded message from .{1,200}?-{3,}|-{5,}+\s*+forwarded by .{1,200})\s*$",
    re.IGNORECASE,
)
_HEADER_LINES = 12


@dataclass(frozen=True)
class Origin:
    address: str
    name: str
    subject: str
    text: str


def forward_marker(lines: list[str]) -> int | None:
    """The index of the first unquoted forward marker line ("---------- Forwarded message
    ----------", "Begin forwarded message:", "转发的邮件"), or None."""
    for index, line in enumerate(lines):
        if len(line) < 300 and (found := _MARKER.match(line)) and not found.group("original"):
            return index
    return None


def forwarded_body_start(lines: list[str], marker: int) -> int:
    """The first line of the forwarded mail's words: after the marker and the header block
    (From/Date/Subject/To lines, in any language `markers` knows), or right after the marker."""
    i = marker + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    end = i
    for offset, line in enumerate(lines[i : i + _HEADER_LINES]):
        if not line.strip():
            break
        if header_field(line) or (offset and line[:1] in " \t"):
            end = i + offset + 1
        else:
            break
    return end


def forwarded_origin(text: str) -> Origin | None:
    """The first forwarded message in `text` whose header block names a sender, else None.
    A forwarded mail its client `>`-quoted whole below the marker is read one level down."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if not _MARKER.match(line):
            continue
        rest = unquoted_once(lines[start + 1 :])
        sender: tuple[str, str] | None = None
        subject, end = "", len(rest)
        for offset, header in enumerate(rest[:_HEADER_LINES]):
            if not header.strip():
                end = offset
                break
            if found := header_field(header):
                role, start_of_value = found
                value = header[start_of_value:].strip().strip("|").strip()
                if role == "from" and sender is None:
                    sender = parseaddr(value)
                elif role == "subject" and not subject:
                    subject = value
        if sender and "@" in sender[1]:
            local, _, domain = sender[1].rpartition("@")
            body = "\n".join(rest[end + 1 :]).strip()
            return Origin(f"{local}@{domain.lower()}", sender[0], subject, body)
    return None


def unquoted_once(lines: list[str]) -> list[str]:
    """Lines that are all `>`-quoted (or blank), one level down (Outlook's "prefix each line"
    forward, Mutt); other lines as they are."""
    if any(line.strip() and not line.lstrip().startswith(">") for line in lines):
        return lines
    return [_DEQUOTE.sub("", line, count=1) for line in lines]


_DEQUOTE = re.compile(r"^\s*> ?")
