"""An agent's forward of a customer's mail: who the customer is and what they wrote, from the
header block mail clients put above a forwarded message (Gmail, Outlook, Apple Mail, QQ Mail,
NetEase), inline or from a `message/rfc822` part that `parse` wrote out the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

_MARKER = re.compile(
    r"^\s*([-*=]{3,}\s*(forwarded message|original message|转发邮件|转发的邮件|原始邮件|邮件原文"
    r"|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato"
    r"|doorgestuurd bericht|vidarebefordrat meddelande|mensagem encaminhada"
    r"|пересылаемое сообщение)\s*[-*=]{3,}|begin forwarded message:?|转发的邮件[:：]?"
    r"|-{5,}\s*forwarded by .{1,200})\s*$",
    re.IGNORECASE,
)
# A plain forward's marker: "Original Message" is a reply's separator, left to `quotes`.
_FORWARD_ONLY = re.compile(r"original message|原始邮件|邮件原文", re.IGNORECASE)
_FROM = re.compile(r"^\s*\**(from|发件人)\**\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)
_SUBJECT = re.compile(r"^\s*\**(subject|主题)\**\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)
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
        if len(line) < 300 and _MARKER.match(line) and not _FORWARD_ONLY.search(line):
            return index
    return None


def forwarded_body_start(lines: list[str], marker: int) -> int:
    """The first line of the forwarded mail's words: after the marker and the header block
    (From/Date/Subject/To lines, in any language `quotes` knows), or right after the marker."""
    i = marker + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    end = i
    for offset, line in enumerate(lines[i : i + _HEADER_LINES]):
        if not line.strip():
            break
        if _FIELD.match(line) or (offset and line[:1] in " \t"):
            end = i + offset + 1
        else:
            break
    return end


_FIELD = re.compile(
    r"^\s*\**\s*(from|date|sent|to|cc|bcc|subject|reply-to|发件人|发送时间|日期|时间|收件人|抄送"
    r"|主题|von|datum|an|betreff|de|date|à|objet|envoyé|para|asunto|fecha|enviado|da|data"
    r"|a|oggetto|inviato)\s*\**\s*[:：]",
    re.IGNORECASE,
)


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
