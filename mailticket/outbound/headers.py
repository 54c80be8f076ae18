"""Headers and raw message text that every client reads: RFC 2047 encoded words kept under
the line limit, folding that never splits a word, CR/LF and control characters removed so a
subject cannot add a header, and 7-bit clean bodies.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Sequence
from email import base64mime, encoders, quoprimime
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formataddr

from mailticket.model import Attachment

# A printable ASCII header value on one line: no encoded-words, only spaces to fold at.
_PLAIN_HEADER = re.compile(r"[!-~](?:[ -~]*[!-~])?")


_SPACE_RUNS = re.compile("( +)")


_EMBEDDED_HEADER = re.compile(r"\n[^ \t]+:")  # as `email.header` refuses


class _Compat32(Compat32):
    """compat32, which folds every header line through a new `email.header.Header` (most of
    the time it takes to write a message out), except that a plain ASCII value is folded here:
    byte for byte what that folding makes of it (tests/test_compose.py compares them)."""

    def fold_binary(self, name: str, value: object) -> bytes:
        if type(value) is str and _PLAIN_HEADER.fullmatch(value):
            if len(name) + len(value) <= 76:  # fits: the usual case
                return f"{name}: {value}{self.linesep}".encode("ascii")
            folded = _fold_plain(name, value, self.max_line_length or 1_000_000, self.linesep)
            if not _EMBEDDED_HEADER.search(folded):
                return f"{name}: {folded}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)  # type: ignore[arg-type]


def _fold_plain(name: str, value: str, width: int, linesep: str) -> str:
    """A plain value (`_PLAIN_HEADER`) folded as `Header(value, header_name=name)` folds it
    (`email.header._ValueFormatter._ascii_split`): words go on a line while it stays within
    `width` counting `name: `; a line that grows longer is broken before the last word after
    a `;`, else after a `,`, else before its last word; a first word too long for the first
    line goes on the next one alone; a longer continuation line stays as it is."""
    pieces = _SPACE_RUNS.split(value)
    chunks = [("", pieces[0]), *zip(pieces[1::2], pieces[2::2], strict=True)]
    lines: list[str] = []
    line: list[tuple[str, str]] = []
    size = len(name) + 2
    first = True
    for space, word in chunks:
        line.append((space, word))
        size += len(space) + len(word)
        if size <= width:
            continue
        cut = _fold_point(line)
        if cut:
            lines.append("".join(s + w for s, w in line[:cut]))
            line = line[cut:]
        elif first:
            line.pop()
            lines.append("".join(s + w for s, w in line))
            line = [(space or " ", word)]
        else:
            continue
        first = False
        size = sum(len(s) + len(w) for s, w in line)
    lines.append("".join(s + w for s, w in line))
    return linesep.join(lines)


def _fold_point(line: list[tuple[str, str]]) -> int:
    """Where `_ValueFormatter._append_chunk` breaks a line (splitchars `;, \\t`); 0: nowhere."""
    for char in ";,":
        for index in range(len(line) - 1, 0, -1):
            if line[index - 1][1].endswith(char):
                return index
    return len(line) - 1  # before the last word, if there are two (the space is its fws)


CRLF = _Compat32(linesep="\r\n")


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


_SPACES = re.compile(r"\s+")


def header_safe(value: str, limit: int = 200) -> str:
    """One line, no CR/LF or other controls: nothing from a customer can inject a header."""
    return _SPACES.sub(" ", _CONTROLS.sub(" ", value)).strip()[:limit]


@functools.lru_cache(maxsize=1024)  # the desk's own address is in every mail, twice
def format_address(address: str, name: str = "") -> str:
    return formataddr((header_safe(name, 80), header_safe(address)), charset="utf-8")


# What `MIMEText(text, "plain", "utf-8")` starts with: utf-8 bodies go out base64, 7-bit clean.
_TEXT_PART = (
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "MIME-Version: 1.0\r\n"
    "Content-Transfer-Encoding: base64\r\n"
)


def raw_message(
    headers: list[tuple[str, str]],
    text: str,
    html: str | None,
    attachments: Sequence[Attachment] = (),
) -> str:
    """The message as compat32 writes it with CRLF; a non-ASCII Subject as the encoded-words
    of `Header(subject, "utf-8")`, every other value is ASCII already.

    Plain text alone, the usual case, is written here directly: the same bytes as
    `MIMEText(...).as_bytes(policy=CRLF)` (tests/test_compose.py compares them) in a fraction
    of the time. The compat32 classes, not `EmailMessage`'s header registry, for the rest;
    with `attachments` (their bytes in `payload`), multipart/mixed: the text, then them.
    """
    if html is None and not attachments:
        lines = [_TEXT_PART]
        for name, value in headers:
            if name == "Subject" and not value.isascii():
                lines.append(f"Subject: {_encoded_words(value)}\r\n")
            else:
                lines.append(CRLF.fold_binary(name, value).decode("ascii"))
        lines.append("\r\n")  # base64 in lines of 76, as `email.base64mime.body_encode`
        lines.append(base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n"))
        return "".join(lines)
    message: Message = MIMEText(text, "plain", "utf-8")
    if html is not None:
        message = MIMEMultipart("alternative")
        message.attach(MIMEText(text, "plain", "utf-8"))
        message.attach(MIMEText(html, "html", "utf-8"))
    if attachments:
        body, message = message, MIMEMultipart("mixed")
        message.attach(body)
        for attachment in attachments:
            message.attach(_attachment_part(attachment))
    for name, value in headers:
        if name == "Subject" and not value.isascii():
            message[name] = Header(value, "utf-8")  # type: ignore[assignment]  # typeshed: str
        else:
            message[name] = value
    return message.as_bytes(policy=CRLF).decode("ascii")


def _attachment_part(attachment: Attachment) -> Message:
    """One file, base64, typed by what its bytes are (a declared type can lie) and named in
    RFC 2231 form, so a Chinese file name survives."""
    declared = attachment.sniffed_type or attachment.content_type or "application/octet-stream"
    maintype, _, subtype = declared.lower().partition("/")
    if not (maintype.isascii() and maintype.isalpha() and subtype.isascii() and subtype):
        maintype, subtype = "application", "octet-stream"
    part = MIMEBase(maintype, header_safe(subtype, 80))
    part.set_payload(attachment.payload)
    encoders.encode_base64(part)
    name = header_safe(attachment.filename, 180) or "attachment"
    part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
    return part


# RFC 2047 chrome of a utf-8 encoded-word (`=?utf-8?b?` and `?=`), and the Q-encoded length
# of each byte.
_WORD_CHROME = len("utf-8") + 7


_Q_LENGTH = [quoprimime.header_length(bytes([octet])) for octet in range(256)]


def _encoded_words(value: str) -> str:
    """`Header(value, "utf-8")` folded as compat32 folds it, for a value on one line
    (`header_safe`): encoded-words, base64 or Q whichever is shorter for the whole value, of
    at most 78 characters a line, split between characters.

    `email.charset.Charset.header_encode_lines` finds each split by encoding the line so far
    again after every character; this counts the lengths as it goes (tests/test_compose.py
    compares the two).
    """
    data = value.encode("utf-8")
    use_base64 = base64mime.header_length(data) < sum(map(_Q_LENGTH.__getitem__, data))
    encode = base64mime.header_encode if use_base64 else quoprimime.header_encode
    words = []
    start = used = 0  # bytes (base64) or characters (Q) of the current word
    limit = 78 - _WORD_CHROME  # the first line: compat32 leaves the header name out
    for index, character in enumerate(value):
        code = ord(character)
        octets = 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
        if use_base64:
            grown = used + octets
            length = (grown + 2) // 3 * 4
        else:  # every octet of a non-ASCII character is written =XX
            grown = used + (_Q_LENGTH[code] if code < 0x80 else 3 * octets)
            length = grown
        if length > limit:
            words.append(encode(value[start:index].encode("utf-8"), charset="utf-8"))
            start, limit = index, 77 - _WORD_CHROME  # continuation lines start with a space
            grown -= used
        used = grown
    words.append(encode(value[start:].encode("utf-8"), charset="utf-8"))
    return "\r\n ".join(words)
