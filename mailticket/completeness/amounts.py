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
_YUAN = r"(?:元|块(?!儿)|圆|人民币|RMB|CNY|yuan|kuai(?![a-z]))"
# Each pattern with the words it cannot match without, looked for first in the text's
# `ignorecase_key`: most mails have no amount, and the patterns are slow where they fail.
_AMOUNTS = (
    (
        re.compile(rf"(?:¥|RMB|CNY|人民币)\s?({_NUMBER})(?!\d|\.\d)", re.IGNORECASE),
        re.compile("¥|rmb|cny|人民币"),
    ),
    (
        re.compile(rf"(?<![\d.,])({_NUMBER})\s?(万|千)?\s?{_YUAN}", re.IGNORECASE),
        re.compile("元|块|圆|人民币|rmb|cny|yuan|kuai"),
    ),
    (
        re.compile(
            rf"(?:金额|amount|(?<![a-z])jin ?e)\s*(?:是|为|of|:|\s)?\s*({_NUMBER})(?!\d|\.\d)",
            re.IGNORECASE,
        ),
        re.compile("金额|amount|jin ?e"),
    ),
    (re.compile(rf"([{ZH_NUMERALS}]+)\s?(?:元|块(?!儿)|圆)"), re.compile("元|块|圆")),
    # A bare number right after the verb of the complaint: 充值500, 提现了2000, 取了三千,
    # 冲直了500 (an input-method slip), topped up 300, withdrawal of 1500; not a count of
    # days, hours or times (提现3天, 打了3次).
    (
        re.compile(
            rf"(?:(?:[充冲存付取提转打汇][值直现款钱账]?|加钱|加值|增值|入)[了咗]?"
            rf"|top[- ]?up|topped up|recharged?|withdr[a-z]*(?: of)?|loaded|paid|deposited"
            rf"|transferred|cashed (?:in|out)|cash (?:in|out)(?: of)?)"
            rf"\s?了?\s?({_NUMBER}|[{ZH_NUMERALS}]{{2,}})(?!\d|\.\d|\s?[kK万千](?![a-z]))"
            rf"(?!\s?(?:天|日|号|點|点|小时|小時|个|個|次|遍|周|週|年|月|分|%|days?|hours?|hrs?"
            rf"|times?|weeks?))",
            re.IGNORECASE,
        ),
        re.compile(
            "充|冲|存|付|取|提|转|打|汇|加|增值|入|top|recharge|withdr|loaded|paid|deposited"
            "|transferred|cash"
        ),
    ),
    # A bare number right before the verb: 钱包里的1500转出到银行卡, 把2000提现.
    (
        re.compile(r"(?<![A-Za-z0-9.,:/-])(\d{2,7})(?=转出|提现|充值|取出|转到|转入|提出)"),
        re.compile("转出|提现|充值|取出|转到|转入|提出"),
    ),
    # 1.2万, 1万3, 2千 without a unit: a sum of money in a complaint about one.
    (
        re.compile(r"(?<![\d.])(?<!\d,)(\d{1,4}(?:\.\d{1,2})?\s?[万千])(\d)?(?![\d万千])"),
        re.compile("万|千"),
    ),
    # 5k, 2.5k, 15K: a thousand.
    (
        re.compile(r"(?<![A-Za-z0-9.])(?<!\d,)(\d{1,4}(?:\.\d{1,2})?)\s?k(?![a-z])", re.IGNORECASE),
        re.compile("k"),
    ),
    # 3,000 or 12,500.00: digits grouped by thousands are a sum of money.
    (
        re.compile(r"(?<![A-Za-z0-9.])(?<!\d,)(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?)(?![\d,]|\.\d)"),
        re.compile(","),
    ),
)
_BARE = 4  # the patterns from here on read a number without any currency
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
        rf"(?<![A-Za-z0-9])(RM|S\$|HK\$|NT\$|\$|₱|PHP|Rs\.?|INR|₹|₦|N)\s?({_NUMBER})(?!\d|\.\d)",
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
    """Each number read as an amount once, by where it stands: with a yuan sign or word, else
    with another currency's, else by its place or shape alone (after the verb, 1万3, 5k)."""
    found: dict[int, str] = {}
    _yuan_amounts(folded, key, _AMOUNTS[:_BARE], found)
    for index, pattern in enumerate(_FOREIGN_AMOUNTS):
        for match in pattern.finditer(folded[:_FOREIGN_LIMIT]):
            marker, number = match.groups() if index == 0 else match.groups()[::-1]
            code = _FOREIGN.get(marker.lower())
            plain = number.replace(",", "")
            if code and plain.replace(".", "").isdigit() and 0 < Decimal(plain) < _TOO_LARGE:
                value = str(Decimal(plain).quantize(Decimal("0.01")))
                found.setdefault(match.start(2 if index == 0 else 1), f"{value} {code}")
    _yuan_amounts(folded, key, _AMOUNTS[_BARE:], found)
    return [Found(start, value) for start, value in sorted(found.items())]


def _yuan_amounts(
    folded: str, key: str, patterns: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...],
    found: dict[int, str],
) -> None:  # fmt: skip
    for pattern, words in patterns:
        if not words.search(key):
            continue
        for match in pattern.finditer(folded):
            value = _amount(match)
            if value is not None:
                found.setdefault(match.start(1), value)


_FOREIGN_LIMIT = 20_000  # characters of a mail searched for other currencies


def _amount(match: re.Match[str]) -> str | None:
    number = match.group(1)
    if number[0] in ZH_NUMERALS:
        value = chinese_number(number)
        amount = Decimal(value) if value else None
    elif number[-1] in "万千":  # 1.2万, 1万3 (cn2an reads the implied unit of the 3)
        import cn2an  # on first use, as in chinese_number

        try:
            read = cn2an.cn2an(number.replace(" ", "") + (match.group(2) or ""), "smart")
        except (ValueError, KeyError, IndexError):
            return None
        amount = Decimal(str(read))
    else:
        try:
            amount = Decimal(number.replace(",", ""))
        except InvalidOperation:
            return None
        multiplier = match.group(2) if match.re.groups > 1 else None
        if multiplier:
            amount *= chinese_number("一" + multiplier) or 1
        elif match.re.pattern.endswith("k(?![a-z])"):
            amount *= 1000
    # Not a sum of money but a run of digits (two phone numbers written together): no
    # complaint is about more than a billion, and a longer number cannot keep its cents.
    if not amount or amount <= 0 or amount >= _TOO_LARGE:
        return None
    return str(amount.quantize(Decimal("0.01")))


_TOO_LARGE = Decimal(10) ** 9
