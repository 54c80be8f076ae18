"""Values out of the way people write them, normalised so a later mail can be compared, and
the rule-defined fields read from one mail.

Mobile numbers become `+8613812345678` (`contacts`), amounts `1200.50` (yuan, `amounts`),
dates `2026-11-24` or `2026-11-24 15:00` (`dates`), e-mail addresses lower-case in their
domain. Full-width digits and letters (１３８, ＴＸ) are read as their ASCII forms first
(`text`). Every finder returns matches in text order and never raises.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterator, Sequence
from datetime import datetime

from mailticket.completeness.amounts import _amounts
from mailticket.completeness.contacts import _emails, _mobiles
from mailticket.completeness.dates import _datetimes
from mailticket.completeness.normalise import simplified
from mailticket.completeness.patterns import Pattern
from mailticket.completeness.references import labelled_codes
from mailticket.completeness.rules import Field
from mailticket.completeness.text import Found, fold_width, ignorecase_key
from mailticket.model import Attachment

# --- rule-defined fields ----------------------------------------------------------------------


def pattern_values(text: str, patterns: Sequence[Pattern]) -> list[Found]:
    """The `value` group of an admin's pattern, else its first group, else the whole match."""
    return _pattern_values(fold_width(text), patterns)


def _pattern_values(folded: str, patterns: Sequence[Pattern]) -> list[Found]:
    found = [
        Found(start, value.strip())
        for pattern in patterns
        for start, value in pattern.values(folded)
        if value.strip()
    ]
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
        if field.labels:
            values = sorted([*values, *labelled_codes(folded, field.labels)], key=lambda f: f.start)
    else:
        raise KeyError(kind)
    return values[0].value if values else None
