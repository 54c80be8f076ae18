"""Dates and times out of the way people write them, as `2026-11-24` or `2026-11-24 15:00`
(the desk's local time). Relative dates ("昨天", "琴日", "yesterday") count from the mail's own
date, never from the clock; dates after it are ignored.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from mailticket.completeness.amounts import chinese_number
from mailticket.completeness.text import Found, fold_width, ignorecase_key

_ZH_SMALL = "零〇一二两三四五六七八九十"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_WORD = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# Each pattern with the words it cannot match without (None: digits are enough), looked for
# first in the text's `ignorecase_key`, as for `_AMOUNTS`.
_MONTH_STEMS = re.compile("|".join(_MONTHS))
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = rf"(?P<en_wd>{'|'.join(_WEEKDAYS)})"
_ZH_WEEKDAY = "一二三四五六日天1234567"
_EN_COUNT = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
}
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
            r"(?P<rel>大前天|前天|前日|前晚|昨天|昨日|昨晚|昨儿|今天|今日|今早|今晚|今朝|琴日|寻晚|尋晚"
            r"|啱啱|刚才|刚刚|剛才|剛剛"
            r"|the day before yesterday|yesterday|today|this morning|this afternoon"
            r"|this evening|last night|tonight|just now|(?<![a-z])(?:kahapon|semalam"
            r"|zuotian|zuo tian|zuowan|zuo wan|qiantian|qian tian)(?![a-z]))",
            re.IGNORECASE,
        ),
        re.compile(
            "前天|前日|前晚|昨|今|琴日|寻晚|尋晚|啱啱|刚|剛|yesterday|today|this morning"
            "|this afternoon|this evening|last night|tonight|just now|kahapon|semalam"
            "|zuo ?tian|zuo ?wan|qian ?tian"
        ),
    ),
    # 上周四, 上个礼拜五, 上個禮拜三, 这周一, 周日下午: a weekday of this or an earlier week.
    (
        re.compile(
            r"(?P<zh_back>上上个|上上個|上上|上个|上個|上|这个|這個|这|這|本)?\s*"
            r"(?:周|週|星期|礼拜|禮拜)(?P<zh_wd>[一二三四五六日天1-7])"
        ),
        re.compile("周|週|星期|礼拜|禮拜"),
    ),
    # last Sunday evening, on Wednesday, since Monday: the latest such day before the mail.
    (
        re.compile(
            rf"(?<![a-z])(?:(?P<en_back>last|this past|past)\s+)?{_WEEKDAY}(?![a-z])",
            re.IGNORECASE,
        ),
        re.compile("day"),
    ),
    # 3天前, 五日前, 5 days ago, two days ago
    (
        re.compile(
            rf"(?<![\d.])(?P<ago>\d{{1,2}}|[{_ZH_SMALL}]{{1,3}}|an?|one|two|three|four|five|six"
            r"|seven)\s*(?:天前|日前|(?<![a-z])days?\s+ago(?![a-z]))",
            re.IGNORECASE,
        ),
        re.compile("天前|日前|ago"),
    ),
    # 11/24, 23/11, 11.25 without a year: month first in Chinese mail, day first otherwise
    # (each only when the other order is impossible); never an amount (99.9元, RM3.50) or a
    # clock time (10.15pm) or a version (v2.3).
    (
        re.compile(
            r"(?<![\d/.:,A-Za-z$¥₹₱₦-])(?P<sa>\d{1,2})(?P<ssep>[/.])(?P<sb>\d{1,2})"
            r"(?![\d/:,]|\.\d|\s*(?:[%万千元块圆蚊kK]|[ap]\.?m(?![a-z])|号|號|日))"
        ),
        re.compile("[/.]"),
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
    "前晚": 2,
    "昨儿": 1,
    "刚才": 0,
    "刚刚": 0,
    "剛才": 0,
    "剛剛": 0,
    # Tagalog and Malay "yesterday", and the pinyin of a mail typed without characters
    "kahapon": 1,
    "semalam": 1,
    "zuotian": 1,
    "zuo tian": 1,
    "zuowan": 1,
    "zuo wan": 1,
    "qiantian": 2,
    "qian tian": 2,
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
_HAN = re.compile("[\u4e00-\u9fff]")
_EVENINGS = ("昨晚", "今晚", "前晚", "寻晚", "尋晚", "tonight", "last night")
_EVENING = re.compile(r"wan\b|[晚夜]")
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
    chinese = not folded.isascii() and _HAN.search(folded) is not None
    found: list[Found] = []
    taken: list[tuple[int, int]] = []
    for pattern, words in _DATES:
        if words is not None and not words.search(key):
            continue
        for match in pattern.finditer(folded):
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue
            day = _date(match, today, chinese)
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


def _date(match: re.Match[str], today: date, chinese: bool) -> date | None:
    groups = match.groupdict()
    if groups.get("rel"):
        # ignorecase_key, not lower(): the pattern matched "yeſterday" and "thİs morning" too
        return today - timedelta(days=_RELATIVE_DAYS[ignorecase_key(groups["rel"])])
    if groups.get("zh_wd"):
        return _zh_weekday(groups["zh_wd"], groups["zh_back"] or "", today)
    if groups.get("en_wd"):
        weekday = _WEEKDAYS.index(ignorecase_key(groups["en_wd"]))
        back = (today.weekday() - weekday) % 7 or (7 if groups.get("en_back") else 0)
        return today - timedelta(days=back)
    if groups.get("ago"):
        count = _EN_COUNT.get(ignorecase_key(groups["ago"])) or _small(groups["ago"])
        return today - timedelta(days=count) if count is not None and count <= 60 else None
    if groups.get("sa"):
        return _short_date(int(groups["sa"]), int(groups["sb"]), today, chinese)
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
    return _on_or_before(year, month, day, today, bool(groups.get("y")))


def _on_or_before(year: int, month: int, day: int, today: date, year_given: bool) -> date | None:
    """The date; without a year written, its latest occurrence not after `today`."""
    try:
        result = date(year, month, day)
    except ValueError:
        return None
    if not year_given and result > today:
        try:
            result = date(year - 1, month, day)
        except ValueError:  # 29 February
            return None
    return result


def _zh_weekday(written: str, back: str, today: date) -> date:
    """周四 is this week's Thursday when it has come (else last week's), 上周四 last week's,
    上上周四 the week before; weeks start on Monday, 周日/周天/星期7 ends them."""
    weekday = 6 if written in "日天7" else _ZH_WEEKDAY.index(written) % 7
    monday = today - timedelta(days=today.weekday())
    weeks = 2 if back.startswith("上上") else 1 if back.startswith("上") else 0
    result = monday - timedelta(weeks=weeks) + timedelta(days=weekday)
    if not back and result > today:
        result -= timedelta(weeks=1)
    return result


# A date written without a year and read either way is taken when it is this recent.
_RECENT = timedelta(days=92)


def _short_date(first: int, second: int, today: date, chinese: bool) -> date | None:
    """11/24 or 23/11: month first in a Chinese mail, day first in another, unless that order
    is impossible or not recent and the other one is."""
    orders = [(first, second), (second, first)]  # (month, day)
    if not chinese:
        orders.reverse()
    dates = [d for m, d_ in orders if (d := _on_or_before(today.year, m, d_, today, False))]
    recent = [d for d in dates if today - d <= _RECENT]
    chosen = recent or dates
    return chosen[0] if chosen else None


def _time_after(text: str, position: int, date_text: str) -> tuple[int, tuple[int, int] | None]:
    """The time of day written right after a date, and where it ends."""
    match = _TIME.match(text, position)
    implied = "晚上" if date_text in _EVENINGS or _EVENING.search(date_text) else None
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
