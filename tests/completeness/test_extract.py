"""Normalisers on the way customers really write: Chinese and English, full-width digits,
grouped numbers, Chinese numerals, relative dates."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailticket.completeness.amounts import _AMOUNTS, amounts, chinese_number
from mailticket.completeness.contacts import emails, mobiles
from mailticket.completeness.dates import _DATES, datetimes
from mailticket.completeness.extract import (
    caseless,
    find_field,
    find_fields,
    pattern_values,
    phrase_positions,
    phrases_found,
)
from mailticket.completeness.patterns import compile_pattern
from mailticket.completeness.rules import Bilingual, Field
from mailticket.completeness.text import _WIDTH, fold_width, ignorecase_key
from mailticket.model import Attachment

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The mail was written on Wednesday 25 November 2026, 10:00 in Shanghai.
WRITTEN = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


def values(found: list) -> list[str]:
    return [f.value for f in found]


def test_full_width_forms_fold_to_ascii_without_moving_anything() -> None:
    text = "账号：１３８　１２３４　５６７８，单号ＴＸ１２３，金额￥５００"
    folded = fold_width(text)
    assert folded == "账号:138 1234 5678,单号TX123,金额¥500"
    assert len(folded) == len(text)


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "我的账号是13812345678，谢谢",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "138-1234-5678",
        "138 1234 5678",
        "(+86)13812345678",
        "0086 13812345678",
        "8613812345678",
        "手机：１３８１２３４５６７８",
        "Registered phone: +86 138 1234 5678.",
    ],
)
def test_mobile_numbers_in_every_common_shape(text: str) -> None:
    assert values(mobiles(text)) == ["+8613812345678"]


@pytest.mark.parametrize(
    "text",
    [
        "1381234567",  # ten digits
        "138123456789",  # twelve
        "12812345678",  # no mobile starts 12
        "TX13812345678",  # inside an id
        "订单 2026112415300001",
        "6222021234567890123",  # a card number
    ],
)
def test_things_that_are_not_mobile_numbers(text: str) -> None:
    assert mobiles(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My HK number +852 9123 4567", "+85291234567"),
        ("Macau +853 6612 3456", "+85366123456"),
        ("台灣手機 +886 912 345 678", "+886912345678"),
        ("registered with +65 8123 4567", "+6581234567"),
        ("phone +60 12-345 6789", "+60123456789"),
        ("my globe +63 917 123 4567", "+639171234567"),
        ("mobile +91 98765 43210", "+919876543210"),
        ("line +234 803 123 4567", "+2348031234567"),
    ],
)
def test_international_mobiles_with_their_country_code(text: str, expected: str) -> None:
    assert values(mobiles(text)) == [expected]


def test_a_mainland_mobile_comes_before_another_region_s() -> None:
    text = "HK +852 9123 4567, registered 13812345678"
    assert values(mobiles(text)) == ["+8613812345678", "+85291234567"]


def test_a_number_of_a_region_the_desk_does_not_serve_is_not_read() -> None:
    assert mobiles("call me on +44 7911 123456") == []


def test_email_addresses_keep_the_local_part_and_lower_the_domain() -> None:
    text = "绑定邮箱Zhang.Wei+okw@QQ.COM，备用 li_na@163.example。"
    assert values(emails(text)) == ["Zhang.Wei+okw@qq.com", "li_na@163.example"]
    assert emails("no address @ here") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("¥1,200.50", "1200.50"),
        ("￥1200", "1200.00"),
        ("充值了1200元", "1200.00"),
        ("1200.5 RMB", "1200.50"),
        ("RMB 88", "88.00"),
        ("CNY 1,000,000", "1000000.00"),
        ("人民币300元", "300.00"),
        ("一千二百元", "1200.00"),
        ("一千二元", "1200.00"),
        ("两万五千块", "25000.00"),
        ("三百五十元", "350.00"),
        ("壹仟贰佰元整", "1200.00"),
        ("1.2万元", "12000.00"),
        ("5千元", "5000.00"),
        ("充值了５００元", "500.00"),
        ("￥９９.９", "99.90"),
        ("金额：300", "300.00"),
        ("amount: 45.5", "45.50"),
        ("I topped up 500 yuan", "500.00"),
        ("50块钱", "50.00"),
    ],
)
def test_amounts(text: str, expected: str) -> None:
    assert values(amounts(text))[:1] == [expected]


@pytest.mark.parametrize(
    "text",
    ["2026年11月24日", "我们一块儿去", "13812345678", "TX2026112415300001", "第3次", "万元户"],
)
def test_numbers_without_a_currency_are_not_amounts(text: str) -> None:
    assert amounts(text) == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("一", 1),
        ("十", 10),
        ("十五", 15),
        ("二十四", 24),
        ("一百零五", 105),
        ("一千零五", 1005),
        ("一千二百", 1200),
        ("一千二", 1200),
        ("三百五", 350),
        ("两万五", 25000),
        ("一万二千", 12000),
        ("三亿", 300_000_000),
    ],
)
def test_chinese_numerals(text: str, number: int) -> None:
    assert chinese_number(text) == number


@pytest.mark.parametrize("text", ["", "零", "一二", "百万x", "abc"])
def test_not_chinese_numbers(text: str) -> None:
    assert chinese_number(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24 15:30", "2026-11-24 15:30"),
        ("2026/11/24 15:30:12", "2026-11-24 15:30"),
        ("2026.11.24", "2026-11-24"),
        ("2026年11月24日下午3点", "2026-11-24 15:00"),
        ("２０２６年１１月２４日 下午３点", "2026-11-24 15:00"),
        ("11月24号晚上8点20分", "2026-11-24 20:20"),
        ("11月24日上午10点半", "2026-11-24 10:30"),
        ("11月24日中午12点", "2026-11-24 12:00"),
        ("11月24日凌晨12点", "2026-11-24 00:00"),
        ("十一月二十四日", "2026-11-24"),
        ("24/11/2026", "2026-11-24"),
        ("11/24/2026", "2026-11-24"),
        ("03/04/2026", "2026-04-03"),
        ("24.11.2026", "2026-11-24"),
        ("Nov 24, 2026 at 3:30 pm", "2026-11-24 15:30"),
        ("on 24th November 2026, 09:05", "2026-11-24 09:05"),
        ("24 Nov", "2026-11-24"),
        ("昨天", "2026-11-24"),
        ("昨天下午3点半", "2026-11-24 15:30"),
        ("昨晚8点", "2026-11-24 20:00"),
        ("前天", "2026-11-23"),
        ("大前天上午九点", "2026-11-22 09:00"),
        ("yesterday at 3pm", "2026-11-24 15:00"),
        ("yesterday around 3:30 p.m.", "2026-11-24 15:30"),
        ("the day before yesterday", "2026-11-23"),
        ("今天上午9点", "2026-11-25 09:00"),
        ("12月3日", "2025-12-03"),  # no year, and later this year: last year's
    ],
)
def test_dates_and_times(text: str, expected: str) -> None:
    assert values(datetimes(text, WRITTEN))[:1] == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "今天",  # "I am writing today" is not when it happened
        "I am writing today about my top-up",
        "2026-12-24",  # after the mail: not when anything happened
        "31/02/2026",
        "TX2026112415300001",
        "版本 1200.5.6",
        "13812345678",
    ],
)
def test_no_date(text: str) -> None:
    assert datetimes(text, WRITTEN) == []


def test_relative_dates_count_from_the_mail_not_the_clock() -> None:
    january = datetime(2027, 1, 1, 9, 0, tzinfo=SHANGHAI)
    assert values(datetimes("昨天下午", january)) == ["2026-12-31"]
    assert values(datetimes("12月30日", january)) == ["2026-12-30"]


def test_a_date_is_not_followed_by_an_unrelated_number_as_its_time() -> None:
    assert values(datetimes("2026年11月24日下午3点 500元", WRITTEN)) == ["2026-11-24 15:00"]
    assert values(datetimes("11月24日 500元", WRITTEN)) == ["2026-11-24"]


def test_pattern_values_take_the_value_group_then_the_first_group_then_the_match() -> None:
    named = [compile_pattern(r"单号\s*:?\s*(?P<x>x)?(?P<value>[A-Z0-9]{6,})")]
    first = [compile_pattern(r"(?i)(?:^|[^A-Za-z0-9])(TX\d{6,})")]
    whole = [compile_pattern(r"WD\d{6,}")]
    text = "交易单号：ＴＸ２０２６１１２４ 还有 WD123456"
    assert values(pattern_values(text, named)) == ["TX20261124"]
    assert values(pattern_values(text, first)) == ["TX20261124"]
    assert values(pattern_values(text, whole)) == ["WD123456"]


def test_phrases_match_whole_english_words_and_any_chinese_substring() -> None:
    found = dict(
        (p, s)
        for s, p in phrase_positions(
            "My account is UNLOCKED? 账户被锁定", ["locked", "账户被锁定", "ACCOUNT"]
        )
    )
    assert set(found) == {"账户被锁定", "ACCOUNT"}


# --- every kind of field ----------------------------------------------------------------------


def make_field(kind: str, **extra: Any) -> Field:
    text = Bilingual("标签", "label")
    return Field(id="f", kind=kind, label=text, hint=text, weight=1, required=True, **extra)


PNG = Attachment("shot.png", "image/png", 70, "a" * 64, inline=True)
PDF = Attachment("bill.pdf", "application/pdf", 900, "b" * 64)
TX_PATTERN = compile_pattern(r"(TX\d+)")
HUGE = Attachment("huge.png", "image/png", 10**9, "c" * 64, too_large=True)


@pytest.mark.parametrize(
    ("field", "subject", "text", "attachments", "expected"),
    [
        (make_field("mobile"), "", "手机 138-1234-5678", (), "+8613812345678"),
        (make_field("email"), "", "邮箱 A@B.EXAMPLE", (), "A@b.example"),
        (make_field("amount"), "充值500元没到账", "金额是五百元", (), "500.00"),
        (make_field("datetime"), "", "昨天下午3点充值", (), "2026-11-24 15:00"),
        (
            make_field("pattern", patterns=(compile_pattern(r"(TX\d+)"),)),
            "",
            "单号TX123",
            (),
            "TX123",
        ),
        (make_field("keyword", keywords=("支付宝", "Alipay")), "", "paid by alipay", (), "Alipay"),
        (make_field("attachment", types=("image/*",)), "", "", (PDF, PNG), "shot.png"),
        (make_field("attachment", types=("application/pdf",)), "", "", (PNG, PDF), "bill.pdf"),
        (
            make_field("description", min_length=10),
            "",
            "账户 被锁定了，不知道为什么啊",
            (),
            "账户 被锁定了，不知道为什么啊",
        ),
    ],
)
def test_each_kind_of_field_is_found(
    field: Field, subject: str, text: str, attachments: tuple, expected: str
) -> None:
    assert find_field(field, subject, text, attachments, WRITTEN) == expected


@pytest.mark.parametrize(
    ("field", "text", "attachments"),
    [
        (make_field("mobile"), "没有号码", ()),
        (make_field("amount"), "充值了很多钱", ()),
        (make_field("keyword", keywords=("支付宝",)), "用微信付的", ()),
        (make_field("attachment", types=("image/*",)), "", (PDF,)),
        (make_field("attachment", types=("image/*",)), "", (HUGE,)),  # not kept: ask again
        (make_field("description", min_length=20), "太 短 了", ()),
    ],
)
def test_each_kind_of_field_is_missing(field: Field, text: str, attachments: tuple) -> None:
    assert find_field(field, "", text, attachments, WRITTEN) is None


def test_a_long_description_is_shortened() -> None:
    value = find_field(make_field("description", min_length=5), "", "很长" * 100, (), WRITTEN)
    assert value is not None and len(value) == 61 and value.endswith("…")


@given(st.text(max_size=300))
def test_normalisers_never_raise_and_folding_keeps_length(text: str) -> None:
    assert len(fold_width(text)) == len(text)
    for found in (mobiles(text), emails(text), amounts(text), datetimes(text, WRITTEN)):
        assert all(isinstance(f.value, str) and f.value for f in found)


# --- the shortcuts keep the answers -----------------------------------------------------------

# Values and words the finders and rules look for, a piece a line, with the characters that fold
# or change case in unusual ways (İ ı ſ K, full-width forms).
_LINES = """
一千二百元|1,200.50 RMB|¥500|￥５００|金额：300|AMOUNT of 300|5块|块儿|8圆|9 yuan
人民币 20|CNY 7|1.2万元|2026-11-24|2026年11月24日|24/11/2026|11月24号|十一月二十日
24th November|Nov 24, 2026|Dec. 1st|ſep 3|3 ſept|昨天|前天|大前天|今天|TODAY|yesterday
the day before yesterday|this morning|last night|tonight|昨晚|下午3点|3:15 pm|晚上8点半
138-1234-5678|+86|１３８１２３４５６７８|a@b.example|账户被锁定|locked|UNLOCKED|Locked-out
充值|top-up|topped up|：|İ|ı|K
"""
_PIECES = (*"|".join(_LINES.strip().splitlines()).split("|"), " ", "\n", "，", "x", "9")
_texts = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join) | st.text(max_size=80)


@given(_texts)
def test_fold_width_is_the_character_table(text: str) -> None:
    assert fold_width(text) == text.translate(_WIDTH)


def test_ignorecase_key_knows_every_character_that_matches_an_ascii_letter() -> None:
    everything = "".join(map(chr, range(0x80, 0x110000)))
    for letter in "abcdefghijklmnopqrstuvwxyz":
        for char in re.findall(letter, everything, re.IGNORECASE):
            assert ignorecase_key(char) == letter, hex(ord(char))


def assert_words_in_every_match(text: str) -> None:
    folded = fold_width(text)
    key = ignorecase_key(folded)
    for pattern, words in (*_AMOUNTS, *_DATES):
        if words is not None and pattern.search(folded):
            assert words.search(key), pattern.pattern


@pytest.mark.parametrize("text", _PIECES)
def test_the_words_looked_for_first_are_in_every_piece_that_matches(text: str) -> None:
    assert_words_in_every_match(text)


@given(_texts)
def test_the_words_looked_for_first_are_in_every_match(text: str) -> None:
    assert_words_in_every_match(text)


def _phrase_positions_plainly(text: str, phrases: list[str]) -> list[tuple[int, str]]:
    folded = text.translate(_WIDTH).lower()
    found = []
    for phrase in phrases:
        needle = phrase.translate(_WIDTH).lower()
        if needle.isascii():
            match = re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", folded)
            start = match.start() if match else -1
        else:
            start = folded.find(needle)
        if start >= 0:
            found.append((start, phrase))
    return found


@given(_texts)
def test_phrases_are_found_as_by_searching_each_one(text: str) -> None:
    phrases = ["locked", "LOCKED OUT", "账户被锁定", "top-up", "topped up", "ſep", "k", "１３８"]
    assert list(phrase_positions(text, phrases)) == _phrase_positions_plainly(text, phrases)
    found = phrases_found(caseless(text), tuple(phrases))
    assert found == [phrase for _, phrase in _phrase_positions_plainly(text, phrases)]


@given(_texts, _texts)
def test_find_fields_is_find_field_of_each(subject: str, text: str) -> None:
    fields = [make_field(kind) for kind in ("mobile", "email", "amount", "datetime")] + [
        make_field("pattern", patterns=(compile_pattern(r"(?i)(TX\d+)"),)),
        make_field("keyword", keywords=("Locked", "充值", "top-up")),
        make_field("description", min_length=8),
        make_field("attachment", types=("image/*",)),
    ]
    expected = [find_field(f, subject, text, (PNG,), WRITTEN) for f in fields]
    assert find_fields(fields, subject, text, (PNG,), WRITTEN) == expected


@given(st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2003\u3000ab账", max_size=40))
def test_a_description_counts_the_characters_that_are_not_whitespace(text: str) -> None:
    words = " ".join(text.split())
    long_enough = len(re.sub(r"\s", "", words)) >= 5
    value = find_field(make_field("description", min_length=5), "", text, (), WRITTEN)
    assert (value is not None) == long_enough


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("paid on ſep 3", "2026-09-03"),
        ("yeſterday at 10:00", "2026-11-23"),
        ("3 ſept", "2026-09-03"),
    ],
)
def test_look_alike_letters_the_patterns_accept_never_make_dates_raise(text: str, day: str) -> None:
    [found] = datetimes(text, datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI))
    assert found.value.startswith(day)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("我琴日充值咗500蚊", "500.00 HKD"),
        ("I topped up RM50 just now", "50.00 MYR"),
        ("Rs 1,000 debited", "1000.00 INR"),
        ("2,000 pesos po", "2000.00 PHP"),
        ("top up of N20000", "20000.00 NGN"),
        ("提现2000到招商银行", "2000.00"),
        ("my withdrawal of 1500 is pending", "1500.00"),
    ],
)
def test_amounts_in_other_currencies_and_right_after_the_verb(text: str, value: str) -> None:
    assert [f.value for f in amounts(text)] == [value]


@pytest.mark.parametrize("text", ["提现3天了还没到", "withdrew 2 days ago", "提现5小时"])
def test_a_count_after_the_verb_is_no_amount(text: str) -> None:
    assert amounts(text) == []


MAIL_DATE = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("我琴日充值咗500蚊", "2026-11-26"),
        ("尋晚增值咗", "2026-11-26"),
        ("今朝開始登入唔到", "2026-11-27"),
        ("今天下午充值300元", "2026-11-27"),
        ("Recharged this morning", "2026-11-27"),
    ],
)
def test_cantonese_and_part_of_day_relative_dates(text: str, value: str) -> None:
    assert [f.value for f in datetimes(text, MAIL_DATE)] == [value]


def test_today_alone_is_still_not_when_it_happened() -> None:
    assert datetimes("今天写信问一下充值的事", MAIL_DATE) == []
