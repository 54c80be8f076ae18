"""Normalisation before matching: traditional Chinese and pinyin slips meet the rules' phrases."""

from __future__ import annotations

import pytest

from mailticket.completeness.extract import caseless, phrase_positions
from mailticket.completeness.normalise import PINYIN_LIMIT, pinyin_key, simplified
from mailticket.completeness.rules import load_rules
from mailticket.completeness.score import classify
from mailticket.config_sections import BUILTIN_RULES

RULES = load_rules(BUILTIN_RULES)


def test_traditional_is_read_as_simplified_with_the_same_length() -> None:
    text = "我的帳戶被鎖住，無法登入"
    assert simplified(text) == "我的帐户被锁住，无法登录"
    assert len(caseless(text)) == len(text)


def test_ascii_is_left_alone() -> None:
    assert simplified("Top-up NOT credited") == "Top-up NOT credited"


def test_a_traditional_phrase_is_found_where_it_was_written() -> None:
    text = "您好，提現一直沒到帳"
    assert list(phrase_positions(text, ["提现"])) == [(3, "提现")]


@pytest.mark.parametrize(
    ("written", "meant"),
    [("冲值", "充值"), ("体现", "提现"), ("登陆", "登录"), ("chong zhi", "充值"), ("帐号", "账号")],
)
def test_homophones_share_a_pinyin_key(written: str, meant: str) -> None:
    assert pinyin_key(written) == pinyin_key(meant)


def test_different_words_do_not_share_a_key() -> None:
    assert pinyin_key("提现") != pinyin_key("充值")


def test_the_pinyin_key_reads_a_bounded_prefix() -> None:
    assert len(pinyin_key("a" * (PINYIN_LIMIT * 3))) == PINYIN_LIMIT


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("我的提現申請三天了還沒到帳", "withdrawal_delayed"),
        ("帳戶被鎖住，無法登入", "account_locked"),
        ("昨天冲值500没到帐", "topup_not_credited"),
        ("wo zuotian tixian le, dao xianzai hai mei daozhang", "withdrawal_delayed"),
    ],
)
def test_traditional_and_pinyin_complaints_get_their_category(text: str, category: str) -> None:
    assert classify(RULES, text).category.id == category


def test_a_pinyin_match_says_so_in_the_hits() -> None:
    hits = [h for h in classify(RULES, "昨天冲值500没到帐").hits if not h.startswith("example ")]
    assert hits and all(hit.endswith("(pinyin)") for hit in hits)


def test_english_without_topic_still_goes_to_the_catch_all() -> None:
    assert classify(RULES, "Hello, I have a question about your company.").category.catch_all
