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

from mailticket.extract import (
    amounts,
    chinese_number,
    datetimes,
    emails,
    find_field,
    fold_width,
    mobiles,
    pattern_values,
    phrase_positions,
)
from mailticket.model import Attachment
from mailticket.rules import Bilingual, Field

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
    named = [re.compile(r"单号\s*:?\s*(?P<x>x)?(?P<value>[A-Z0-9]{6,})")]
    first = [re.compile(r"(?i)(?<![A-Za-z0-9])(TX\d{6,})")]
    whole = [re.compile(r"WD\d{6,}")]
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
HUGE = Attachment("huge.png", "image/png", 10**9, "c" * 64, too_large=True)


@pytest.mark.parametrize(
    ("field", "subject", "text", "attachments", "expected"),
    [
        (make_field("mobile"), "", "手机 138-1234-5678", (), "+8613812345678"),
        (make_field("email"), "", "邮箱 A@B.EXAMPLE", (), "A@b.example"),
        (make_field("amount"), "充值500元没到账", "金额是五百元", (), "500.00"),
        (make_field("datetime"), "", "昨天下午3点充值", (), "2026-11-24 15:00"),
        (make_field("pattern", patterns=(re.compile(r"(TX\d+)"),)), "", "单号TX123", (), "TX123"),
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
