"""Raw RFC 5322 bytes -> `InboundMail`, faithfully, for the mail people actually send.

Built on the standard library's compat32 parser (fast, and it keeps raw header bytes) with our own
decoding, because the mail that reaches a Chinese complaint desk breaks the usual assumptions:
`gb2312` labels on GBK bytes, raw 8-bit headers, encoded-words split inside a character, file names
in RFC 2047 instead of RFC 2231, screenshots pasted as inline parts with only a Content-ID.
Parsing never raises for a damaged mail: it reads what it can and records defects. Only input
that is not a mail at all raises `ParseError`, and the pipeline quarantines it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.message
import email.utils
import hashlib
import mimetypes
import quopri
import re
import unicodedata
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import ClassVar

from charset_normalizer import from_bytes as detect_charset

from mailticket.errors import MailticketError
from mailticket.model import Attachment, InboundMail


class ParseError(MailticketError):
    """The input is not a mail message at all (empty, or no header)."""


# Labels that lie in practice, mapped to the codec that reads what is really sent.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "iso-gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gb2312-80": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "big-5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "utf8": "utf-8",
}

AUTO_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "x-auto-response-suppress",
    "return-path",
    "x-autoreply",
    "x-autorespond",
    "x-failed-recipients",
    "content-type",
)

_MAX_PARTS = 2000
_MAX_HEADER_CHARS = 64 * 1024


def _codec_for(label: str | None) -> str | None:
    """The Python codec for a declared charset label, or None when Python does not know it."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, declared: str | None, defects: list[str] | None = None) -> str:
    """Text from bytes: a label that decodes cleanly, else UTF-8, else detected, else replaced."""
    if not data:
        return ""
    codec = _codec_for(declared)
    if codec:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    elif declared and defects is not None:
        defects.append(f"unknown charset {declared!r}")
    if codec != "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if data.isascii():
        return data.decode("ascii")
    for guess in ("gb18030", "big5hkscs"):  # unlabelled 8-bit mail here is most often Chinese
        try:
            text = data.decode(guess)
        except UnicodeDecodeError:
            continue
        if _looks_chinese(text):
            return text
    best = detect_charset(data).best()
    if best is not None and best.encoding:
        if defects is not None and declared:
            defects.append(f"charset {declared!r} did not fit the bytes; read as {best.encoding}")
        return str(best)
    if defects is not None:
        defects.append(f"undecodable bytes in charset {declared or 'none'}; replaced")
    return data.decode(codec or "gb18030", errors="replace")


