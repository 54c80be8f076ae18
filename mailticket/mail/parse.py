"""Raw RFC 5322 bytes -> `InboundMail`, faithfully, for the mail people actually send.

Built on the standard library's compat32 parser (fast, and it keeps raw header bytes) with our own
decoding, because the mail that reaches a Chinese complaint desk breaks the usual assumptions:
`gb2312` labels on GBK bytes, Big5 or UTF-8 under the wrong label, raw 8-bit headers,
encoded-words split inside a character, file names in RFC 2047 instead of RFC 2231, screenshots
pasted as inline parts with only a Content-ID, forwarded mails as `message/rfc822` parts.

The body is chosen the way a mail client shows it (the plain part of a `multipart/alternative`
unless it is empty or a "view this in HTML" stub; the root of a `multipart/related`), made
readable, and split by `quotes.split_reply` into the new text and the quoted history.

Parsing never raises for a damaged mail: it reads what it can and records defects. Only input
that is not a mail at all raises `ParseError`, and the pipeline quarantines it.
"""

from __future__ import annotations

import email.message
import hashlib
import re
from datetime import datetime
from email.errors import MissingHeaderBodySeparatorDefect

from mailticket.errors import MailticketError
from mailticket.mail.attachments import looks_like_text
from mailticket.mail.headers import (
    AUTO_HEADERS,
    MAX_HEADER_CHARS,
    addresses_in,
    clean_line,
    decode_header_value,
    first_address,
    message_ids_in,
    normalise_message_id,
    parse_date,
)
from mailticket.mail.mime import message_from_bytes, read_body
from mailticket.mail.repair import needs_repair, repair_header_block
from mailticket.model import InboundMail


class ParseError(MailticketError):
    """The input is not a mail message at all (empty, or no header)."""


def parse(raw: bytes, *, max_attachment_bytes: int = 20 * 1024 * 1024) -> InboundMail:
    """One mail as the pipeline needs it; raises `ParseError` only for input that is no mail."""
    if not raw or not raw.strip():
        raise ParseError("empty message")
    defects: list[str] = []
    message = _read_message(raw, defects)
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.lower(), str(value))

    def header(name: str) -> str:
        return decode_header_value(headers.get(name), defects)

    from_name, from_addr, from_valid = _sender(message, defects)
    message_id = normalise_message_id(headers.get("message-id", ""))
    date = parse_date(headers.get("date", ""))
    _note_mended(headers, message_id, date, defects)

    body = read_body(message, max_attachment_bytes, defects)
    return InboundMail(
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        message_id=message_id,
        in_reply_to=message_ids_in(headers.get("in-reply-to", "")),
        references=message_ids_in(headers.get("references", "")),
        from_addr=from_addr,
        from_name=from_name,
        from_valid=from_valid,
        to=addresses_in(headers, "to"),
        cc=addresses_in(headers, "cc"),
        subject=header("subject"),
        date=date,
        text=body.text,
        attachments=body.attachments,
        auto_headers={name: header(name) for name in AUTO_HEADERS if name in headers},
        is_delivery_report=body.is_report or message.get_content_type() == "multipart/report",
        defects=tuple(dict.fromkeys(defects)),
        quoted=body.quoted,
        text_is_history=body.text_is_history,
        authentication_results=tuple(
            clean_line(str(value)[:MAX_HEADER_CHARS])
            for name, value in message.raw_items()
            if name.lower() == "authentication-results"
        ),
    )


HEADERLESS = "no header block; the whole input read as text / 没有邮件头，全文按正文读取"
SENDER_FALLBACK = "no usable From; sender taken from {} / From 不可用，发件人取自 {}"


def _read_message(raw: bytes, defects: list[str]) -> email.message.Message:
    """The parsed mail, its header block mended first when the strict reading lost headers
    (`repair`); text with no header block at all is read as a body. Only binary input, which
    no person wrote, is refused."""
    message = message_from_bytes(raw, defects)
    lost = any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in message.defects)
    if lost or not message.keys() or needs_repair(message.get_unixfrom()):
        notes: list[str] = []
        mended = repair_header_block(raw, notes)
        if notes:
            retry = message_from_bytes(mended, defects)
            if retry.keys():
                message = retry
                defects.extend(notes)
    if not message.keys():
        if not looks_like_text(raw[:4096]):
            raise ParseError("no mail headers found: not an RFC 5322 message")
        message = message_from_bytes(b"\n" + raw, defects)
        defects.append(HEADERLESS)
    defects[:0] = [type(d).__name__ for d in message.defects]
    return message


def _note_mended(
    headers: dict[str, str], message_id: str, date: datetime | None, defects: list[str]
) -> None:
    """Message-ID and Date as read differ from what the header says: say so (a missing or
    reshaped Message-ID changes threading; a Date we cannot read is not the mail's time)."""
    raw_id = " ".join(headers.get("message-id", "").split())
    if raw_id and message_id != raw_id:
        shown = message_id or "(none)"
        defects.append(f"Message-ID {raw_id[:80]!r} read as {shown} / Message-ID 按 {shown} 读取")
    if headers.get("date", "").strip() and date is None:
        defects.append("unreadable Date header ignored / 无法解析的 Date 邮件头已忽略")


def _sender(message: email.message.Message, defects: list[str]) -> tuple[str, str, bool]:
    """(name, address, valid) from the first usable From header (there may be several), else
    from Sender, else Reply-To, the fallback recorded as a defect: a customer with no sender
    never hears from the desk. With no valid address anywhere, the first best-effort one is
    kept, marked invalid: never an empty sender when a header named one."""
    notes: list[str] = []
    best_effort: tuple[str, str, bool] | None = None
    for name in ("from", "sender", "reply-to"):
        for value in (v for k, v in message.raw_items() if k.lower() == name):
            found = first_address(str(value), notes)
            if found[2]:
                if name != "from":
                    defects.append(SENDER_FALLBACK.format(name.title(), name.title()))
                    if best_effort and best_effort[1] == found[1] and not found[0]:
                        found = (best_effort[0], found[1], True)  # the From's name, confirmed
                elif notes:
                    defects.extend(notes)
                return found
            if found[1] and best_effort is None:
                best_effort = found
    defects.extend(notes)
    return best_effort or ("", "", False)


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(*texts: str) -> str:
    """`zh` when the customer writes Chinese (even mixed with English words), else `en`."""
    sample = " ".join(t[:4000] for t in texts)
    cjk = len(_CJK.findall(sample))
    latin_words = len(_LATIN.findall(sample)) / 5
    return "zh" if cjk >= 2 and cjk >= 0.2 * latin_words else "en"
