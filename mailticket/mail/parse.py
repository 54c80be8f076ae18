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

import base64
import binascii
import codecs
import email
import email.feedparser
import email.message
import email.utils
import functools
import hashlib
import mimetypes
import quopri
import re
import types
import unicodedata
import urllib.parse
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.policy import compat32
from html.parser import HTMLParser
from typing import Any, ClassVar

from charset_normalizer import from_bytes as detect_charset

from mailticket.errors import MailticketError
from mailticket.mail.quotes import split_reply_marked
from mailticket.model import Attachment, InboundMail


class ParseError(MailticketError):
    """The input is not a mail message at all (empty, or no header)."""


# --- charsets ---------------------------------------------------------------------------------

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
    "cp950": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "utf8": "utf-8",
}

# For each East Asian codec: the codec whose core set holds everyday characters, and the lead
# bytes of those characters there (punctuation, kana, the first level of hanzi or kanji).
_EVERYDAY = {
    "gb18030": ("gb2312", ((0xA1, 0xA3), (0xB0, 0xD7))),
    "big5hkscs": ("big5", ((0xA1, 0xA3), (0xA4, 0xC6))),
    "cp932": ("cp932", ((0x81, 0x83), (0x88, 0x98))),
    "euc_jp": ("euc_jp", ((0xA1, 0xA5), (0xB0, 0xCF))),
}
_SAMPLE_CHARS = 2000
_JAPANESE = ("cp932", "euc_jp")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_KANA = re.compile(r"[\u3040-\u30ff]")


@functools.lru_cache(maxsize=256)
def _codec_for(label: str | None) -> str | None:
    """The Python text codec for a declared charset label, or None when there is none.

    `codecs.lookup` also knows bytes-to-bytes codecs (base64, rot13, hex); a label naming one of
    those is as unknown as a misspelt one.
    """
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
        b"a".decode(codec)  # raises LookupError for a bytes-to-bytes codec
    except UnicodeDecodeError:
        pass
    except (LookupError, ValueError, TypeError):
        return None
    return codec


@functools.lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    """Latin-1-like codecs read any bytes without error, so their success proves nothing."""
    return codec != "utf-8" and len(bytes(range(256)).decode(codec, errors="replace")) == 256


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.cache
def _everyday_chars(codec: str) -> frozenset[str]:
    """The everyday characters of an East Asian codec, read from its everyday lead bytes.

    Only a shortcut for `_is_everyday`: a character the codec encodes to an everyday lead byte
    but decodes back from none (cp932's ¢ and ¬) is checked one by one.
    """
    core, leads = _EVERYDAY[codec]
    found: set[str] = set()
    for low, high in leads:
        for lead in range(low, high + 1):
            for trail in range(256):
                try:
                    char = bytes((lead, trail)).decode(core)
                except UnicodeDecodeError:
                    continue
                if len(char) == 1 and _is_everyday(char, codec):
                    found.add(char)
    return frozenset(found)


def _is_everyday(char: str, codec: str) -> bool:
    core, leads = _EVERYDAY[codec]
    try:
        first = char.encode(core)[0]
    except UnicodeEncodeError:
        return False
    return any(low <= first <= high for low, high in leads)


def _everyday_ratio(text: str, codec: str) -> float:
    """Share of a sample's non-ASCII characters that are everyday ones in that codec's script."""
    wide = _NON_ASCII.findall(text, 0, _SAMPLE_CHARS * 4)[:_SAMPLE_CHARS]
    if not wide:
        return 0.0
    everyday = _everyday_chars(codec)
    hits = sum(map(everyday.__contains__, wide))
    others = {char for char in set(wide) - everyday if _is_everyday(char, codec)}
    if others:
        hits += sum(map(others.__contains__, wide))
    return hits / len(wide)


