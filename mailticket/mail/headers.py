"""Header values as text: RFC 2047 words (also broken or split mid-character), raw 8-bit
bytes, Message-IDs, address lists, dates and file names, read leniently and recorded as defects."""

from __future__ import annotations

import base64
import binascii
import email
import email.feedparser
import email.message
import email.utils
import quopri
import re
from datetime import UTC, datetime

from mailticket.mail.charsets import codec_for, decode_bytes

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


MAX_HEADER_CHARS = 64 * 1024

# Spaces inside a word break RFC 2047 but clients send them (`=?UTF-8?Q? Personal=C3=A4nderung?=`):
# the payload may hold any character but `?`, which keeps the search linear.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]{0,2000})\?=")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")


def _decode_encoded_word(encoding: str, payload: str, charset: str) -> bytes | None:
    """The word's bytes; raw 8-bit characters inside a Q word (already read as text with the
    header) are turned back into bytes with the word's own charset."""
    try:
        if encoding in "bB":
            payload = "".join(payload.split())
            if _NOT_BASE64.search(payload):
                return None  # not base64 at all: keep the word as written
            cleaned = payload.rstrip("=")
            return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
        text = payload.replace("_", " ")
        data = text.encode("ascii") if text.isascii() else _eight_bit(text, charset)
        return quopri.decodestring(data, header=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _eight_bit(text: str, charset: str) -> bytes:
    codec = codec_for(charset) or "utf-8"
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def decode_header_value(raw: str | None, defects: list[str] | None = None) -> str:
    """A header as text: RFC 2047 words (also broken or split mid-character) and raw 8-bit
    bytes. Replacement characters (U+FFFD) a sender's software already wrote into the header
    carry nothing and are dropped, noted as a defect."""
    text = _decode_header_value(raw, defects)
    if "\ufffd" not in text:
        return text
    if defects is not None:
        defects.append(REPLACEMENT_DROPPED)
    return clean_line(text.replace("\ufffd", " "))


BROKEN_WORD = "broken encoded-word in header / 邮件头中的编码字已损坏"
WORD_WITH_SPACES = (
    "encoded-word with spaces inside read as one word / 含空格的编码字已按一个编码字读取"
)
EIGHT_BIT_IN_WORD = (
    "raw 8-bit bytes inside an encoded-word read with its charset"
    " / 编码字中的原始 8 位字节已按其字符集读取"
)


def _note_lenient_word(payload: str, defects: list[str]) -> None:
    """An encoded word RFC 2047 forbids but we read anyway: spaces or raw 8-bit inside."""
    if " " in payload or "\t" in payload:
        defects.append(WORD_WITH_SPACES)
    if not payload.isascii():
        defects.append(EIGHT_BIT_IN_WORD)


REPLACEMENT_DROPPED = (
    "replacement characters (U+FFFD) the sender wrote into a header dropped"
    " / 发件方写入邮件头的替换字符 (U+FFFD) 已删除"
)


def _decode_header_value(raw: str | None, defects: list[str] | None) -> str:
    if not raw:
        return ""
    raw = str(raw)[:MAX_HEADER_CHARS]
    if "\n" in raw:
        raw = _FOLD.sub(" ", raw)
    if not raw.isascii() and _ASCII_OR_ESCAPED.fullmatch(raw):
        raw = decode_bytes(raw.encode("ascii", "surrogateescape"), None, defects)
    if "=?" not in raw:
        return clean_line(raw)
    # Pieces are (charset or None, bytes or text); adjacent words of one charset are joined
    # before decoding so a character split across two encoded-words is read whole.
    pieces: list[tuple[str | None, bytes | str]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[position : match.start()]
        charset = match.group(1).split("*", 1)[0]
        decoded = _decode_encoded_word(match.group(2), match.group(3), charset)
        if decoded is not None and defects is not None:
            _note_lenient_word(match.group(3), defects)
        if decoded is None:
            if defects is not None:
                defects.append(BROKEN_WORD)
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
    return clean_line(text)


_FOLD = re.compile(r"\r?\n[ \t]*")
_ASCII_OR_ESCAPED = re.compile(r"[\x00-\x7f\udc80-\udcff]*")
# Unicode's categories Cc (control characters) and Cs (surrogates), exactly.
_CONTROL_OR_SURROGATE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")


def clean_line(text: str) -> str:
    """One line of visible text: no control characters (header injection), spaces collapsed."""
    if text.isprintable() and "  " not in text:  # no control character, no space but " "
        return text.strip()
    return _WHITESPACE.sub(" ", _CONTROL_OR_SURROGATE.sub(" ", text)).strip()


# A Message-ID we keep and write again: printable ASCII but `<>`, at most 900 characters. In
# References one with 8-bit (undecodable: surrogates), control or NUL characters is dropped; as
# the mail's own it loses them: it must be storable text, and we copy it into our headers.
_MESSAGE_ID = re.compile(r"<([!-;=?-~]{1,900})>")
_NOT_IN_MESSAGE_ID = re.compile(r"[^!-;=?-~]")


def normalise_message_id(value: str) -> str:
    """`<local@domain>` in printable ASCII, or "" when the header holds nothing usable."""
    match = _MESSAGE_ID.search(value or "")
    if match:
        return f"<{match.group(1)}>"
    token = _NOT_IN_MESSAGE_ID.sub("", value or "")[:900]
    return f"<{token}>" if token and "@" in token else ""


def message_ids_in(value: str) -> tuple[str, ...]:
    return tuple(f"<{m}>" for m in _MESSAGE_ID.findall(value or ""))


# Address lists plain enough to split with one regular expression (nearly every header): names
# of atoms or quoted strings without escapes, addresses of dot-atoms, no comments, no folding.
# `email.utils.getaddresses` reads them to the same pairs, a character at a time; the rest goes
# to it. (No whitespace inside atoms: `_parseaddr` drops an atom made of other whitespace.)
_ATOM = r"[^()<>@,:;.\"\[\]\\\s]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_WORD = r"""(?:[^()<>@,:;"\[\]\\\s]+|"[^"\\\r\n]*")"""
_ADDRESS = rf"[ \t]*(?:({_ADDR_SPEC})|({_WORD}(?:[ \t]+{_WORD})*)?[ \t]*<({_ADDR_SPEC})>)[ \t]*"
_PLAIN_ADDRESSES = re.compile(rf"{_ADDRESS}(?:,{_ADDRESS})*")
_ONE_ADDRESS = re.compile(rf"{_ADDRESS}(?:,|\Z)")
_PHRASE_WORD = re.compile(r'"([^"]*)"|([^ \t]+)')


def split_addresses(raw: str) -> list[tuple[str, str]]:
    if not raw:
        return []
    if _PLAIN_ADDRESSES.fullmatch(raw):
        return [
            (" ".join(q or a for q, a in _PHRASE_WORD.findall(phrase)), spec or route)
            for spec, phrase, route in _ONE_ADDRESS.findall(raw)
        ]
    try:
        return email.utils.getaddresses([raw])
    except (ValueError, IndexError, TypeError):
        return []


def first_address(raw: str, defects: list[str]) -> tuple[str, str, bool]:
    """(name, address, valid) of the first address in a From-like header. A strictly valid
    address wins; else `Name addr@x` read leniently; else a best-effort address the strict
    parser drops (`MAILER-DAEMON`, spaces in the local part). Both are kept but marked
    invalid, so the desk still knows who wrote and never answers them automatically: in
    `wang wei@163.example` the mailbox may be "wang wei", and `wei@163.example` a stranger's."""
    pairs = split_addresses(raw or "")
    for name, address in pairs:
        address = _clean_address(address)
        if address:
            return decode_header_value(name, defects), address, True
    bracketed = "<" in (raw or "") or '"@' in (raw or "")
    lenient = None if bracketed or not raw else _LENIENT_ADDRESS.search(raw[:MAX_HEADER_CHARS])
    if lenient is not None:
        defects.append(LENIENT_SENDER)
        name = raw[: lenient.start()].strip(" \t\"'<")
        return decode_header_value(name, defects), _clean_address(lenient.group(0)) or "", False
    for name, address in pairs:
        kept = _best_effort_address(address)
        if kept:
            defects.append(INVALID_SENDER.format(kept, kept))
            return decode_header_value(name, defects), kept, False
    if raw:
        defects.append(NO_SENDER_ADDRESS)
    return "", "", False


def _best_effort_address(address: str) -> str:
    """The address as written, tidied (whitespace runs and controls collapsed, domain lowered,
    a local part with spaces quoted as the standard library renders it, capped at 254
    characters, the RFC 5321 limit) but not judged."""
    address = decode_header_value(address).strip().strip("<>").strip()
    address = _WHITESPACE.sub(" ", _CONTROLS.sub("", address))[:254].strip()
    local, at, domain = address.rpartition("@")
    if not (at and local and domain):
        return address
    if " " in local and not local.startswith('"'):
        local = '"' + local.replace('"', "") + '"'  # written as RFC 5322 would quote it
    return f"{local}@{domain.lower()}"


INVALID_SENDER = (
    "sender address {} is not a valid address; kept as written, no automatic reply"
    " / 发件人地址 {} 不是有效地址，按原样保留，不自动回复"
)
NO_SENDER_ADDRESS = "no usable address in From / From 中没有可用的地址"
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


# An address as people mistype the header: `Name addr@x` without brackets, two addresses with
# no comma. Bounded: no nested quantifiers, so no backtracking blow-up on a long header.
_LENIENT_ADDRESS = re.compile(r"[^\s<>@,;:\"()\[\]]{1,64}@[^\s<>@,;:\"()\[\]]{1,255}")
LENIENT_SENDER = (
    "sender address read leniently from a malformed header; no automatic reply"
    " / 从格式有误的邮件头中宽松读取发件人地址，不自动回复"
)


def _clean_address(address: str) -> str:
    address = decode_header_value(address).strip().strip("<>")
    if "@" not in address or _WHITESPACE.search(address):
        return ""
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        return ""
    return f"{local}@{domain.lower()}"


def addresses_in(headers: dict[str, str], name: str) -> tuple[str, ...]:
    found = (_clean_address(a) for _, a in split_addresses(headers.get(name, "")))
    return tuple(dict.fromkeys(a for a in found if a))


def parse_date(raw: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(decode_header_value(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
