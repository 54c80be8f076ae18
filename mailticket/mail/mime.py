"""The MIME tree of one mail -> its body text, quoted history, attachments and forwards.

The body is chosen the way a mail client shows it (the plain part of a `multipart/alternative`
unless it is empty or a "view this in HTML" stub; the root of a `multipart/related`), made
readable, and split by `quotes.split_reply` into the new text and the quoted history. Every leaf
is walked (screenshots pasted inline have only a Content-ID), without recursion, with bounds.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.feedparser
import email.message
import email.utils
import hashlib
import quopri
import re
import urllib.parse
from dataclasses import dataclass, field, replace

from mailticket.mail.attachments import sanitise_filename, sniff_type
from mailticket.mail.charsets import decode_bytes
from mailticket.mail.content import ContentParams, payload_bytes, plain_text
from mailticket.mail.feed import parse_bytes
from mailticket.mail.headers import decode_header_value, normalise_message_id
from mailticket.mail.html import html_to_text_split
from mailticket.mail.quotes import split_reply_marked
from mailticket.model import Attachment

_MAX_PARTS = 2000


_MAX_FORWARD_DEPTH = 3


_NESTING_CUT = 100


_HTML_STUB = re.compile(r"html|超文本|網頁|网页", re.IGNORECASE)


def _children(part: email.message.Message) -> list[email.message.Message] | None:
    """The parts of a multipart (or the mail inside a `message/*`); None for a leaf.

    Never `get_payload()` on a leaf: for 8-bit bodies it decodes with the declared charset and
    raises on labels like "utf-8\\0".
    """
    if not part.is_multipart():
        return None
    return [child for child in part.get_payload() if isinstance(child, email.message.Message)]


def _raw_filename(part: email.message.Message, params: ContentParams, defects: list[str]) -> str:
    """The file name from Content-Disposition `filename` or Content-Type `name`.

    RFC 2231 values are decoded here with our charset rules (the standard library would read a
    `gb2312` label strictly and turn GBK-only characters into U+FFFD); RFC 2047 ones later.
    """
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        try:
            if header == "content-type":
                value = params.get(param)
            else:
                value = part.get_param(param, header=header)
        except (ValueError, LookupError, TypeError, IndexError):
            continue
        if isinstance(value, tuple):
            charset, _language, text = value
            try:
                data = str(text).encode("latin-1", "surrogateescape")
            except UnicodeEncodeError:
                return str(text)
            return decode_bytes(data, charset or None, defects)
        if value and "\ufffd" in str(value):
            value = _eight_bit_param(part, header, param, defects) or value
        if value:
            return str(value)
    return ""


def _eight_bit_param(
    part: email.message.Message, header: str, param: str, defects: list[str]
) -> str | None:
    """A parameter sent as raw 8-bit bytes (`filename="发票.pdf"` in UTF-8 or GBK, no RFC 2231):
    the standard library turns them into U+FFFD, so they are read again from the raw header
    with our charset rules."""
    raw = next((str(v) for k, v in part.raw_items() if k.lower() == header), "")
    found = re.search(
        rf'(?i)(?:^|;)\s*{param}\s*=\s*(?:"([^"]{{0,1000}})"|([^;\s]{{1,1000}}))', raw[:8192]
    )
    if found is None:
        return None
    data = (found.group(1) or found.group(2) or "").encode("utf-8", "surrogateescape")
    text = decode_bytes(data, None)  # the charset it was read in is this one note's business
    if "\ufffd" in text:
        return None
    defects.append(EIGHT_BIT_FILENAME)
    return text


EIGHT_BIT_FILENAME = (
    "raw 8-bit bytes in an attachment file name decoded / 附件文件名中的原始 8 位字节已解码"
)


def _attachment(
    part: email.message.Message,
    payload: bytes,
    filename: str,
    index: int,
    limit: int,
) -> Attachment:
    content_type = part.get_content_type()
    sniffed = sniff_type(payload)
    naming_type = sniffed if content_type == "application/octet-stream" else content_type
    too_large = len(payload) > limit
    return Attachment(
        filename=sanitise_filename(filename, naming_type, index),
        content_type=content_type,
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        content_id=normalise_message_id(str(part.get("content-id", ""))),
        inline=(part.get_content_disposition() or "inline") == "inline",
        too_large=too_large,
        payload=b"" if too_large else payload,
        sniffed_type=sniffed,
    )


_CID_REFERENCE = re.compile(rb"""cid:([^"'\s>)]+)""", re.IGNORECASE)


def _cids_referenced(payload: bytes) -> set[str]:
    if b"cid:" not in payload.lower():
        return set()
    return {
        f"<{urllib.parse.unquote(m.decode('ascii', 'replace')).strip('<>')}>"
        for m in _CID_REFERENCE.findall(payload)
    }


_MESSAGE_TYPES = ("message/rfc822", "message/global")


@dataclass
class _Walk:
    """What one walk over a message's parts collects, in document order."""

    limit: int
    defects: list[str]
    texts: list[tuple[str, str]] = field(default_factory=list)  # (text/plain|text/html, text)
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[email.message.Message] = field(default_factory=list)
    cids: set[str] = field(default_factory=set)
    is_report: bool = False
    seen: int = 0
    # Plain parts already read to choose from a `multipart/alternative`, by id, so the walk
    # reads them only once: (the part, its parameters, payload and text, the defects found).
    read: dict[int, tuple[email.message.Message, ContentParams, bytes, str, list[str]]] = field(
        default_factory=dict
    )


def _walk(message: email.message.Message, walk: _Walk) -> None:
    """Every part in order, without recursion (1,000 nested multiparts must not overflow).

    Parts not chosen from a `multipart/alternative` are other renderings of the same text, so
    their text is skipped; their images still count as attachments.
    """
    stack: list[tuple[email.message.Message, bool]] = [(message, True)]
    leaf_index = 0
    while stack:
        part, in_body = stack.pop()
        walk.seen += 1
        if walk.seen > _MAX_PARTS:
            walk.defects.append(
                f"more than {_MAX_PARTS} MIME parts; the rest ignored"
                f" / MIME 部分超过 {_MAX_PARTS} 个，其余已忽略"
            )
            return
        if part is not message:
            walk.defects.extend(type(d).__name__ for d in part.defects)
        content_type = part.get_content_type()
        children = _children(part) if not content_type.startswith("message/") else None
        if children is not None:
            chosen = None
            if content_type == "multipart/alternative":
                chosen = _alternative_choice(children, walk)
            stack.extend(
                (child, in_body and (chosen is None or child is chosen))
                for child in reversed(children)
            )
            continue
        if content_type.startswith("multipart/"):
            recovered = _recover_multipart(part, walk.defects)
            if recovered is not None:
                stack.append((recovered, in_body))
                continue
        leaf_index += 1
        _leaf(part, content_type, in_body, leaf_index, walk)


def _leaf(
    part: email.message.Message, content_type: str, in_body: bool, index: int, walk: _Walk
) -> None:
    """One part: body text, an attachment, or a forwarded mail (kept, and read for `quoted`).

    A multipart that could not be split even by `_recover_multipart` is read as text, MIME
    lines and all, rather than dropped.
    """
    if content_type == "message/delivery-status":
        walk.is_report = True
    read = walk.read.pop(id(part), None)
    if read is not None and read[0] is not part:
        read = None
    params = read[1] if read is not None else ContentParams(part)
    filename = decode_header_value(_raw_filename(part, params, walk.defects), walk.defects)
    if content_type.startswith("message/"):
        inner = _forwarded_message(part, walk.defects) if content_type in _MESSAGE_TYPES else None
        if inner is not None:
            walk.forwarded.append(inner)
        payload = _message_bytes(part, walk.defects)
        walk.attachments.append(_attachment(part, payload, filename, index, walk.limit))
        return
    payload = read[2] if read is not None else payload_bytes(part)
    if any(isinstance(d, _DAMAGED_BASE64) for d in part.defects):
        walk.defects.append(DAMAGED_BASE64)  # (found by decoding, after the walk noted defects)
    if content_type == "text/html":
        walk.cids |= _cids_referenced(payload)
    disposition = (part.get_content_disposition() or "").lower()
    is_text = content_type in ("text/plain", "text/html") or content_type.startswith("multipart/")
    if disposition == "attachment" or filename or not is_text:
        walk.attachments.append(_attachment(part, payload, filename, index, walk.limit))
    elif in_body:
        if content_type == "text/html":
            kind, text = "text/html", decode_bytes(payload, params.charset(), walk.defects)
        elif read is not None:
            kind, text = "text/plain", read[3]
            walk.defects.extend(read[4])
        else:
            kind, text = "text/plain", plain_text(params, payload, walk.defects)
        walk.texts.append((kind, text))


_DAMAGED_BASE64 = (
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64LengthDefect,
)
DAMAGED_BASE64 = (
    "damaged base64 in a part decoded as far as it goes / 某部分的 base64 已损坏，已尽量解码"
)


def _alternative_choice(
    parts: list[email.message.Message], walk: _Walk
) -> email.message.Message | None:
    """The plain part, unless it is empty or a "view this in HTML" stub; else the richest."""
    if not parts:
        return None
    types = [p.get_content_type() for p in parts]
    plain = next((p for p, t in zip(parts, types, strict=True) if t == "text/plain"), None)
    rich = [p for p, t in zip(parts, types, strict=True) if t == "text/html" or p.is_multipart()]
    if plain is None:
        return rich[-1] if rich else parts[-1]
    if not rich:
        return plain
    params = ContentParams(plain)
    payload = payload_bytes(plain)
    notes: list[str] = []
    text = plain_text(params, payload, notes)
    walk.read[id(plain)] = (plain, params, payload, text, notes)
    text = text.strip()
    if not text or (len(text) < 300 and _HTML_STUB.search(text)):
        walk.defects.append(
            "plain part empty or a stub; HTML part used / 纯文本部分为空或只是占位，改用 HTML 部分"
        )
        return rich[-1]
    return plain


def _recover_multipart(
    part: email.message.Message, defects: list[str]
) -> email.message.Message | None:
    """A multipart the parser could not split (boundary parameter missing or not matching the
    body): take the boundary from the body's first `--` line instead."""
    body = payload_bytes(part)
    found = re.search(rb"^--(\S[^\r\n]{0,69}?)[ \t]*\r?$", body[:8192], re.MULTILINE)
    if found is None:
        return None
    boundary = found.group(1).decode("ascii", "replace").replace('"', "")
    defects.append(
        "multipart boundary not found; recovered from the body"
        " / 未找到 multipart 分隔线，已从正文中恢复"
    )
    header = f'Content-Type: {part.get_content_type()}; boundary="{boundary}"\r\n\r\n'
    try:
        recovered = parse_bytes(header.encode("ascii", "replace") + body)
    except RecursionError:
        return None
    return recovered if recovered.is_multipart() else None


def _forwarded_message(
    part: email.message.Message, defects: list[str]
) -> email.message.Message | None:
    """The mail inside a `message/rfc822` part (also when a client base64-encoded it)."""
    inner = _children(part)
    message = inner[0] if inner else None
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable") and message is not None and not message.keys():
        data = payload_bytes(message)
        try:
            decoded = base64.b64decode(data) if encoding == "base64" else quopri.decodestring(data)
        except (binascii.Error, ValueError):
            defects.append(
                "forwarded message with a broken transfer encoding / 转发邮件的传输编码已损坏"
            )
            return message
        message = message_from_bytes(decoded, defects)
    return message


def _message_bytes(part: email.message.Message, defects: list[str]) -> bytes:
    """Bytes of a `message/*` part as kept on disk (re-serialised: compat32 keeps no raw)."""
    inner = _children(part)
    if inner is None:
        return payload_bytes(part)
    try:
        return b"\n".join(m.as_bytes() for m in inner)
    except (RecursionError, LookupError, ValueError, TypeError, UnicodeError):
        kind = part.get_content_type()
        defects.append(f"{kind} part could not be serialised / {kind} 部分无法序列化")
        return b""


@dataclass(frozen=True)
class _Body:
    text: str
    quoted: str
    promoted: bool = False  # no new text: `text` is the history


def _body(walk: _Walk) -> _Body:
    """The new text and the history, from every body part in order."""
    new_parts: list[str] = []
    history_parts: list[str] = []
    own_words = False  # some part has text outside a history container
    for kind, text in walk.texts:
        if kind == "text/html":
            before, history = html_to_text_split(text)
            own_words = own_words or bool(before.strip())
            if not before:  # the whole HTML sits in a history container: keep it as text
                before, history = history, ""
        else:
            before, history = text, ""
            own_words = own_words or bool(before.strip())
        if before.strip():
            new_parts.append(before.strip("\n"))
        if history:
            history_parts.append(history)
    whole = "\n\n".join(new_parts)
    new, quoted, promoted = split_reply_marked(whole)
    quoted = "\n\n".join(p for p in (quoted, *history_parts) if p)
    if not new.strip() and quoted:
        return _Body(quoted.strip(), "", promoted=True)
    promoted = promoted or (bool(new.strip()) and not own_words)
    return _Body(new.strip(), quoted.strip(), promoted=promoted)


def _forwarded_text(message: email.message.Message, depth: int, walk: _Walk) -> str:
    """A forwarded mail as readable text: its From, Date and Subject, then its words."""
    inner = _Walk(limit=walk.limit, defects=walk.defects, seen=walk.seen)
    _walk(message, inner)
    walk.seen = inner.seen
    body = _body(inner)
    lines = ["---------- Forwarded message ----------"]
    for name in ("from", "date", "subject", "to"):
        value = decode_header_value(message.get(name), walk.defects)
        if value:
            lines.append(f"{name.capitalize()}: {value}")
    text = "\n".join(lines) + "\n\n" + "\n\n".join(p for p in (body.text, body.quoted) if p)
    if depth < _MAX_FORWARD_DEPTH:
        text += "".join("\n\n" + _forwarded_text(m, depth + 1, walk) for m in inner.forwarded)
    return text.strip()


def message_from_bytes(raw: bytes, defects: list[str]) -> email.message.Message:
    """The parsed message; nesting too deep for the standard parser is cut off, not fatal."""
    try:
        return parse_bytes(raw)
    except RecursionError:
        pass
    starts = [
        m.start() for m in re.finditer(rb"(?im)^content-type:[ \t]*(multipart|message)/", raw)
    ]
    defects.append(
        f"MIME nesting deeper than {_NESTING_CUT} levels; the rest not parsed"
        f" / MIME 嵌套超过 {_NESTING_CUT} 层，其余未解析"
    )
    if len(starts) > _NESTING_CUT:
        try:
            return parse_bytes(raw[: starts[_NESTING_CUT]])
        except RecursionError:
            pass
    return parse_bytes(raw, headersonly=True)


@dataclass(frozen=True)
class MailBody:
    """What the parts of a mail hold, as `parse` puts it into an `InboundMail`."""

    text: str
    quoted: str
    attachments: tuple[Attachment, ...]
    is_report: bool
    text_is_history: bool = False  # no new words: `text` is the history or a forward


def read_body(message: email.message.Message, limit: int, defects: list[str]) -> MailBody:
    """The new text (a forward's words when there is nothing else), the history and forwards,
    and the attachments (those the HTML shows by `cid:` marked inline)."""
    walk = _Walk(limit=limit, defects=defects)
    _walk(message, walk)
    body = _body(walk)
    forwarded = [_forwarded_text(m, 1, walk) for m in walk.forwarded]
    text, quoted = body.text, body.quoted
    text_is_history = body.promoted or (bool(forwarded) and not text)
    if forwarded and not text:
        text, *forwarded = forwarded
    quoted = "\n\n".join(p for p in (quoted, *forwarded) if p)
    attachments = tuple(
        a if a.inline or a.content_id not in walk.cids else _as_inline(a) for a in walk.attachments
    )
    return MailBody(text, quoted, attachments, walk.is_report, text_is_history)


def _as_inline(attachment: Attachment) -> Attachment:
    """Referenced from the HTML by `cid:`: shown in the mail, whatever its disposition says."""
    return replace(attachment, inline=True)
