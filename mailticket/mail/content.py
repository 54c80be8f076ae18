"""One leaf's payload as text: its Content-Type parameters read once, transfer encoding undone,
charset decoded, and format=flowed unfolded (RFC 3676). Split from mime.py, which walks the
tree.
"""

from __future__ import annotations

import email
import email.feedparser
import email.message
import email.utils
from typing import Any

from mailticket.mail.charsets import decode_bytes
from mailticket.mail.html import clean_text, quote_prefix


def _unflow(text: str, delete_space: bool) -> str:
    """RFC 3676 format=flowed (Apple Mail, Thunderbird): join soft-broken lines again."""
    out: list[str] = []
    current: str | None = None
    current_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        body = body[1:] if body.startswith(" ") else body
        if current is not None and depth != current_depth:
            out.append(quote_prefix(current_depth) + current)
            current = None
        current = body if current is None else current + body
        current_depth = depth
        if body.endswith(" ") and body != "-- ":
            if delete_space:
                current = current[:-1]
            continue
        out.append(quote_prefix(depth) + current)
        current = None
    if current is not None:
        out.append(quote_prefix(current_depth) + current)
    return "\n".join(out)


def plain_text(params: ContentParams, payload: bytes, defects: list[str]) -> str:
    text = clean_text(decode_bytes(payload, params.charset(), defects))
    if str(params.get("format") or "").lower() == "flowed":
        text = _unflow(text, str(params.get("delsp") or "").lower() == "yes")
    return text


_Param = str | tuple[str | None, str | None, str]


class ContentParams:
    """A part's Content-Type parameters, parsed once (`Message.get_param` parses the header again
    for each one asked: name, charset, format, delsp). Answers as `get_param` and
    `get_content_charset` would, and raises what they would raise, where they would."""

    def __init__(self, part: email.message.Message) -> None:
        self._params: list[tuple[str, Any]] | None = None
        self._error: Exception | None = None
        try:
            self._params = part.get_params()
        except Exception as error:  # raised again by the first question, as get_param would
            self._error = error

    def get(self, name: str) -> _Param | None:
        """`part.get_param(name)`; `name` in lower case."""
        if self._error is not None:
            raise self._error
        for key, value in self._params or ():
            if key.lower() == name:
                return value
        return None

    def charset(self) -> str | None:
        """`part.get_content_charset()`, or None where it fails on a damaged header."""
        try:
            return self._content_charset()
        except (LookupError, ValueError, TypeError, UnicodeError):
            return None

    def _content_charset(self) -> str | None:
        charset = self.get("charset")
        if charset is None:
            return None
        if isinstance(charset, tuple):  # RFC 2231: decoded, and it had better be ASCII
            try:
                charset = str(charset[2].encode("raw-unicode-escape"), charset[0] or "us-ascii")
            except (LookupError, UnicodeError):
                charset = charset[2]
        try:
            charset.encode("us-ascii")
        except UnicodeError:
            return None
        return charset.lower()


def payload_bytes(part: email.message.Message) -> bytes:
    """A leaf's body with its transfer encoding undone: the bytes as sent, never decoded text."""
    if part.is_multipart():
        return b""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, LookupError, TypeError):
        return b""
    return payload if isinstance(payload, bytes) else b""
