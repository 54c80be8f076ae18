"""Text as every finder reads it: full-width forms folded, a case-insensitive key, and the
`Found` value each finder returns. Kept apart so the finders (contacts, amounts, dates) share
one folding without importing each other."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
