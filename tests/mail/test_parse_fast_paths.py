"""The parser's fast paths answer exactly as the slower code they stand in for: the standard
library's MIME parser and address parser, `get_param`, and our own earlier character loops."""

from __future__ import annotations

import email
import email.feedparser
import email.parser
import email.utils
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailticket.mail.charsets import _EVERYDAY, _everyday_ratio
from mailticket.mail.content import ContentParams
from mailticket.mail.feed import (
    _BoundaryLine,
    _FeedParser,
    _FeedParserRe,
    _FinalLineBreak,
    parse_bytes,
)
from mailticket.mail.headers import clean_line, split_addresses

FIXTURES = Path(__file__).parents[1] / "fixtures"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
MAILS = sorted(FIXTURES.rglob("*.eml")) + sorted(CORPUS.rglob("*.eml"))
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def tree(message: email.message.Message) -> tuple[Any, ...]:
    """Everything the parser decided about a message, its parts and their defects."""
    payload = message._payload  # type: ignore[attr-defined]
    return (
        message._headers,  # type: ignore[attr-defined]
        [tree(part) for part in payload] if isinstance(payload, list) else payload,
        message.preamble,
        message.epilogue,
        [(type(defect).__name__, str(defect)) for defect in message.defects],
        message.get_unixfrom(),
        message.get_default_type(),
    )


def standard_tree(raw: bytes, headersonly: bool = False) -> tuple[Any, ...] | str:
    try:
        return tree(email.parser.BytesParser().parsebytes(raw, headersonly=headersonly))
    except RecursionError:
        return "RecursionError"


def our_tree(raw: bytes, headersonly: bool = False) -> tuple[Any, ...] | str:
    try:
        return tree(parse_bytes(raw, headersonly=headersonly))
    except RecursionError:
        return "RecursionError"


def test_the_fast_feed_parser_is_in_use() -> None:
    """On this Python the shortcuts apply; were they refused, parsing would only be slower."""
    assert _FeedParser is not email.feedparser.FeedParser


@pytest.mark.parametrize("path", MAILS, ids=lambda p: p.name)
def test_fixtures_parse_to_the_same_tree(path: Path) -> None:
    raw = path.read_bytes()
    assert our_tree(raw) == standard_tree(raw)
    assert our_tree(raw, headersonly=True) == standard_tree(raw, headersonly=True)


MIME_TOKENS = [
    "--b", "--b--", "--b--  ", "--b \t", "--bx", "--b-", "-- b", "--B", "--c", "--c--", "\r\n",
    "\n", "\r", "\r\r\n", "", "text", " ", "Content-Type: multipart/mixed; boundary=b",
    "Content-Type: multipart/alternative; boundary=\"c\"", "Content-Type: message/rfc822",
    "Content-Type: text/plain", "Content-Type: multipart/mixed", "Content-Type: multipart/mixed;"
    " boundary=\"a.b(c)+*?[x]$^\\\\\"", "--a.b(c)+*?[x]$^\\", "--a.b(c)+*?[x]$^\\--",
    "Content-Type: message/delivery-status", "Subject: x", "From nobody", " folded",
    "Content-Transfer-Encoding: base64", "\udcff",
]  # fmt: skip


@st.composite
def mime_like(draw: st.DrawFn) -> bytes:
    """Header lines, boundaries and line breaks in any order: nested, unclosed, doubled."""
    lines = draw(st.lists(st.sampled_from(MIME_TOKENS), max_size=40))
    breaks = draw(st.lists(st.sampled_from(["\r\n", "\n", "\r", ""]), min_size=len(lines)))
    text = "".join(line + brk for line, brk in zip(lines, breaks, strict=False))
    return text.encode("ascii", "surrogateescape")


@FUZZ
@given(st.one_of(mime_like(), st.binary(max_size=2000)))
def test_mime_soup_parses_to_the_same_tree(raw: bytes) -> None:
    assert our_tree(raw) == standard_tree(raw)


def test_a_mail_longer_than_one_feed_is_the_same() -> None:
    part = "--b\r\nContent-Type: text/plain\r\n\r\n" + "line of text\r\n" * 2000
    raw = ("Content-Type: multipart/mixed; boundary=b\r\n\r\n" + part * 3 + "--b--\r\n").encode()
    assert our_tree(raw) == standard_tree(raw)


BOUNDARY_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"


@FUZZ
@given(
    st.text(alphabet="ab-.()*+?[]$^\\ \t=_|{}", min_size=1, max_size=12),
    st.lists(st.text(alphabet="ab-.\\ \t\r\nx", max_size=6), max_size=12),
)
def test_boundary_line_matches_as_the_compiled_pattern(boundary: str, tails: list[str]) -> None:
    separator = "--" + boundary
    source = "(?P<sep>" + re.escape(separator) + BOUNDARY_TAIL
    compiled = re.compile(source)
    fast = _FeedParserRe.compile(source)
    assert isinstance(fast, _BoundaryLine)
    for tail in tails:
        for line in (separator + tail, tail, separator[:-1] + tail):
            expected, got = compiled.match(line), fast.match(line)
            assert (got is None) == (expected is None), line
            if expected is not None and got is not None:
                for group in (0, 1, 2, 3, 4, "sep", "end", "ws", "linesep"):
                    assert got.group(group) == expected.group(group)
                assert got.group("end", "linesep") == expected.group("end", "linesep")


