"""Values out of the way people write them, normalised so a later mail can be compared.

Mobile numbers become `+8613812345678`, amounts `1200.50` (yuan), dates `2026-11-24` or
`2026-11-24 15:00` (the desk's local time), e-mail addresses lower-case in their domain.
Full-width digits and letters (１３８, ＴＸ) are read as their ASCII forms first. Relative dates
("昨天", "yesterday") count from the mail's own date, never from the clock. Every finder returns
matches in text order and never raises.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from mailticket.completeness.normalise import simplified
from mailticket.completeness.rules import Field
from mailticket.model import Attachment

# Full-width ASCII (U+FF01-FF5E), the ideographic space and the full-width yen sign map one
# character to one, so positions found in folded text are positions in the original.
_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0xFFE5: 0xA5}
_WIDE = re.compile("[\uff01-\uff5e\u3000\uffe5]")
_NARROW = {chr(wide): chr(narrow) for wide, narrow in _WIDTH.items()}


def fold_width(text: str) -> str:
    """１２３ -> 123, ＴＸ -> TX, ： -> :, ￥ -> ¥; same length as the input."""
    if text.isascii():
        return text
    # A mail uses a handful of distinct full-width characters (，：（）); replacing each of them
    # is several times faster than `str.translate`, which looks up every character of the text.
    for wide in set(_WIDE.findall(text)):
        text = text.replace(wide, _NARROW[wide])
    return text


# The only characters besides ASCII letters that re.IGNORECASE matches to an ASCII letter.
_LIKE_ASCII = re.compile("[\u0130\u0131\u017f\u212a]")  # İ ı ſ K
_ASCII_OF = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def ignorecase_key(text: str) -> str:
    """`text` lower-cased so that wherever a case-insensitive pattern of ASCII letters and
    uncased characters (Chinese, digits, signs) matches in `text`, the letters it matched are
    in the key in lower case, as plain words: a cheap search for a pattern's words in the key
    tells when it cannot match. (İ lower-cases to two characters and ſ to itself, though the
    pattern `i` matches İ and `s` matches ſ: they become i and s first.)"""
    if not text.isascii() and _LIKE_ASCII.search(text):
        text = text.translate(_ASCII_OF)
    return text.lower()


@dataclass(frozen=True)
class Found:
    start: int
    value: str


# --- mobile numbers and e-mail addresses ------------------------------------------------------

_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+])(?:\(?(?:\+|00)\s?86\)?[\s-]?|86[\s-]?)?"
    r"(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?![0-9A-Za-z])"
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)


def mobiles(text: str) -> list[Found]:
    """Mainland mobile numbers, with or without +86, in 3-4-4 groups or not."""
    return _mobiles(fold_width(text))


def _mobiles(folded: str) -> list[Found]:
    return [Found(m.start(), "+86" + "".join(m.groups())) for m in _MOBILE.finditer(folded)]


def emails(text: str) -> list[Found]:
    return _emails(fold_width(text))


def _emails(folded: str) -> list[Found]:
    if "@" not in folded:
        return []
    return [Found(m.start(), f"{m.group(1)}@{m.group(2).lower()}") for m in _EMAIL.finditer(folded)]


# --- amounts ----------------------------------------------------------------------------------

_ZH_DIGITS = dict(zip("零一二三四五六七八九", range(10), strict=True)) | {"〇": 0, "两": 2}
_ZH_DIGITS |= dict(zip("壹贰叁肆伍陆柒捌玖", range(1, 10), strict=True))  # as on receipts
_ZH_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_ZH_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000}
ZH_NUMERALS = "".join((*_ZH_DIGITS, *_ZH_UNITS, *_ZH_BIG))


def chinese_number(text: str) -> int | None:
    """一千二百 -> 1200, 一千二 -> 1200 (the unit after 千 is implied), 两万五 -> 25000,
    一千零五 -> 1005, 十五 -> 15; None for anything else."""
    total = section = 0
    digit: int | None = None
    last_unit = 1
    for char in text:
        if char in _ZH_DIGITS:
            if digit is not None:  # two digits in a row: not a number as people write amounts
                return None
            digit = _ZH_DIGITS[char]
            if digit == 0:
                last_unit, digit = 1, None  # 零: what follows is ones
        elif char in _ZH_UNITS:
            section += (1 if digit is None else digit) * _ZH_UNITS[char]
            last_unit, digit = _ZH_UNITS[char], None
        elif char in _ZH_BIG:
            total += (section + (digit or 0)) * _ZH_BIG[char]
            section, digit, last_unit = 0, None, _ZH_BIG[char]
        else:
            return None
    if digit is not None:
        section += digit * (last_unit // 10 if last_unit >= 100 else 1)
    value = total + section
    return value or None


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
            amount *= _ZH_BIG.get(multiplier) or _ZH_UNITS[multiplier]
    if not amount or amount <= 0:
        return None
    return str(amount.quantize(Decimal("0.01")))


# --- dates and times --------------------------------------------------------------------------

_ZH_SMALL = "零〇一二两三四五六七八九十"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_WORD = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# Each pattern with the words it cannot match without (None: digits are enough), looked for
# first in the text's `ignorecase_key`, as for `_AMOUNTS`.
_MONTH_STEMS = re.compile("|".join(_MONTHS))
_DATES = (
    (
        re.compile(
            r"(?<!\d)(?P<y>\d{4})\s*[-/.年]\s*(?P<mo>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})(?!\d)\s*[日号號]?"
        ),
        None,
    ),
    (
        re.compile(
            r"(?<![\d/.-])(?P<d>\d{1,2})(?P<sep>[/.-])(?P<mo>\d{1,2})(?P=sep)(?P<y>\d{4})(?!\d)"
        ),
        None,
    ),
    (
        re.compile(
            rf"(?<![\d年])(?P<mo>\d{{1,2}}|[{_ZH_SMALL}]{{1,3}})\s*月\s*"
            rf"(?P<d>\d{{1,2}}|[{_ZH_SMALL}]{{1,3}})\s*[日号號]"
        ),
        re.compile("月"),
    ),
    (
        re.compile(
            rf"(?<![A-Za-z\d])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_WORD}"
            r"(?![A-Za-z])(?:,?\s+(?P<y>\d{4}))?",
            re.IGNORECASE,
        ),
        _MONTH_STEMS,
    ),
    (
        re.compile(
            rf"(?<![A-Za-z]){_MONTH_WORD}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?![\d:])(?:,?\s+(?P<y>\d{{4}}))?",
            re.IGNORECASE,
        ),
        _MONTH_STEMS,
    ),
    (
        re.compile(
            r"(?P<rel>大前天|前天|前日|昨天|昨日|昨晚|今天|今日|今早|今晚|今朝|琴日|寻晚|尋晚|啱啱"
            r"|the day before yesterday|yesterday|today|this morning|this afternoon"
            r"|this evening|last night|tonight|just now)",
            re.IGNORECASE,
        ),
        re.compile(
            "前天|前日|昨|今|琴日|寻晚|尋晚|啱啱|yesterday|today|this morning|this afternoon"
            "|this evening|last night|tonight|just now"
        ),
    ),
)
_RELATIVE_DAYS = {
    "大前天": 3,
    "前天": 2,
    "昨天": 1,
    "昨日": 1,
    "昨晚": 1,
    "今天": 0,
    "今日": 0,
    "今早": 0,
    "今晚": 0,
    "the day before yesterday": 2,
    "yesterday": 1,
    "today": 0,
    "this morning": 0,
    "last night": 1,
    "tonight": 0,
    # Cantonese: 琴日 yesterday, 尋晚 last night, 前日 the day before yesterday, 今朝 this
    # morning, 啱啱 just now
    "前日": 2,
    "今朝": 0,
    "琴日": 1,
    "寻晚": 1,
    "尋晚": 1,
    "啱啱": 0,
    "this afternoon": 0,
    "this evening": 0,
    "just now": 0,
}
# A relative day that says only "today": mostly "I am writing today", not when it happened,
# unless a part of the day or a clock time follows (今天下午, today at 3pm).
_BARE_TODAY = ("今天", "今日", "today")
_PART_OF_DAY = re.compile(
    r"\s*(?:的)?\s*(?:凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|半夜|morning|afternoon|evening)",
    re.IGNORECASE,
)
_TIME = re.compile(
    rf"\s*(?:的|at|around|about|约|大约|大概|,|，)?\s*"
    r"(?P<period>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|半夜)?\s*"
    r"(?:(?P<h>\d{1,2})\s*:\s*(?P<m>\d{2})(?::\d{2})?"
    rf"|(?P<zh_h>\d{{1,2}}|[{_ZH_SMALL}]{{1,3}})\s*[点點时時]"
    rf"(?:(?P<zh_m>\d{{1,2}}|[{_ZH_SMALL}]{{1,3}})(?!\d)\s*分?|(?P<half>半))?"
    r"|(?P<en_h>\d{1,2})(?=\s*[ap]\.?m(?![a-z])))"
    r"(?:\s*(?P<ampm>[ap])\.?m(?![a-z])\.?)?",
    re.IGNORECASE,
)
_AFTERNOON = ("下午", "傍晚", "晚上", "夜里")


def datetimes(text: str, reference: datetime) -> list[Found]:
    """Dates, with the time when one follows, as `2026-11-24 15:00` or `2026-11-24`.

    `reference` is when the mail was written (in the desk's zone): "昨天" is the day before it,
    a date without a year is its most recent past occurrence, and dates after it are ignored
    (nobody complains about a payment they have not made yet). 24/11/2026 is day/month/year
    unless the month would be over 12.
    """
    folded = fold_width(text)
    return _datetimes(folded, ignorecase_key(folded), reference)


def _datetimes(folded: str, key: str, reference: datetime) -> list[Found]:
    today = reference.date()
    found: list[Found] = []
    taken: list[tuple[int, int]] = []
    for pattern, words in _DATES:
        if words is not None and not words.search(key):
            continue
        for match in pattern.finditer(folded):
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue
            day = _date(match, today)
            if day is None or day > today:
                continue
            end, clock = _time_after(folded, match.end(), match.group(0))
            if clock is None and _bare_today(match, folded):
                continue
            taken.append((match.start(), end))
            value = day.isoformat() + (f" {clock[0]:02d}:{clock[1]:02d}" if clock else "")
            found.append(Found(match.start(), value))
    return sorted(found, key=lambda f: f.start)


def _bare_today(match: re.Match[str], folded: str) -> bool:
    rel = match.groupdict().get("rel")
    if not rel or ignorecase_key(rel) not in _BARE_TODAY:
        return False
    return not _PART_OF_DAY.match(folded, match.end(), match.end() + 12)


def _small(number: str) -> int | None:
    return int(number) if number.isdigit() else chinese_number(number)


def _date(match: re.Match[str], today: date) -> date | None:
    groups = match.groupdict()
    if groups.get("rel"):
        # ignorecase_key, not lower(): the pattern matched "yeſterday" and "thİs morning" too
        return today - timedelta(days=_RELATIVE_DAYS[ignorecase_key(groups["rel"])])
    day = _small(groups["d"])
    month = (
        _MONTHS.index(ignorecase_key(groups["mon"])[:3]) + 1
        if groups.get("mon")
        else _small(groups["mo"])
    )
    if day is None or month is None:
        return None
    if groups.get("sep") and month > 12 >= day:  # 11/24/2026 written month first
        day, month = month, day
    year = int(groups["y"]) if groups.get("y") else today.year
    if year < 2000:
        return None
    try:
        result = date(year, month, day)
    except ValueError:
        return None
    if not groups.get("y") and result > today:
        try:
            result = date(year - 1, month, day)
        except ValueError:  # 29 February
            return None
    return result


def _time_after(text: str, position: int, date_text: str) -> tuple[int, tuple[int, int] | None]:
    """The time of day written right after a date, and where it ends."""
    match = _TIME.match(text, position)
    implied = "晚上" if date_text in ("昨晚", "今晚") else None
    if match is None:
        return position, None
    groups = match.groupdict()
    hour = _small(groups["h"] or groups["zh_h"] or groups["en_h"] or "")
    minute = 30 if groups["half"] else _small(groups["m"] or groups["zh_m"] or "0")
    if hour is None or minute is None:
        return position, None
    period = groups["period"] or implied
    ampm = (groups["ampm"] or "").lower()
    afternoon = period in _AFTERNOON or ampm == "p" or (period == "中午" and hour < 11)
    if afternoon and hour < 12:
        hour += 12
    elif (period in ("凌晨", "半夜") or ampm == "a") and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return position, None
    return match.end(), (hour, minute)


# --- rule-defined fields ----------------------------------------------------------------------


def pattern_values(text: str, patterns: Sequence[re.Pattern[str]]) -> list[Found]:
    """The `value` group of an admin's pattern, else its first group, else the whole match."""
    return _pattern_values(fold_width(text), patterns)


def _pattern_values(folded: str, patterns: Sequence[re.Pattern[str]]) -> list[Found]:
    found = []
    for pattern in patterns:
        for match in pattern.finditer(folded):
            if "value" in pattern.groupindex:
                value, start = match.group("value"), match.start("value")
            elif pattern.groups:
                value, start = match.group(1), match.start(1)
            else:
                value, start = match.group(0), match.start()
            if value and value.strip():
                found.append(Found(start, value.strip()))
    return sorted(found, key=lambda f: f.start)


def phrase_positions(text: str, phrases: Sequence[str]) -> Iterator[tuple[int, str]]:
    """Where each phrase occurs first, without regard to case or width; English phrases only as
    whole words ("locked" is not in "unlocked")."""
    return phrases_in(caseless(text), phrases)


def caseless(text: str) -> str:
    """`text` as phrases are compared with it: full-width forms folded, traditional Chinese
    read as simplified (so 儲值/提領 meet a phrase written 储值/提领), lower case; the same
    length as `text`."""
    return simplified(fold_width(text)).lower()


def phrases_in(caseless_text: str, phrases: Sequence[str]) -> Iterator[tuple[int, str]]:
    """`phrase_positions` in a text already made `caseless`: the rules ask every phrase of every
    category of one text, which is normalised once for all of them."""
    for phrase in phrases:
        needle, word = _needle(phrase)
        # Most phrases are not in a mail: a plain substring search says so before any pattern.
        start = caseless_text.find(needle)
        if start >= 0 and word is not None:
            # A whole-word occurrence is one of the occurrences, none before the first.
            match = word.search(caseless_text, start)
            start = match.start() if match else -1
        if start >= 0:
            yield start, phrase


def phrases_found(caseless_text: str, phrases: Sequence[str]) -> list[str]:
    """The `phrases` in a text already made `caseless`, in their order: `phrase_positions`
    without the positions, for classifying (every phrase of every category of each mail)."""
    return [
        phrase
        for phrase, needle, word in _needles(tuple(phrases))
        if needle in caseless_text and (word is None or word.search(caseless_text))
    ]


@functools.lru_cache(maxsize=1024)
def _needles(
    phrases: tuple[str, ...],
) -> tuple[tuple[str, str, re.Pattern[str] | None], ...]:
    return tuple((phrase, *_needle(phrase)) for phrase in phrases)


@functools.lru_cache(maxsize=4096)
def _needle(phrase: str) -> tuple[str, re.Pattern[str] | None]:
    """A phrase folded once, and for English a compiled whole-word pattern: the rules ask the
    same few hundred phrases of every mail."""
    needle = caseless(phrase)
    if not needle.isascii():
        return needle, None
    return needle, re.compile(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])")


