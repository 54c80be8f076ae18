"""Secrets never reach the store; abusive language is flagged, nothing more."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailticket.completeness.guard import (
    _ABUSE,
    _ABUSE_WORDS,
    _SECRET_WORDS,
    _SECRETS,
    REDACTED,
    abusive_words,
    flags,
    luhn_valid,
    redact,
    redact_mail,
)
from mailticket.completeness.text import fold_width, ignorecase_key
from mailticket.model import InboundMail


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("我的登录密码是abc123，请帮我看看", "我的登录密码是[redacted]，请帮我看看", "password"),
        ("密码：Qwe@2026！", "密码：[redacted]！", "password"),
        ("my password is hunter22 and", "my password is [redacted] and", "password"),
        ("password: Secr3t!", "password: [redacted]", "password"),
        ("支付密码 123456", "支付密码 [redacted]", "payment_pin"),
        ("交易密码是６６８８９９", "交易密码是[redacted]", "payment_pin"),
        ("PIN code: 4321", "PIN code: [redacted]", "payment_pin"),
        ("验证码是 882910。", "验证码是 [redacted]。", "sms_code"),
        ("短信验证码：553311", "短信验证码：[redacted]", "sms_code"),
        ("my OTP is 445566", "my OTP is [redacted]", "sms_code"),
        ("the verification code was 102938", "the verification code was [redacted]", "sms_code"),
        ("CVV 123", "CVV [redacted]", "cvv"),
        ("卡背面安全码是 987", "卡背面安全码是 [redacted]", "cvv"),
        ("卡号 4111 1111 1111 1111 ", "卡号 [card ****1111] ", "card_number"),
        ("card 5555-5555-5555-4444.", "card [card ****4444].", "card_number"),
        ("银行卡6222021234567890128", "银行卡[card ****0128]", "card_number"),
    ],
)
def test_secrets_are_cut_and_named(text: str, expected: str, kind: str) -> None:
    result = redact(text)
    assert (result.text, result.kinds) == (expected, (kind,))


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111111111111111", True), ("6222021234567890128", True), ("4111111111111112", False)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    "text",
    [
        "我忘记密码了",
        "密码被锁定了，登录不了",
        "I did a password reset yesterday",
        "验证码收不到",
        "卡号 6222 0212 3456 7890 123",  # not Luhn-valid: not a card number
        "交易单号 4111111111111111",  # labelled as an order: kept
        "+86 138 1234 5678",
        "8613812345678",
        "TX2026112415300001",
        "20261124153000",  # a timestamp
        "尾号4242",
        REDACTED,
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text).text == text
    assert redact(text).kinds == ()


def test_several_secrets_in_one_mail_are_all_cut_in_a_fixed_order() -> None:
    result = redact("验证码 123456，卡 4111111111111111，支付密码 9999，CVV 321")
    assert REDACTED in result.text and "****1111" in result.text
    assert not any(secret in result.text for secret in ("123456", "9999", " 321"))
    assert result.kinds == ("payment_pin", "sms_code", "cvv", "card_number")


def test_redaction_is_idempotent() -> None:
    once = redact("我的密码是 abc12345，验证码 112233").text
    assert redact(once).text == once
    assert redact(once).kinds == ()


def test_a_mail_is_redacted_in_subject_text_and_quoted_history() -> None:
    mail = InboundMail(
        raw_sha256="a" * 64,
        size=10,
        message_id="<m@x>",
        in_reply_to=(),
        references=(),
        from_addr="c@x.example",
        from_name="",
        to=(),
        cc=(),
        subject="验证码 123456 收到了",
        date=None,
        text="卡号 4111 1111 1111 1111",
        quoted="> 我的登录密码是 abc123",
    )
    cleaned, kinds = redact_mail(mail)
    assert cleaned == replace(
        mail,
        subject="验证码 [redacted] 收到了",
        text="卡号 [card ****1111]",
        quoted="> 我的登录密码是 [redacted]",
    )
    assert kinds == ("password", "sms_code", "card_number")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("你们这群傻逼，去死吧", ("傻逼", "去死")),
        ("再不处理我就弄死你", ("弄死你",)),
        ("Your fucking app stole my money, idiots", ("fucking", "idiots")),
        ("I will come and kill you", ("kill you",)),
        ("请尽快处理，谢谢", ()),
        ("这个垃圾软件太慢了", ()),  # intemperate, but not abuse: no flag
        ("Scunthorpe shitake mushrooms", ()),
        ("I killed the app and restarted it", ()),
    ],
)
def test_abusive_language(text: str, words: tuple[str, ...]) -> None:
    assert abusive_words(text) == words


def test_flags_for_agents() -> None:
    assert flags("去死", ("sms_code",)) == (
        "abusive language: 去死",
        "secrets removed: sms_code",
    )
    assert flags("谢谢", ()) == ()


@given(st.text(max_size=300))
def test_redaction_never_raises_and_leaves_no_card_number(text: str) -> None:
    result = redact(text)
    assert redact(result.text).kinds == ()


# Insults, secrets and their look-alikes, a piece a line, with the characters a case-insensitive
# pattern matches to ASCII letters although they lower-case to something else (İ ı ſ K).
_LINES = """
傻逼|傻B|他妈的|去死|狗日的|fuck|FUCKING|ſhit|İdiot|ıdiot|KILL you|kill all of you
bomb your|burn your house down|bastards|moron|asshole|bitches|scumbag|Kill you
支付密码 123456|PIN码: 4321|pin number 8888|验证码是 882910|动态码 1234|verification code 102938
ſmſ code 5544|OTP 445566|one-time passcode 123456|CVV2 123|cvc 321|安全码 987|卡背面的三位数 555
登录密码是abc123|password: Secr3t|paſſword is hunter22|pwd=xyz123|İs|4111 1111 1111 1111
６６８８９９|订单 4111111111111111|13812345678
"""
_PIECES = (*"|".join(_LINES.strip().splitlines()).split("|"), " ", "\n", "，", "x", "9")
_texts = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join) | st.text(max_size=80)


def assert_words_in_every_match(text: str) -> None:
    folded = fold_width(text)
    key = ignorecase_key(folded)
    for kind, pattern in _SECRETS:
        if pattern.search(folded):
            assert _SECRET_WORDS[kind].search(key), kind
    if _ABUSE.search(folded):
        assert _ABUSE_WORDS.search(key)


@pytest.mark.parametrize("text", _PIECES)
def test_the_words_looked_for_first_are_in_every_piece_that_matches(text: str) -> None:
    assert_words_in_every_match(text)


@given(_texts)
def test_the_words_looked_for_first_are_in_every_match(text: str) -> None:
    assert_words_in_every_match(text)