def _best_east_asian(data: bytes) -> tuple[str, str, float] | None:
    """(text, codec, ratio) of the East Asian reading made most of everyday characters.

    EUC-JP bytes also read as everyday Big5 hanzi; a Japanese reading with kana wins the tie,
    as no Chinese text is written with kana.
    """
    best: tuple[str, str, float] | None = None
    best_score = -1.0
    for codec in _EVERYDAY:
        text = _strict(data, codec)
        if text is None:
            continue
        ratio = _everyday_ratio(text, codec)
        score = ratio + (0.05 if codec in _JAPANESE and _has_kana(text) else 0.0)
        if score > best_score:
            best, best_score = (text, codec, ratio), score
    return best


_MIN_EVIDENCE = 6  # characters of East Asian text before its label may be called a lie


def _wide_chars(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def _has_kana(text: str) -> bool:
    end = _SAMPLE_CHARS * 4
    kana = len(_KANA.findall(text, 0, end))
    return kana >= max(2, len(_NON_ASCII.findall(text, 0, end)) // 10)


_THREE_BYTE_UTF8 = re.compile(rb"[\xe0-\xef][\x80-\xbf]{2}")


def _has_three_byte_utf8(data: bytes) -> bool:
    return _THREE_BYTE_UTF8.search(data) is not None


def _better_than_label(data: bytes, codec: str, text: str) -> tuple[str, str] | None:
    """A reading that clearly beats the declared label's, when the label is a common lie:
    UTF-8 sent as latin-1 or as GBK, GBK sent as latin-1, Big5 sent as gb2312."""
    if codec == "utf-8" or data.isascii():
        return None
    utf8 = _strict(data, "utf-8")
    if utf8 is not None and (_single_byte(codec) or _has_three_byte_utf8(data)):
        return utf8, "utf-8"
    if codec in _EVERYDAY:
        own = _everyday_ratio(text, codec)
    elif _single_byte(codec):
        own = 0.0
    else:
        return None  # Korean, UTF-16, ISO-2022 labels are rarely wrong: trust them
    if own >= 0.8 or _wide_chars(text) < _MIN_EVIDENCE:
        return None  # a short name proves nothing: a rare character in 杜璟 is no lie
    best = _best_east_asian(data)
    if best is not None and best[1] != codec and best[2] >= 0.9 and best[2] > own + 0.3:
        return best[0], best[1]
    return None


def _detect(data: bytes, notes: list[str]) -> tuple[str, str] | None:
    """(text, codec) for bytes without a usable label: escapes, BOMs, UTF-8, East Asian."""
    if b"\x1b$" in data or b"\x1b(" in data:
        for codec in ("iso2022_jp_2", "iso2022_kr"):
            text = _strict(data, codec)
            if text is not None:
                return text, codec
    for bom, codec in _BOMS:
        if data.startswith(bom) and (text := _strict(data, codec)) is not None:
            return text, codec
    utf8 = _strict(data, "utf-8")
    if utf8 is not None:
        return utf8, "utf-8"
    if len(data) >= 40 and (mostly := _mostly_utf8(data)) is not None:
        notes.append("invalid UTF-8 bytes replaced")
        return mostly, "utf-8"
    best = _best_east_asian(data)
    if best is not None and best[2] >= 0.6:
        return best[0], best[1]
    if _looks_western(data):
        text = _strict(data, "cp1252")
        return (text, "cp1252") if text is not None else (data.decode("latin-1"), "latin-1")
    return None


def _looks_western(data: bytes) -> bool:
    """Accented letters amid ASCII (at most two 8-bit bytes in a row): latin-1/cp1252 text.
    Cyrillic, Greek or East Asian text has longer runs; charset-normalizer judges those."""
    runs = re.findall(rb"[\x80-\xff]+", data)
    return bool(runs) and max(map(len, runs)) <= 2 and sum(map(len, runs)) <= len(data) // 4


def decode_bytes(data: bytes, declared: str | None, defects: list[str] | None = None) -> str:
    """Text from bytes: the declared label when it fits, else what the bytes really are.

    Order: a label that decodes and is not a known lie; UTF-8; the East Asian reading made of
    everyday characters; charset-normalizer's guess; replacement characters only as the last
    resort (recorded as a defect, never silently).
    """
    if not data:
        return ""
    notes: list[str] = []
    codec = _codec_for(declared)
    if declared and codec is None:
        notes.append(f"unknown charset {declared!r}")
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            better = _better_than_label(data, codec, text)
            if better is None:
                return text
            notes.append(f"charset {declared!r} did not fit the bytes; read as {better[1]}")
            _note(defects, notes)
            return better[0]
    if data.isascii() and b"\x1b" not in data:
        _note(defects, notes)
        return data.decode("ascii")
    if codec == "utf-8" and (mostly := _mostly_utf8(data)) is not None:
        notes.append("invalid UTF-8 bytes replaced")
        _note(defects, notes)
        return mostly
    found = _detect(data, notes)
    if found is None:
        best = detect_charset(data).best()
        if best is not None and best.encoding:
            found = str(best), best.encoding
    if found is not None:
        if codec is not None:
            notes.append(f"charset {declared!r} did not fit the bytes; read as {found[1]}")
        _note(defects, notes)
        return found[0]
    notes.append(f"undecodable bytes in charset {declared or 'none'}; replaced")
    _note(defects, notes)
    return data.decode(codec or "gb18030", errors="replace")


def _mostly_utf8(data: bytes) -> str | None:
    """Declared UTF-8 with a few bad bytes (a cut mail, a broken client): keep the rest."""
    text = data.decode("utf-8", errors="replace")
    return text if text.count("\ufffd") <= max(1, len(text) // 200) else None


def _note(defects: list[str] | None, notes: list[str]) -> None:
    if defects is not None:
        defects.extend(notes)


# --- headers ----------------------------------------------------------------------------------

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
_MAX_FORWARD_DEPTH = 3
# Nesting shown in text (`>` per blockquote, indent per list): deeper nesting is drawn as this
# deep, so text grows linearly with the HTML, not with the square of its depth.
_MAX_SHOWN_DEPTH = 16
_NESTING_CUT = 100

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_encoded_word(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "bB":
            if re.search(r"[^A-Za-z0-9+/=]", payload):
                return None  # not base64 at all: keep the word as written
            cleaned = payload.rstrip("=")
            return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
        return quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def decode_header_value(raw: str | None, defects: list[str] | None = None) -> str:
    """A header as text: RFC 2047 words (also broken or split mid-character) and raw 8-bit bytes."""
    if not raw:
        return ""
    raw = str(raw)[:_MAX_HEADER_CHARS]
    if "\n" in raw:
        raw = _FOLD.sub(" ", raw)
    if not raw.isascii() and _ASCII_OR_ESCAPED.fullmatch(raw):
        raw = decode_bytes(raw.encode("ascii", "surrogateescape"), None, defects)
    if "=?" not in raw:
        return _clean_line(raw)
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


_FOLD = re.compile(r"\r?\n[ \t]*")
_ASCII_OR_ESCAPED = re.compile(r"[\x00-\x7f\udc80-\udcff]*")
# Unicode's categories Cc (control characters) and Cs (surrogates), exactly.
_CONTROL_OR_SURROGATE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")


def _clean_line(text: str) -> str:
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


# --- HTML -------------------------------------------------------------------------------------

# Elements (by id or class) where clients put the quoted thread or the sender's signature.
_HISTORY_CONTAINERS = frozenset(
    name.lower()
    for name in (
        "gmail_quote", "gmail_signature", "divRplyFwdMsg", "appendonsend", "qqmail_quote",
        "isReplyContent", "yahoo_quoted", "moz-cite-prefix", "OutlookMessageHeader",
    )
)  # fmt: skip


class _HtmlToText(HTMLParser):
    """Readable text from the HTML clients send: paragraphs, line breaks and list items where a
    browser shows them (Outlook's and QQ Mail's `<div>` soup without blank lines between), links
    kept, scripts and styles dropped, blockquotes as `>` lines. Remembers where the first
    history container starts, so the quoted thread can be cut off at the HTML level."""

    _PARAGRAPH: ClassVar[set[str]] = {
        "p", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dl",
    }  # fmt: skip
    _LINE: ClassVar[set[str]] = {
        "div", "tr", "li", "blockquote", "hr", "section", "article", "header", "footer",
        "address", "center", "dt", "dd", "caption", "form", "fieldset", "main", "nav",
    }  # fmt: skip
    _SKIP: ClassVar[set[str]] = {"script", "style", "head", "title", "template", "noscript"}
    _VOID: ClassVar[set[str]] = {"br", "img", "hr", "meta", "link", "input", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[tuple[str, int]] = []  # (text, blockquote depth)
        self.newlines = 1  # newlines at the end of the output; the start counts as a line start
        self.skipping: list[str] = []
        self.depth = 0
        self.pre = 0
        self.lists: list[int] = []  # per open list: 0 for <ul>, the next number for <ol>
        self.gaps: list[int] = []  # per open <p>: 1 for Outlook's margin-less MsoNormal, else 2
        self.href: str | None = None
        self.link_text: list[str] = []
        self.history_at: int | None = None

    def _emit(self, text: str) -> None:
        self.chunks.append((text, self.depth))
        tail = text.rstrip(" \t")
        if not tail:
            return
        ending = len(tail) - len(tail.rstrip("\n"))
        self.newlines = self.newlines + ending if not tail.strip("\n") else ending

    def _break(self, lines: int) -> None:
        while self.newlines < lines:
            self._emit("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skipping = [t for t in self.skipping if t not in ("head", "title")]
        if tag in self._SKIP:
            self.skipping.append(tag)
        if self.skipping:
            return
        attributes = dict(attrs)
        if self.history_at is None and self._is_history(attributes):
            self._break(1)
            self.history_at = len(self.chunks)
        if tag == "br":
            self._emit("\n")
        elif tag == "p":
            self.gaps.append(1 if "msonormal" in (attributes.get("class") or "").lower() else 2)
            self._break(self.gaps[-1])
        elif tag in self._PARAGRAPH:
            self._break(2)
        elif tag in self._LINE:
            self._break(1)
        if tag == "blockquote":
            self.depth += 1
        elif tag == "pre":
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.lists.append(0 if tag == "ul" else 1)
        elif tag == "li":
            self._list_item()
        elif tag == "a":
            self.href = attributes.get("href") or None
            self.link_text = []

    def _list_item(self) -> None:
        indent = "  " * min(_MAX_SHOWN_DEPTH, max(0, len(self.lists) - 1))
        if self.lists and self.lists[-1]:
            self._emit(f"{indent}{self.lists[-1]}. ")
            self.lists[-1] += 1
        else:
            self._emit(f"{indent}- ")

    @staticmethod
    def _is_history(attributes: dict[str, str | None]) -> bool:
        names = f"{attributes.get('id') or ''} {attributes.get('class') or ''}".lower().split()
        return any(name in _HISTORY_CONTAINERS for name in names)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self._VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            if tag in self.skipping:
                del self.skipping[len(self.skipping) - 1 - self.skipping[::-1].index(tag) :]
            return
        if self.skipping:
            return
        if tag in ("td", "th"):
            self._emit(" ")
        elif tag == "a" and self.href:
            shown = "".join(self.link_text).strip()
            if self.href.startswith(("http:", "https:")) and self.href != shown:
                self._emit(f" ({self.href})")
            self.href = None
        if tag == "blockquote":
            self._break(1)
            self.depth = max(0, self.depth - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag == "p":
            self._break(self.gaps.pop() if self.gaps else 1)
        elif tag in self._PARAGRAPH:
            self._break(2)
        elif tag in self._LINE:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre:  # no-break spaces survive the stripping of lines: indentation is content
            data = data.replace(" ", "\xa0").replace("\t", "\xa0" * 4)
        else:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
            if self.newlines and data.startswith(" "):
                data = data[1:]
        if data:
            self._emit(data)
            if self.href is not None:
                self.link_text.append(data)

    def render(self, chunks: list[tuple[str, int]]) -> str:
        """Lines stripped, blockquoted lines prefixed with `>` (blank ones too, so a quote stays
        one block), no runs of blank lines."""
        lines: list[str] = []
        current: list[str] = []
        depth = 0
        for text, chunk_depth in chunks:
            for index, piece in enumerate(text.split("\n")):
                if index:
                    line = _visible("".join(current))
                    lines.append(_quote_prefix(depth if line else chunk_depth) + line)
                    current, depth = [], 0
                if piece.strip():
                    depth = max(depth, chunk_depth)
                current.append(piece)
        lines.append(_quote_prefix(depth) + _visible("".join(current)))
        text = "\n".join(line.rstrip() for line in lines)
        return re.sub(r"\n{3,}", "\n\n", _clean_text(text)).strip()


def _visible(line: str) -> str:
    """A line without the layout's spaces; `&nbsp;` indentation (Foxmail, `<pre>`) is kept."""
    return line.rstrip().lstrip(" \t").replace("\xa0", " ")


def _quote_prefix(depth: int) -> str:
    return ">" * min(depth, _MAX_SHOWN_DEPTH) + " " if depth else ""


def _convert_html(html: str) -> _HtmlToText:
    converter = _HtmlToText()
    try:
        converter.feed(html)
        converter.close()
    except (AssertionError, ValueError):
        pass
    return converter


def html_to_text(html: str) -> str:
    """The whole HTML as readable text (see `_HtmlToText`)."""
    converter = _convert_html(html)
    return converter.render(converter.chunks)


def html_to_text_split(html: str) -> tuple[str, str]:
    """(text before the first history container, text from it on): Gmail's `gmail_quote`,
    Outlook's `divRplyFwdMsg`, QQ Mail's `qqmail_quote`, NetEase's `isReplyContent`..."""
    converter = _convert_html(html)
    cut = len(converter.chunks) if converter.history_at is None else converter.history_at
    return converter.render(converter.chunks[:cut]), converter.render(converter.chunks[cut:])


# --- text -------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]")
_HTML_STUB = re.compile(r"html|超文本|網頁|网页", re.IGNORECASE)


def _clean_text(text: str) -> str:
    """Newlines as `\\n`, no control characters (NUL, escape codes, stray BOMs), and plain
    spaces for the no-break and ideographic spaces clients use as indentation."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.replace("\xa0", " ").replace("\u3000", " ")


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
            out.append(_quote_prefix(current_depth) + current)
            current = None
        current = body if current is None else current + body
        current_depth = depth
        if body.endswith(" ") and body != "-- ":
            if delete_space:
                current = current[:-1]
            continue
        out.append(_quote_prefix(depth) + current)
        current = None
    if current is not None:
        out.append(_quote_prefix(current_depth) + current)
    return "\n".join(out)


def _plain_text(params: _ContentParams, payload: bytes, defects: list[str]) -> str:
    text = _clean_text(decode_bytes(payload, params.charset(), defects))
    if str(params.get("format") or "").lower() == "flowed":
        text = _unflow(text, str(params.get("delsp") or "").lower() == "yes")
    return text


_Param = str | tuple[str | None, str | None, str]


class _ContentParams:
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


# --- attachments ------------------------------------------------------------------------------

_HEIF_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"hevc": "image/heic",
                b"hevx": "image/heic", b"heim": "image/heic", b"heis": "image/heic",
                b"mif1": "image/heif", b"msf1": "image/heif", b"avif": "image/avif"}  # fmt: skip
_OOXML = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x1f\x8b", "application/gzip"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
)


def sniff_type(data: bytes) -> str:
    """What the bytes are by their magic numbers, whatever the sender declared: screenshots
    arrive as `application/octet-stream`, and a declared PDF may be a renamed executable."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"BM" and len(data) >= 26 and data[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if data[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(
            data[8:12], "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
        )
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if b"[Content_Types].xml" in data:
            for marker, content_type in _OOXML:
                if marker in data:
                    return content_type
        return "application/zip"
    if data and _looks_like_text(data[:4096]):
        return "text/plain"
    return "application/octet-stream"


def _looks_like_text(sample: bytes) -> bool:
    """No NUL bytes and hardly any control bytes: text in some charset."""
    if b"\x00" in sample:
        return False
    controls = sum(1 for byte in sample if byte < 32 and byte not in b"\t\n\r\f\x1b")
    return controls <= len(sample) // 100


def _payload_bytes(part: email.message.Message) -> bytes:
    """A leaf's body with its transfer encoding undone: the bytes as sent, never decoded text."""
    if part.is_multipart():
        return b""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, LookupError, TypeError):
        return b""
    return payload if isinstance(payload, bytes) else b""


def _children(part: email.message.Message) -> list[email.message.Message] | None:
    """The parts of a multipart (or the mail inside a `message/*`); None for a leaf.

    Never `get_payload()` on a leaf: for 8-bit bodies it decodes with the declared charset and
    raises on labels like "utf-8\\0".
    """
    if not part.is_multipart():
        return None
    return [child for child in part.get_payload() if isinstance(child, email.message.Message)]


def _raw_filename(part: email.message.Message, params: _ContentParams, defects: list[str]) -> str:
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
        if value:
            return str(value)
    return ""


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


# --- the MIME walk ----------------------------------------------------------------------------

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
    read: dict[int, tuple[email.message.Message, _ContentParams, bytes, str, list[str]]] = field(
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
            walk.defects.append(f"more than {_MAX_PARTS} MIME parts; the rest ignored")
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
    params = read[1] if read is not None else _ContentParams(part)
    filename = decode_header_value(_raw_filename(part, params, walk.defects), walk.defects)
    if content_type.startswith("message/"):
        inner = _forwarded_message(part, walk.defects) if content_type in _MESSAGE_TYPES else None
        if inner is not None:
            walk.forwarded.append(inner)
        payload = _message_bytes(part, walk.defects)
        walk.attachments.append(_attachment(part, payload, filename, index, walk.limit))
        return
    payload = read[2] if read is not None else _payload_bytes(part)
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
            kind, text = "text/plain", _plain_text(params, payload, walk.defects)
        walk.texts.append((kind, text))


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
    params = _ContentParams(plain)
    payload = _payload_bytes(plain)
    notes: list[str] = []
    text = _plain_text(params, payload, notes)
    walk.read[id(plain)] = (plain, params, payload, text, notes)
    text = text.strip()
    if not text or (len(text) < 300 and _HTML_STUB.search(text)):
        walk.defects.append("plain part empty or a stub; HTML part used")
        return rich[-1]
    return plain


def _recover_multipart(
    part: email.message.Message, defects: list[str]
) -> email.message.Message | None:
    """A multipart the parser could not split (boundary parameter missing or not matching the
    body): take the boundary from the body's first `--` line instead."""
    body = _payload_bytes(part)
    found = re.search(rb"^--(\S[^\r\n]{0,69}?)[ \t]*\r?$", body[:8192], re.MULTILINE)
    if found is None:
        return None
    boundary = found.group(1).decode("ascii", "replace").replace('"', "")
    defects.append("multipart boundary not found; recovered from the body")
    header = f'Content-Type: {part.get_content_type()}; boundary="{boundary}"\r\n\r\n'
    try:
        recovered = _parse_bytes(header.encode("ascii", "replace") + body)
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
        data = _payload_bytes(message)
        try:
            decoded = base64.b64decode(data) if encoding == "base64" else quopri.decodestring(data)
        except (binascii.Error, ValueError):
            defects.append("forwarded message with a broken transfer encoding")
            return message
        message = _message_from_bytes(decoded, defects)
    return message


def _message_bytes(part: email.message.Message, defects: list[str]) -> bytes:
    """Bytes of a `message/*` part as kept on disk (re-serialised: compat32 keeps no raw)."""
    inner = _children(part)
    if inner is None:
        return _payload_bytes(part)
    try:
        return b"\n".join(m.as_bytes() for m in inner)
    except (RecursionError, LookupError, ValueError, TypeError, UnicodeError):
        defects.append(f"{part.get_content_type()} part could not be serialised")
        return b""


# --- the body ---------------------------------------------------------------------------------


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


# --- the MIME parser --------------------------------------------------------------------------

# The standard library's feed parser compiles one regular expression per multipart, for its
# boundary line. Boundaries are unique to each mail, so `re`'s cache never holds them, and the
# compiling took more than a third of the parser's time. And to find the line break at the end
# of each part it searches the whole part (a screenshot: 60 KB) for `(\r\n|\r|\n)\Z`.
# `_FeedParser` runs the standard library's own parsing code, with a `re` in which the boundary
# pattern is matched without compiling, and a search for the final line break that starts at
# the last two characters, the only place where it can match.

_BOUNDARY_HEAD = "(?P<sep>"
_BOUNDARY_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_BOUNDARY_END = re.compile(_BOUNDARY_TAIL[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class _BoundaryMatch:
    """A match of `_BoundaryLine`, answering `group` as the compiled pattern's match would."""

    __slots__ = ("_end", "_separator")

    def __init__(self, separator: str, end: re.Match[str]) -> None:
        self._separator = separator
        self._end = end

    def group(self, *names: str | int) -> Any:
        if len(names) != 1:
            return tuple(self.group(name) for name in names) if names else self.group(0)
        name = names[0]
        if name == 0:
            return self._separator + self._end.group(0)
        if name in ("sep", 1):
            return self._separator
        return self._end.group(name - 1 if isinstance(name, int) else name)


class _BoundaryLine:
    """The feed parser's boundary pattern, `(?P<sep>SEPARATOR)` and then `_BOUNDARY_TAIL`,
    without compiling the separator: a literal prefix, then the rest, compiled once."""

    __slots__ = ("_length", "_separator")

    def __init__(self, separator: str) -> None:
        self._separator = separator
        self._length = len(separator)

    def match(self, line: str) -> _BoundaryMatch | None:
        if not line.startswith(self._separator):
            return None
        end = _BOUNDARY_END.match(line, self._length)
        return None if end is None else _BoundaryMatch(self._separator, end)


class _FeedParserRe:
    """The `re` module as `_FeedParser` sees it: the same, but a boundary line is not compiled."""

    escape = staticmethod(re.escape)

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        if (
            not flags
            and isinstance(pattern, str)
            and pattern.startswith(_BOUNDARY_HEAD)
            and pattern.endswith(_BOUNDARY_TAIL)
        ):
            escaped = pattern[len(_BOUNDARY_HEAD) : -len(_BOUNDARY_TAIL)]
            separator = _ESCAPED.sub(r"\1", escaped)
            if re.escape(separator) == escaped:
                return _BoundaryLine(separator)
        return re.compile(pattern, flags)


class _FinalLineBreak:
    """`NLCRE_eol.search(text)`, searching only the last two characters, where the final
    line break is if there is one."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern

    def search(self, text: str) -> re.Match[str] | None:
        return self._pattern.search(text, max(0, len(text) - 2))


def _feed_parser_class() -> type[email.feedparser.FeedParser]:
    """`FeedParser` whose `_parsegen` is the standard library's code with `_FeedParserRe` for
    `re` and `_FinalLineBreak` for `NLCRE_eol` (the plain `FeedParser` if this Python's parser
    is not built that way)."""
    parsegen = getattr(email.feedparser.FeedParser, "_parsegen", None)
    final_line_break = getattr(email.feedparser, "NLCRE_eol", None)
    if (
        not isinstance(parsegen, types.FunctionType)
        or not {"re", "NLCRE_eol"} <= set(parsegen.__code__.co_names)
        or not isinstance(final_line_break, re.Pattern)
        or final_line_break.pattern != r"(\r\n|\r|\n)\Z"
    ):
        return email.feedparser.FeedParser
    namespace = dict(
        vars(email.feedparser), re=_FeedParserRe(), NLCRE_eol=_FinalLineBreak(final_line_break)
    )
    fast = types.FunctionType(
        parsegen.__code__, namespace, parsegen.__name__, parsegen.__defaults__, parsegen.__closure__
    )
    return type("_FeedParser", (email.feedparser.FeedParser,), {"_parsegen": fast})


_FeedParser = _feed_parser_class()


def _parse_bytes(raw: bytes, *, headersonly: bool = False) -> email.message.Message:
    """`email.message_from_bytes` (or `BytesParser().parsebytes`), through `_FeedParser`:
    the same text fed in the same 8,192-character pieces, the same compat32 `Message`."""
    parser = _FeedParser(policy=compat32)
    if headersonly:
        parser._set_headersonly()  # type: ignore[attr-defined]
    text = raw.decode("ascii", "surrogateescape")
    for start in range(0, len(text), 8192):
        parser.feed(text[start : start + 8192])
    message: email.message.Message = parser.close()
    return message


# --- parse ------------------------------------------------------------------------------------


def _message_from_bytes(raw: bytes, defects: list[str]) -> email.message.Message:
    """The parsed message; nesting too deep for the standard parser is cut off, not fatal."""
    try:
        return _parse_bytes(raw)
    except RecursionError:
        pass
    starts = [
        m.start() for m in re.finditer(rb"(?im)^content-type:[ \t]*(multipart|message)/", raw)
    ]
    defects.append(f"MIME nesting deeper than {_NESTING_CUT} levels; the rest not parsed")
    if len(starts) > _NESTING_CUT:
        try:
            return _parse_bytes(raw[: starts[_NESTING_CUT]])
        except RecursionError:
            pass
    return _parse_bytes(raw, headersonly=True)


def parse(raw: bytes, *, max_attachment_bytes: int = 20 * 1024 * 1024) -> InboundMail:
    """One mail as the pipeline needs it; raises `ParseError` only for input that is no mail."""
    if not raw or not raw.strip():
        raise ParseError("empty message")
    defects: list[str] = []
    message = _message_from_bytes(raw, defects)
    if not message.keys():
        raise ParseError("no mail headers found: not an RFC 5322 message")
    defects[:0] = [type(d).__name__ for d in message.defects]
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.lower(), str(value))

    def header(name: str) -> str:
        return decode_header_value(headers.get(name), defects)

    from_name, from_addr = _first_address(headers.get("from", ""), defects)
    if not from_addr:
        from_name, from_addr = _first_address(headers.get("sender", ""), defects)

    walk = _Walk(limit=max_attachment_bytes, defects=defects)
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
    return InboundMail(
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        message_id=normalise_message_id(headers.get("message-id", "")),
        in_reply_to=message_ids_in(headers.get("in-reply-to", "")),
        references=message_ids_in(headers.get("references", "")),
        from_addr=from_addr,
        from_name=from_name,
        to=_addresses(headers, "to"),
        cc=_addresses(headers, "cc"),
        subject=header("subject"),
        date=_date(headers.get("date", "")),
        text=text,
        attachments=attachments,
        auto_headers={name: header(name) for name in AUTO_HEADERS if name in headers},
        is_delivery_report=walk.is_report or message.get_content_type() == "multipart/report",
        defects=tuple(dict.fromkeys(defects)),
        quoted=quoted,
        text_is_history=text_is_history,
        authentication_results=tuple(
            _clean_line(str(value)[:_MAX_HEADER_CHARS])
            for name, value in message.raw_items()
            if name.lower() == "authentication-results"
        ),
    )


def _as_inline(attachment: Attachment) -> Attachment:
    """Referenced from the HTML by `cid:`: shown in the mail, whatever its disposition says."""
    return replace(attachment, inline=True)


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


def _split_addresses(raw: str) -> list[tuple[str, str]]:
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
    if "@" not in address or _WHITESPACE.search(address):
        return ""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def _addresses(headers: dict[str, str], name: str) -> tuple[str, ...]:
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