def _looks_chinese(text: str) -> bool:
    """Nearly all non-ASCII characters are common hanzi or CJK punctuation: a plausible reading."""
    wide = [c for c in text if ord(c) > 127]
    common = sum(
        1
        for c in wide
        if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"
    )
    return bool(wide) and common >= 0.95 * len(wide)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_encoded_word(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "bB":
            cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
            cleaned += "=" * (-len(cleaned) % 4)
            return base64.b64decode(cleaned)
        return quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def decode_header_value(raw: str | None, defects: list[str] | None = None) -> str:
    """A header as text: RFC 2047 words (also broken or split mid-character) and raw 8-bit bytes."""
    if not raw:
        return ""
    raw = str(raw)[:_MAX_HEADER_CHARS]
    raw = re.sub(r"\r?\n[ \t]*", " ", raw)
    raw_bytes = raw.encode("ascii", "surrogateescape") if _is_ascii_or_escaped(raw) else None
    if raw_bytes is not None and not raw_bytes.isascii():
        raw = decode_bytes(raw_bytes, None, defects)
    # Pieces are (charset or None, bytes or text); adjacent words of one charset are joined
    # before decoding so a character split across two encoded-words is read whole.
    pieces: list[tuple[str | None, bytes | str]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[position : match.start()]
        charset = match.group(1).split("*", 1)[0]
        decoded = _decode_encoded_word(match.group(2), match.group(3))
        if decoded is None:
            if defects is not None:
                defects.append("broken encoded-word in header")
            pieces.append((None, between + match.group(0)))
            position = match.end()
            continue
        if between and not (between.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, between))
        if pieces and pieces[-1][0] is not None and pieces[-1][0].lower() == charset.lower():
            previous = pieces[-1][1]
            assert isinstance(previous, bytes)
            pieces[-1] = (charset, previous + decoded)
        else:
            pieces.append((charset, decoded))
        position = match.end()
    pieces.append((None, raw[position:]))
    text = "".join(
        decode_bytes(value, charset, defects) if isinstance(value, bytes) else value
        for charset, value in pieces
    )
    return _clean_line(text)


def _is_ascii_or_escaped(text: str) -> bool:
    return all(ord(c) < 128 or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def _clean_line(text: str) -> str:
    """One line of visible text: no control characters (header injection), spaces collapsed."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)
    return re.sub(r"\s+", " ", text).strip()


def normalise_message_id(value: str) -> str:
    """`<local@domain>` with no whitespace, or "" when the header holds nothing usable."""
    match = re.search(r"<([^<>\s]{1,900})>", value or "")
    if match:
        return f"<{match.group(1)}>"
    token = re.sub(r"[\s<>]", "", value or "")[:900]
    return f"<{token}>" if token and "@" in token else ""


def message_ids_in(value: str) -> tuple[str, ...]:
    return tuple(f"<{m}>" for m in re.findall(r"<([^<>\s]{1,900})>", value or ""))


def sanitise_filename(name: str, content_type: str, index: int) -> str:
    """A file name safe on any disk: no directories, no control characters, bounded length."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    name = name.replace(":", "_").replace("\0", "")
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{index}{extension}"
    if len(name) > 180:
        stem, dot, extension = name.rpartition(".")
        name = (
            (stem[: 180 - len(extension) - 1] + "." + extension)
            if dot and len(extension) < 12
            else name[:180]
        )
    return name


class _HtmlToText(HTMLParser):
    """Readable text from HTML: paragraphs and list items on their own lines, links kept."""

    _BLOCK: ClassVar[set[str]] = {
        "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "pre", "hr", "section", "article", "header", "footer",
    }  # fmt: skip
    _SKIP: ClassVar[set[str]] = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.href: str | None = None
        self.link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag == "a":
            self.href = dict(attrs).get("href") or None
            self.link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self.href:
            shown = "".join(self.link_text).strip()
            if self.href.startswith(("http:", "https:")) and self.href != shown:
                self.parts.append(f" ({self.href})")
            self.href = None

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        data = re.sub(r"\s+", " ", data)
        self.parts.append(data)
        if self.href is not None:
            self.link_text.append(data)

    def text(self) -> str:
        lines = [line.strip() for line in "".join(self.parts).replace("\xa0", " ").split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    converter = _HtmlToText()
    try:
        converter.feed(html)
        converter.close()
    except (AssertionError, ValueError):
        pass
    return converter.text()


def _payload_bytes(part: email.message.Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", "surrogateescape") if _is_ascii_or_escaped(raw) else raw.encode()
    return b""


def _leaves(message: email.message.Message, defects: list[str]) -> list[email.message.Message]:
    """Every leaf part in order; a forwarded `message/rfc822` counts as one leaf (an attachment)."""
    leaves: list[email.message.Message] = []
    stack = [message]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > _MAX_PARTS:
            defects.append(f"more than {_MAX_PARTS} MIME parts; the rest ignored")
            break
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(reversed(children))
                continue
        leaves.append(part)
    return leaves


def _is_attachment(part: email.message.Message, filename: str) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment" or filename:
        return True
    return part.get_content_maintype() not in ("text", "multipart")


def parse(raw: bytes, *, max_attachment_bytes: int = 20 * 1024 * 1024) -> InboundMail:
    if not raw or not raw.strip():
        raise ParseError("empty message")
    message = email.message_from_bytes(raw)
    if not message.keys():
        raise ParseError("no mail headers found: not an RFC 5322 message")
    defects: list[str] = [type(d).__name__ for d in message.defects]
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.lower(), value)

    def header(name: str) -> str:
        return decode_header_value(headers.get(name), defects)

    from_name, from_addr = _first_address(headers.get("from", ""), defects)
    if not from_addr:
        from_name, from_addr = _first_address(headers.get("sender", ""), defects)

    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    is_report = message.get_content_type() == "multipart/report"
    for index, part in enumerate(_leaves(message, defects), start=1):
        defects.extend(type(d).__name__ for d in part.defects if part is not message)
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            is_report = True
        filename = decode_header_value(_raw_filename(part), defects)
        if _is_attachment(part, filename) or content_type == "message/rfc822":
            attachments.append(_attachment(part, filename, index, max_attachment_bytes))
            continue
        text = decode_bytes(_payload_bytes(part), part.get_content_charset(), defects)
        if content_type == "text/html":
            html.append(text)
        else:
            plain.append(text)

    body = "\n\n".join(t.strip("\n") for t in plain if t.strip())
    if not body and html:
        body = "\n\n".join(html_to_text(h) for h in html)
    return InboundMail(
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        message_id=normalise_message_id(headers.get("message-id", "")),
        in_reply_to=message_ids_in(headers.get("in-reply-to", "")),
        references=message_ids_in(headers.get("references", "")),
        from_addr=from_addr,
        from_name=from_name,
        to=_addresses(headers, "to", defects),
        cc=_addresses(headers, "cc", defects),
        subject=header("subject"),
        date=_date(headers.get("date", "")),
        text=body.replace("\r\n", "\n").strip(),
        attachments=tuple(attachments),
        auto_headers={name: header(name) for name in AUTO_HEADERS if name in headers},
        is_delivery_report=is_report,
        defects=tuple(dict.fromkeys(defects)),
    )


def _raw_filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename()
    except (ValueError, LookupError, UnicodeError):
        name = None
    if not name:
        name = part.get_param("name") if part.get("content-type") else None
        if isinstance(name, tuple):
            name = email.utils.collapse_rfc2231_value(name)
    return str(name or "")


def _attachment(part: email.message.Message, filename: str, index: int, limit: int) -> Attachment:
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload()
        payload = inner[0].as_bytes() if isinstance(inner, list) and inner else _payload_bytes(part)
    else:
        payload = _payload_bytes(part)
    too_large = len(payload) > limit
    content_id = normalise_message_id(str(part.get("content-id", "")))
    return Attachment(
        filename=sanitise_filename(filename, content_type, index),
        content_type=content_type,
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        content_id=content_id,
        inline=(part.get_content_disposition() or "inline") == "inline",
        too_large=too_large,
        payload=b"" if too_large else payload,
    )


def _split_addresses(raw: str) -> list[tuple[str, str]]:
    try:
        return email.utils.getaddresses([raw])
    except (ValueError, IndexError, TypeError):
        return []


def _first_address(raw: str, defects: list[str]) -> tuple[str, str]:
    for name, address in _split_addresses(raw or ""):
        address = _clean_address(address)
        if address:
            return decode_header_value(name, defects), address
    if raw:
        defects.append("no usable address in From")
    return "", ""


def _clean_address(address: str) -> str:
    address = decode_header_value(address).strip().strip("<>")
    if "@" not in address or any(c.isspace() for c in address):
        return ""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def _addresses(headers: dict[str, str], name: str, defects: list[str]) -> tuple[str, ...]:
    found = (_clean_address(a) for _, a in _split_addresses(headers.get(name, "")))
    return tuple(dict.fromkeys(a for a in found if a))


def _date(raw: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(decode_header_value(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(*texts: str) -> str:
    """`zh` when the customer writes Chinese (even mixed with English words), else `en`."""
    sample = " ".join(t[:4000] for t in texts)
    cjk = len(_CJK.findall(sample))
    latin_words = len(_LATIN.findall(sample)) / 5
    return "zh" if cjk >= 2 and cjk >= 0.2 * latin_words else "en"
