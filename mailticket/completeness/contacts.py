"""Mobile numbers and e-mail addresses, normalised so a later mail can be compared.

Phone numbers are read by `phonenumbers` (Google's libphonenumber metadata): it knows each
region's mobile ranges, trunk prefixes and groupings, which a hand regex for the mainland did
not, and customers register with numbers from Hong Kong, Macau, Taiwan, Singapore, Malaysia,
the Philippines, India and Nigeria. A number without a country code is read as mainland; the
mainland numbers come first, so the registered-number field still prefers them, but an
explicit +852 or +65 mobile counts.
"""

from __future__ import annotations

import re

import phonenumbers

from mailticket.completeness.text import Found, fold_width

# Country codes of the regions the desk's customers register from (+86 mainland first).
_COUNTRY_CODES = frozenset({86, 852, 853, 886, 65, 60, 63, 91, 234})
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_PHONE_LIMIT = 20_000  # characters of a mail searched for phone numbers
_MAX_NUMBERS = 20  # numbers read per mail: bounded time on a mail full of digits
# Where a number may be: seven or more digits with the separators people type (138.1234.5678)
_DIGITS = re.compile(r"\d[\d\s().-]{6,}")
_MARGIN = 8  # characters kept on each side of a run of digits
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)


def mobiles(text: str) -> list[Found]:
    """Mobile numbers as E.164 (`+8613812345678`, `+85291234567`): mainland numbers with or
    without +86, in groups or not, then mobiles of the other regions, each in text order."""
    return _mobiles(fold_width(text))


def _windows(folded: str) -> list[tuple[int, int]]:
    """The stretches around runs of digits, merged where they touch: the matcher's pattern is
    slow per character (it was 0.5 ms of a 2 ms mail reading the whole text), and a number is
    only ever found where digits are. The margin keeps the "+" or "(+" before a country code
    and the characters the matcher checks on either side."""
    windows: list[tuple[int, int]] = []
    for run in _DIGITS.finditer(folded):
        start, end = max(0, run.start() - _MARGIN), min(len(folded), run.end() + _MARGIN)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _mobiles(folded: str) -> list[Found]:
    folded = folded[:_PHONE_LIMIT]
    found: list[tuple[bool, int, str]] = []
    tries = _MAX_NUMBERS
    for start, end in _windows(folded):
        if tries <= 0:
            break
        matcher = phonenumbers.PhoneNumberMatcher(
            folded[start:end], "CN", leniency=phonenumbers.Leniency.VALID, max_tries=tries
        )
        for match in matcher:
            tries -= 1
            _keep_mobile(match, start, found)
    if not found:
        _local_mobiles(folded, found)
    return [Found(start, e164) for _, start, e164 in sorted(found)]


# Regions whose customers write their number without the country code (0912 345 678,
# 6123 4567), in the order an ambiguous number is read (0917… is a Philippine and an Indian
# mobile; India's ranges are the widest, so last).
_LOCAL_REGIONS = ("HK", "MO", "TW", "SG", "MY", "PH", "NG", "IN")
# Words before a number that say it is one: 手机 13…, 電話 6123 4567, My number 0917…
_LABEL_WORDS = (
    r"(?:手机|手機|电话|電話|联系|聯絡|号码|號碼|我的号|phone|mobile|mob|tel|cell|my number|contact"
    r"|whatsapp|viber)"
)
_PHONE_LABEL = re.compile(_LABEL_WORDS + r"\W{0,3}(?:\w{1,3}\W{1,2})?$", re.IGNORECASE)
_LABEL_REACH = 16  # characters before a number looked at for its label
_LOCAL_TRIES = 3  # stretches of digits tried in every region, at most, per mail
# A number in its national form: a leading 0 after a space or a sign, then groups of digits
# (0912-345-678, 0917 123 4567); not the 05 of 2026-11-05.
_TRUNK = re.compile(r"(?<![A-Za-z0-9+.:/-])0\d{1,4}[\s-]?\d{3,4}[\s-]?\d{3,4}(?!\d)")


def _local_mobiles(folded: str, found: list[tuple[bool, int, str]]) -> None:
    """Mobiles of the other regions written without their country code, when nothing else
    was found: only after a phone label or in the national form with its leading 0, since a
    bare run of eight digits (a reference, 88002233) is a valid Singapore mobile too."""
    seen: set[int] = set()
    tried = 0
    for start, end in _windows(folded):
        if found or tried >= _LOCAL_TRIES:
            return  # the first local mobile is the one the field takes
        if not any(
            _TRUNK.match(folded, run.start())
            or _PHONE_LABEL.search(folded[max(0, run.start() - _LABEL_REACH) : run.start()])
            for run in _DIGITS.finditer(folded, start, end)
        ):
            continue  # no run of digits after a label or with a leading 0: no region tried
        tried += 1
        for region in _LOCAL_REGIONS:
            matcher = phonenumbers.PhoneNumberMatcher(
                folded[start:end], region, leniency=phonenumbers.Leniency.VALID, max_tries=4
            )
            for match in matcher:
                where = start + match.start
                before = folded[max(0, where - _LABEL_REACH) : where]
                trunk = match.raw_string.startswith("0")
                if where in seen or not (trunk or _PHONE_LABEL.search(before)):
                    continue
                count = len(found)
                _keep_mobile(match, start, found)
                if len(found) > count:
                    seen.add(where)


def _keep_mobile(
    match: phonenumbers.PhoneNumberMatch, offset: int, found: list[tuple[bool, int, str]]
) -> None:
    """Note a matched number when it is a mobile of one of the desk's regions."""
    number = match.number
    if number.country_code not in _COUNTRY_CODES:
        return
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    found.append((number.country_code != 86, offset + match.start, e164))


def emails(text: str) -> list[Found]:
    return _emails(fold_width(text))


def _emails(folded: str) -> list[Found]:
    if "@" not in folded:
        return []
    return [Found(m.start(), f"{m.group(1)}@{m.group(2).lower()}") for m in _EMAIL.finditer(folded)]
