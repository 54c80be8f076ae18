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
_DIGITS = re.compile(r"\d[\d\s()-]{6,}")  # too few digits for any phone: skip the matcher
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)


def mobiles(text: str) -> list[Found]:
    """Mobile numbers as E.164 (`+8613812345678`, `+85291234567`): mainland numbers with or
    without +86, in groups or not, then mobiles of the other regions, each in text order."""
    return _mobiles(fold_width(text))


def _mobiles(folded: str) -> list[Found]:
    folded = folded[:_PHONE_LIMIT]
    if not _DIGITS.search(folded):
        return []
    found: list[tuple[bool, int, str]] = []
    matcher = phonenumbers.PhoneNumberMatcher(
        folded, "CN", leniency=phonenumbers.Leniency.VALID, max_tries=_MAX_NUMBERS
    )
    for match in matcher:
        number = match.number
        if number.country_code not in _COUNTRY_CODES:
            continue
        if phonenumbers.number_type(number) not in _MOBILE_TYPES:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        found.append((number.country_code != 86, match.start, e164))
    return [Found(start, e164) for _, start, e164 in sorted(found)]


def emails(text: str) -> list[Found]:
    return _emails(fold_width(text))


def _emails(folded: str) -> list[Found]:
    if "@" not in folded:
        return []
    return [Found(m.start(), f"{m.group(1)}@{m.group(2).lower()}") for m in _EMAIL.finditer(folded)]
