"""Amounts out of the way people write them: ¥1,200.50, 1200元, 1.2万元, 一千二百元, 两千五块,
500蚊, RM 50, as `1200.50` (yuan) or `50.00 MYR` (another currency, kept with its code).

Chinese numerals are read by `cn2an`, which knows 零 and the implied unit (一千二 is 1200) and
the financial forms on receipts (壹仟贰佰), instead of a parser of our own.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal, InvalidOperation

from mailticket.completeness.text import Found, fold_width, ignorecase_key

# The characters of a Chinese numeral, for the patterns (cn2an reads what they match).
ZH_NUMERALS = "零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖十拾百佰千仟万萬亿"
_ZH_DIGIT_CHARS = frozenset("〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖")


def chinese_number(text: str) -> int | None:
    """一千二百 -> 1200, 一千二 -> 1200 (the unit after 千 is implied), 两万五 -> 25000,
    一千零五 -> 1005, 十五 -> 15; None for anything else, and for two digits in a row (一二),
    which is how people write a code, not an amount."""
    if not text or any(
        a in _ZH_DIGIT_CHARS and b in _ZH_DIGIT_CHARS for a, b in itertools.pairwise(text)
    ):
        return None
    import cn2an  # on first use: its import costs every command ~0.1 s otherwise

    try:
        value = cn2an.cn2an(text, "normal")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if value and value == int(value) else None


_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_YUAN = r"(?:元|块(?!儿)|圆|人民币|RMB|CNY|yuan)"
# Each pattern with the words it cannot match without, looked for first in the text's
# `ignorecase_key`: most mails have no amount, and the patterns are slow where they fail.
_AMOUNTS = (
    (
        re.compile(rf"(?:¥|RMB|CNY|人民币)\s?({_NUMBER})(?![\d.])", re.IGNORECASE),
        re.compile("¥|rmb|cny|人民币"),
    ),
    (
        re.compile(rf"(?<![\d.,])({_NUMBER})\s?(万|千)?\s?{_YUAN}", re.IGNORECASE),
        re.compile("元|块|圆|人民币|rmb|cny|yuan"),
    ),
    (
        re.compile(rf"(?:金额|amount)\s*(?:是|为|of|:|\s)\s*({_NUMBER})(?![\d.])", re.IGNORECASE),
        re.compile("金额|amount"),
    ),
    (re.compile(rf"([{ZH_NUMERALS}]+)\s?(?:元|块(?!儿)|圆)"), re.compile("元|块|圆")),
    # A bare number right after the verb of the complaint: 充值500, 提现了2000, topped up 300,
    # withdrawal of 1500; not a count of days or hours (提现3天).
    (
        re.compile(
            rf"(?:充值|充了|提现|取现|转出|top[- ]?up|topped up|recharged?|withdr[a-z]*(?: of)?)"
            rf"\s?了?\s?({_NUMBER})(?![\d.])(?!\s?(?:天|日|号|点|小时|个|days?|hours?|hrs?))",
            re.IGNORECASE,
        ),
        re.compile("充值|充了|提现|取现|转出|top|recharge|withdr"),
    ),
)
# Other currencies people pay in (the customer gave an amount; it is kept with its code, not
# read as yuan): a sign or code before the number, or a word after it.
_FOREIGN = {
    "rm": "MYR", "s$": "SGD", "hk$": "HKD", "nt$": "TWD", "$": "USD", "₱": "PHP", "php": "PHP",
    "rs": "INR", "rs.": "INR", "inr": "INR", "₹": "INR", "₦": "NGN", "n": "NGN",
    "蚊": "HKD", "港币": "HKD", "港元": "HKD", "台币": "TWD", "新台币": "TWD",
    "pesos": "PHP", "peso": "PHP", "rupees": "INR", "naira": "NGN", "ringgit": "MYR",
    "sgd": "SGD", "hkd": "HKD", "myr": "MYR", "ngn": "NGN", "twd": "TWD", "usd": "USD",
    "dollars": "USD",
}  # fmt: skip
_FOREIGN_AMOUNTS = (
    re.compile(
        rf"(?<![A-Za-z0-9])(RM|S\$|HK\$|NT\$|\$|₱|PHP|Rs\.?|INR|₹|₦|N)\s?({_NUMBER})(?![\d.])",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?<![\d.,])({_NUMBER})\s?(蚊|港币|港元|新台币|台币|pesos?|rupees|naira|ringgit"
        rf"|SGD|HKD|MYR|NGN|TWD|USD|PHP|INR|dollars)(?![A-Za-z])",
        re.IGNORECASE,
    ),
)


def amounts(text: str) -> list[Found]:
    """Yuan amounts written with a currency word or sign: ¥1,200.50, 1200元, 1200.5 RMB,
    1.2万元, 一千二百元, 金额：300; as `1200.50`."""
    folded = fold_width(text)
    return _amounts(folded, ignorecase_key(folded))


def _amounts(folded: str, key: str) -> list[Found]:
    found: dict[int, str] = {}
    for pattern, words in _AMOUNTS:
        if not words.search(key):
            continue
        for match in pattern.finditer(folded):
            value = _amount(match)
            if value is not None:
                found.setdefault(match.start(), value)
    for index, pattern in enumerate(_FOREIGN_AMOUNTS):
        for match in pattern.finditer(folded[:_FOREIGN_LIMIT]):
            marker, number = match.groups() if index == 0 else match.groups()[::-1]
            code = _FOREIGN.get(marker.lower())
            if code and number.replace(",", "").replace(".", "").isdigit():
                value = str(Decimal(number.replace(",", "")).quantize(Decimal("0.01")))
                if Decimal(value) > 0:
                    found.setdefault(match.start(), f"{value} {code}")
    return [Found(start, value) for start, value in sorted(found.items())]


_FOREIGN_LIMIT = 20_000  # characters of a mail searched for other currencies


def _amount(match: re.Match[str]) -> str | None:
    number = match.group(1)
    if number[0] in ZH_NUMERALS:
        value = chinese_number(number)
        amount = Decimal(value) if value else None
    else:
        try:
            amount = Decimal(number.replace(",", ""))
        except InvalidOperation:
            return None
        multiplier = match.group(2) if match.re.groups > 1 else None
        if multiplier:
            amount *= chinese_number("一" + multiplier) or 1
    if not amount or amount <= 0:
        return None
    return str(amount.quantize(Decimal("0.01")))
