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
    return [Found(start, e164) for _, start, e164 in sorted(found)]


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
