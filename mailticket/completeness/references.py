"""Payment references after the words that introduce them: 流水号 6228 4801 2233 9910,
參考編號 WD-2026-1120-3391, UTR no. 433012345678, Ref: PN20261123XK88.

Customers copy a reference from their bank, wallet or payment app, each with its own label
and format, and retype it with spaces or dashes. A pattern field's `labels` name the words; the
code written after one (letters and digits, in groups joined by spaces or dashes, with at least
four digits) is the value, with the spaces and dashes taken out so a retyped number compares
equal to the one in the app. Labels are matched like signal phrases: without regard to case or
width, traditional characters as simplified (參考編號 meets 参考编号), English ones as whole words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from mailticket.completeness.normalise import simplified
from mailticket.completeness.text import Found

# After the label: "no.", "number", "#", 号/码, then 是/为/: before the code.
_AFTER_LABEL = r"\s*(?:no\.?|number|num|nbr|#|号|码|碼)?\s*(?:是|为|為|係|:|#|=|-|\s+is|\s+was)?\s*"
# A code: a group of letters and digits, then groups joined by one space or dash that hold a
# digit (so "Ref no. 7E 2611 2198" goes on, "ref ABC123 and" stops before "and").
_CODE = r"(?P<value>[A-Za-z0-9]+(?:[ -](?=[A-Za-z]*\d)[A-Za-z0-9]+)*)"
_MIN_CHARACTERS = 6
_MIN_DIGITS = 4


@functools.lru_cache(maxsize=64)
def _labelled(labels: tuple[str, ...]) -> re.Pattern[str]:
    words = sorted({simplified(label).lower() for label in labels}, key=len, reverse=True)
    alternatives = "|".join(
        rf"(?<![a-z0-9]){re.escape(w)}(?![a-z])" if w.isascii() else re.escape(w) for w in words
    )
    return re.compile(f"(?:{alternatives}){_AFTER_LABEL}{_CODE}(?![A-Za-z0-9])", re.IGNORECASE)


def labelled_codes(folded: str, labels: Sequence[str]) -> list[Found]:
    """Each code written after one of `labels` in a text already width-folded, in text order,
    without its spaces and dashes."""
    if not labels:
        return []
    found = []
    # simplified() keeps the length: a position in it is a position in `folded`.
    for match in _labelled(tuple(labels)).finditer(simplified(folded)):
        start, end = match.span("value")
        code = re.sub(r"[ -]", "", folded[start:end])
        if len(code) >= _MIN_CHARACTERS and sum(c.isdigit() for c in code) >= _MIN_DIGITS:
            found.append(Found(start, code))
    return found
