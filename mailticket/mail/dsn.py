"""Delivery status notifications (RFC 3464) and the plain-text bounces older MTAs still send.

What the pipeline needs from a bounce: which of our mails it is about (Message-IDs found in the
returned headers or message) and which recipients failed for good. A "delayed" report is news,
not a failure: the address is not marked dead for it.
"""

from __future__ import annotations

import email
import email.message
import re
from dataclasses import dataclass

_MESSAGE_ID = re.compile(rb"^message-id:\s*(<[^<>\s]{1,900}>)", re.IGNORECASE | re.MULTILINE)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|bounces?)([-+_.].*)?@", re.I)


@dataclass(frozen=True)
class DeliveryReport:
    message_ids: tuple[str, ...]  # Message-IDs of the mail the report is about
    failed: tuple[tuple[str, str], ...]  # (recipient, status and diagnostic), permanent only
    delayed: tuple[str, ...]


def looks_like_bounce(from_addr: str, is_delivery_report: bool) -> bool:
    return is_delivery_report or bool(_BOUNCE_SENDER.match(from_addr or ""))


def read_report(raw: bytes) -> DeliveryReport:
    """What a bounce says, as far as it can be read; empty fields when it says nothing usable."""
    message = email.message_from_bytes(raw)
    failed: list[tuple[str, str]] = []
    delayed: list[str] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks[1:]:  # the first block is about the reporting MTA
            if isinstance(block, email.message.Message):
                _read_recipient_block(block, failed, delayed)
    # The returned message or headers sit after the report's own headers: skip those, so the
    # bounce's own Message-ID is not taken for ours.
    header_end = raw.find(b"\r\n\r\n")
    if header_end < 0:
        header_end = raw.find(b"\n\n")
    body = raw[header_end:] if header_end >= 0 else b""
    found = [m.decode("ascii", "replace") for m in _MESSAGE_ID.findall(body)]
    return DeliveryReport(
        message_ids=tuple(dict.fromkeys(found)),
        failed=tuple(failed),
        delayed=tuple(delayed),
    )


def _read_recipient_block(
    block: email.message.Message, failed: list[tuple[str, str]], delayed: list[str]
) -> None:
    recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
    if not recipient:
        return
    action = str(block.get("Action", "")).strip().lower()
    status = str(block.get("Status", "")).strip()
    diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
    if action == "failed" or (not action and status.startswith("5")):
        failed.append((recipient, f"{status} {diagnostic}".strip()))
    elif action == "delayed":
        delayed.append(recipient)


def _address(field: str) -> str:
    """`rfc822; someone@example.com` -> `someone@example.com`."""
    value = field.split(";", 1)[-1].strip().strip("<>")
    return value if "@" in value else ""
