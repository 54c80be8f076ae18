"""Encoded words that break RFC 2047 (issue 15, kind 3) and senders as people mistype them
(kind 2), read for what they say."""

from __future__ import annotations

import pytest

from mailticket.mail.headers import (
    LENIENT_SENDER,
    REPLACEMENT_DROPPED,
    decode_header_value,
    first_address,
)


def _raw(data: bytes) -> str:
    """A header as the compat32 parser hands it over: 8-bit bytes as surrogates."""
    return data.decode("ascii", "surrogateescape")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("=?UTF-8?Q? Personal=C3=A4nderung?=", "Personaländerung"),
        ("Re: =?UTF-8?Q?Konto gesperrt?= heute", "Re: Konto gesperrt heute"),
        ("=?utf-8?B?5YWF5YC8 5pyq5Yiw6LSm?=", "充值未到账"),
        (_raw("=?iso-8859-1?Q?Gr\xfc=DFe?=".encode("latin-1")), "Grüße"),
        (_raw("=?utf-8?Q?Gr\u00fc=C3=9Fe?=".encode()), "Grüße"),
        (_raw("=?gbk?Q?\u5145\u503c?=".encode("gbk")), "充值"),
    ],
)
def test_broken_encoded_words_are_read(raw: str, text: str) -> None:
    assert decode_header_value(raw, []) == text


def test_a_question_mark_still_ends_an_encoded_word() -> None:
    assert decode_header_value("=?utf-8?Q?a?= b? =?utf-8?Q?c?=") == "a b? c"


@pytest.mark.parametrize(
    ("raw", "name", "address"),
    [
        ("Chen Jing chenjing@foxmail.example", "Chen Jing", "chenjing@foxmail.example"),
        ("tim@power.example concierge@power.example", "", "tim@power.example"),
    ],
)
def test_a_sender_without_brackets_keeps_its_address(raw: str, name: str, address: str) -> None:
    defects: list[str] = []
    assert first_address(raw, defects) == (name, address, False)  # kept, never answered
    assert defects == [LENIENT_SENDER]


def test_an_empty_local_part_is_no_address() -> None:
    defects: list[str] = []
    assert first_address('"x" <>', defects) == ("", "", False)
    assert defects == ["no usable address in From / From 中没有可用的地址"]


@pytest.mark.parametrize(
    ("raw", "name", "address"),
    [
        ("Mail Delivery Subsystem <MAILER-DAEMON>", "Mail Delivery Subsystem", "MAILER-DAEMON"),
        ("MAILER-DAEMON", "", "MAILER-DAEMON"),
        ("Wang <wang wei@163.example>", "Wang", '"wang wei"@163.example'),
        ('<"anna  berg"@Outlook.Example>', "", '"anna berg"@outlook.example'),
    ],
)
def test_an_address_the_strict_parser_drops_is_kept_marked_invalid(
    raw: str, name: str, address: str
) -> None:
    defects: list[str] = []
    assert first_address(raw, defects) == (name, address, False)
    assert len(defects) == 1
    assert address in defects[0]


def test_replacement_characters_written_by_the_sender_are_dropped_from_a_header() -> None:
    defects: list[str] = []
    raw = "Impress your clients \udcef\udcbf\udcbd\udcef\udcbf\udcbd now"
    assert decode_header_value(raw, defects) == "Impress your clients now"
    assert defects == [REPLACEMENT_DROPPED]
