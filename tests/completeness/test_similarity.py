"""Similarity to example complaints: traditional and simplified, pinyin and Chinese meet."""

from __future__ import annotations

from mailticket.completeness.rules import load_rules
from mailticket.completeness.score import SIMILAR_FLOOR, classify, opening
from mailticket.completeness.similarity import ExampleIndex, grams
from mailticket.config_sections import BUILTIN_RULES

RULES = load_rules(BUILTIN_RULES)

INDEX = ExampleIndex(
    {
        "topup": [
            "银行卡扣款了但是钱包余额没有增加",
            "my card was charged but the balance is the same",
        ],
        "locked": ["我的账号被封了，登录不了", "my account is blocked and I cannot sign in"],
    }
)


def test_traditional_and_simplified_share_grams() -> None:
    assert grams("帳號被鎖") & grams("账号被锁")


def test_a_homophone_typed_by_an_input_method_meets_the_example() -> None:
    close = INDEX.closest("我的帐号被疯了")  # 疯 for 封
    assert close["locked"][0] > close["topup"][0]


def test_a_mail_is_closest_to_the_example_of_its_kind() -> None:
    close = INDEX.closest("銀行卡已經扣款，錢包餘額沒有增加")
    assert close["topup"][0] > 0.3 > close["locked"][0]
    assert close["topup"][1] == 0


def test_an_unrelated_mail_is_close_to_nothing() -> None:
    # below the floor at which similarity starts to count as evidence
    assert all(score < SIMILAR_FLOOR for score, _ in INDEX.closest("nice weather").values())


def test_the_opening_is_the_subject_and_first_sentence() -> None:
    assert opening("账户被锁\n我登录不了。后来还想提现也不行。") == "账户被锁\n我登录不了。"


def test_a_passing_withdrawal_mention_in_a_locked_account_complaint_stays_locked() -> None:
    result = classify(RULES, "账户被锁了\n我的账号突然登录不了，提示异常。现在钱也不能提现了。")
    assert result.category.id == "account_locked"


def test_a_complaint_with_none_of_the_phrases_is_read_by_its_examples() -> None:
    result = classify(RULES, "I put money in my e-wallet with my card and the bank took it")
    assert result.category.id == "topup_not_credited"
    assert any(hit.startswith("example ") for hit in result.hits)
