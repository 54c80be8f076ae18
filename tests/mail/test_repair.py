"""Header blocks that are not quite RFC 5322 (issue 15, kind 1): mended and recorded, and a
well-formed block is never touched."""

from __future__ import annotations

import pytest

from mailticket.mail.parse import ParseError, parse
from mailticket.mail.repair import (
    BANNER,
    BARE_FOLD,
    SPACE_BEFORE_COLON,
    needs_repair,
    repair_header_block,
)

GOOD = b"From: a@b.example\r\nSubject: hi\r\n folded\r\n\r\nbody\r\nNot: a header\r\n"


def test_a_well_formed_block_comes_back_unchanged() -> None:
    defects: list[str] = []
    assert repair_header_block(GOOD, defects) == GOOD
    assert defects == []


def test_the_body_below_the_block_is_never_mended() -> None:
    raw = b"Subject : x\nFrom: a@b.example\n\nbody line\nTo : not a header\n"
    defects: list[str] = []
    mended = repair_header_block(raw, defects)
    assert mended == b"Subject: x\nFrom: a@b.example\n\nbody line\nTo : not a header\n"
    assert defects == [SPACE_BEFORE_COLON]


def test_banner_and_bare_fold_are_mended_together() -> None:
    raw = b"*** scanned ***\nFrom: a@b.example\nSubject: one\ntwo\nTo: c@d.example\n\nbody\n"
    defects: list[str] = []
    mended = repair_header_block(raw, defects)
    assert mended == b"From: a@b.example\nSubject: one\n two\nTo: c@d.example\n\nbody\n"
    assert defects == [BANNER, BARE_FOLD]
    mail = parse(raw)
    assert (mail.subject, mail.from_addr, mail.text) == ("one two", "a@b.example", "body")


def test_an_mbox_line_is_told_from_a_from_field() -> None:
    assert needs_repair("From : a@b.example")
    assert not needs_repair("From joe@company.example Fri Feb 19 08:41:30 2010")
    assert not needs_repair(None)


def test_a_long_header_block_is_mended_within_its_cap() -> None:
    raw = b"Subject : x\n" + b"X-Pad: " + b"a" * 400_000 + b"\n\nbody\n"
    mail = parse(raw)
    assert mail.subject == "x"
    assert mail.text == "body"


@pytest.mark.parametrize("raw", [b"\x00\x01 binary junk, no headers\r\n", b"\x89PNG\r\n\x1a\n"])
def test_binary_input_without_headers_is_still_refused(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


def test_text_without_headers_is_read_as_the_body() -> None:
    mail = parse("充值没有到账\nNote: TX123\n".encode())
    assert mail.text == "充值没有到账\nNote: TX123"
    assert mail.from_addr == ""
    assert any("没有邮件头" in d for d in mail.defects)