class MailText:
    """One mail's subject and new text as the finders read them, joined, folded and made
    caseless once: a category asks the same mail for every one of its fields."""

    def __init__(self, subject: str, text: str) -> None:
        self.text = text
        self.both = f"{subject}\n{text}" if subject else text

    @functools.cached_property
    def folded(self) -> str:
        return fold_width(self.both)

    @functools.cached_property
    def caseless(self) -> str:
        return self.folded.lower()

    @functools.cached_property
    def key(self) -> str:
        return ignorecase_key(self.folded)


def find_field(
    field: Field,
    subject: str,
    text: str,
    attachments: Sequence[Attachment],
    reference: datetime,
) -> str | None:
    """The first value of `field` in one mail (subject, then the customer's new text), or None."""
    return field_value(field, MailText(subject, text), attachments, reference)


def find_fields(
    fields: Sequence[Field],
    subject: str,
    text: str,
    attachments: Sequence[Attachment],
    reference: datetime,
) -> list[str | None]:
    """`find_field` of each of `fields` in one mail, its text normalised once for all."""
    mail = MailText(subject, text)
    return [field_value(field, mail, attachments, reference) for field in fields]


def field_value(
    field: Field, mail: MailText, attachments: Sequence[Attachment], reference: datetime
) -> str | None:
    """`find_field` in a `MailText`."""
    kind = field.kind
    if kind == "attachment":
        return next(
            (
                a.filename
                for a in attachments
                if not a.too_large and any(fnmatch.fnmatch(a.content_type, t) for t in field.types)
            ),
            None,
        )
    if kind == "description":
        parts = mail.text.split()
        # The words joined by single spaces: its characters other than whitespace are theirs.
        if sum(map(len, parts)) < field.min_length:
            return None
        words = " ".join(parts)
        return words if len(words) <= 60 else words[:60] + "…"
    if kind == "keyword":
        hits = min(phrases_in(mail.caseless, field.keywords), default=None)
        return hits[1] if hits else None
    folded = mail.folded
    if kind == "mobile":
        values = _mobiles(folded)
    elif kind == "email":
        values = _emails(folded)
    elif kind == "amount":
        values = _amounts(folded, mail.key)
    elif kind == "datetime":
        values = _datetimes(folded, mail.key, reference)
    elif kind == "pattern":
        values = _pattern_values(folded, field.patterns)
    else:
        raise KeyError(kind)
    return values[0].value if values else None