def test_other_patterns_are_compiled_as_usual() -> None:
    assert isinstance(_FeedParserRe.compile("(?P<sep>x)$"), re.Pattern)
    assert isinstance(_FeedParserRe.compile("(?P<sep>--b" + BOUNDARY_TAIL, re.I), re.Pattern)
    assert _FeedParserRe.escape("a.b") == re.escape("a.b")
    assert _FeedParserRe().sub is re.sub


@pytest.mark.parametrize(
    "text",
    ["", "a", "\n", "\r", "\r\n", "x\r\n", "x\n", "x\r", "x\n\r", "\r\n\r\n", "x\r\r", "ab\nc"],
)
def test_final_line_break_is_found_as_by_searching_everything(text: str) -> None:
    pattern = re.compile(r"(\r\n|\r|\n)\Z")
    expected, got = pattern.search(text), _FinalLineBreak(pattern).search(text)
    if expected is None:
        assert got is None
    else:
        assert got is not None and (got.group(0), got.span()) == (
            expected.group(0),
            expected.span(),
        )


ADDRESS_PIECES = [
    "a", "Bo", "x.y", "..", ".", "@", "@@", "<", ">", ",", '"', '""', '"A, B"', '"a\\"b"', " ",
    "  ", "\t", "\r\n ", "(c)", ":", ";", "[1]", "\\", "=?utf-8?B?5byg?=", "\udce4", "张",
    "\u3000", "\xa0", "\x1c", "é", "<a@b.c>", "a@b.c", " <a@b.c>", "x.y@z", "<>",
]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(ADDRESS_PIECES), max_size=12))
def test_addresses_split_as_the_standard_library_splits_them(pieces: list[str]) -> None:
    raw = "".join(pieces)
    assert split_addresses(raw) == email.utils.getaddresses([raw])


@pytest.mark.parametrize(
    "raw",
    [
        "", "a@b.c", " a@b.c ", "张三 <zhang@163.example>", '"Li, Wei" <li@x.example>',
        "=?utf-8?B?5byg5LiJ?= <z@x.example>", "a@b.c, Bo <b@c.d>,c@d.e", '"" x <a@b>',
        "J. R. Smith\t<j.r@s.example>", "<a@b.c>", "a.@b.c", "a@b..c", "a @b.c", "\u3000@b.c",
    ],
)  # fmt: skip
def test_common_address_headers_split_as_the_standard_library_splits_them(raw: str) -> None:
    assert split_addresses(raw) == email.utils.getaddresses([raw])


def reference_everyday_ratio(text: str, codec: str) -> float:
    """The original loop: encode each character in the codec's core set, look at its lead."""
    core, leads = _EVERYDAY[codec]
    wide = [c for c in text[:8000] if ord(c) > 127][:2000]
    if not wide:
        return 0.0
    hits = 0
    for char in wide:
        try:
            first = char.encode(core)[0]
        except UnicodeEncodeError:
            continue
        hits += any(low <= first <= high for low, high in leads)
    return hits / len(wide)


@pytest.mark.parametrize("codec", sorted(_EVERYDAY))
def test_everyday_ratio_counts_as_encoding_each_character(codec: str) -> None:
    samples = [
        "", "ascii only", "我的账户被锁定了，请尽快处理。", "我們的帳戶", "こんにちは、カタカナ",
        "￠￡¬‖−～¢£¬", "¢£¬‖−〜 and ½ é 𠀀 \U0001f600", "谢" * 2500 + "é" * 10,
        "x" * 7990 + "我们" * 20, "囧" * 3 + "的" * 3,
    ]  # fmt: skip
    for text in samples:
        assert _everyday_ratio(text, codec) == reference_everyday_ratio(text, codec), text[:20]


def test_clean_line_removes_exactly_the_control_characters() -> None:
    def reference(text: str) -> str:
        text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)
        return re.sub(r"\s+", " ", text).strip()

    every = "".join(chr(c) for c in range(0x110000))
    for start in range(0, len(every), 4096):
        chunk = every[start : start + 4096]
        assert clean_line(chunk) == reference(chunk)
    for text in ["a  b", " a ", "a\tb", "a\u3000 b", "\x85x", "ok", "", "a\udce4b", "x\u2028y"]:
        assert clean_line(text) == reference(text)


@pytest.mark.parametrize(
    "content_type",
    [
        None, "text/plain", "text/plain; charset=UTF-8", 'text/plain; charset="gb2312"',
        "text/plain; charset=utf-8; format=flowed; delsp=yes", "text/plain; CHARSET=Big5",
        "text/plain; charset*=utf-8''gb2312", "text/plain; charset*=bogus''abc",
        "text/plain; charset*=utf-8''%E4%B8%AD", "text/plain; charset=\udce4",
        "application/pdf; name*0*=utf-8''%E8%AF%B4; name*1=.pdf", 'image/png; name="a.png"',
        "text/plain; charset", "text/plain;; charset=;", "text/plain; charset=utf-8\r\n format=f",
    ],
)  # fmt: skip
def test_content_params_answer_as_get_param(content_type: str | None) -> None:
    part = email.message.Message()
    if content_type is not None:
        part["Content-Type"] = content_type
    params = ContentParams(part)
    for name in ("charset", "name", "format", "delsp", "missing"):
        assert params.get(name) == part.get_param(name)
    assert params.charset() == part.get_content_charset()
