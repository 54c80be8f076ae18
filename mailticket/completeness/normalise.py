"""Text as the rules compare it: traditional Chinese read as simplified, and a pinyin key that
lets an input-method slip (冲值 for 充值, 体现 for 提现, 帐号 for 账号) or a pinyin-only mail
("chongzhi mei daozhang") still meet a phrase.

Both come from well-kept libraries rather than tables of our own: OpenCC knows the
traditional/simplified pairs and the Taiwan/Hong Kong vocabulary (登入 -> 登录), pypinyin the
readings. The simplified form keeps the text's length, so positions found in it are positions in
the original; the pinyin key does not and is only used to say whether a phrase is there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import opencc

# Longest text given to pypinyin: it is per character, but a mail is untrusted input.
PINYIN_LIMIT = 4000


@functools.cache
def _converters() -> tuple[opencc.OpenCC, opencc.OpenCC]:
    # tw2sp also turns Taiwan words into mainland ones (登入 -> 登录); t2s is the plain
    # character conversion, used when a phrase conversion would change the text's length.
    import opencc  # here, not at the top: commands that never score skip its load

    return opencc.OpenCC("tw2sp"), opencc.OpenCC("t2s")


@functools.cache
def _lazy_pinyin() -> Callable[[str], list[str]]:
    """pypinyin's reader, imported on first use: its dictionaries cost ~0.3 s and ~50 MB at
    import, which `tickets list` or `status` would otherwise pay for nothing."""
    from pypinyin import lazy_pinyin

    return lazy_pinyin


def load_readers() -> None:
    """Load OpenCC and pypinyin now: a daemon does at start, so its first complaint does not
    wait ~0.75 s for them (commands that never score leave them unloaded)."""
    _converters()
    _lazy_pinyin()


def simplified(text: str) -> str:
    """`text` with traditional characters (and Taiwan vocabulary where it keeps the length)
    read as simplified; ASCII text is returned as it is, cheaply."""
    if text.isascii():
        return text
    for converter in _converters():
        converted: str = converter.convert(text)
        if len(converted) == len(text):
            return converted
    return text


# Runs up to this length are remembered: a complaint's short Chinese runs (充值, 没有到账, 提现)
# recur across mails, and pypinyin's segmentation cost ~0.15 ms a run (measured, 2026-12).
_KEPT_RUN = 24


def pinyin_key(text: str) -> str:
    """Letters and digits of `text` lower-cased with every Chinese character replaced by its
    toneless pinyin, without spaces: 充值, 冲值 and "chong zhi" all become "chongzhi"."""
    if len(text) <= _KEPT_RUN:
        return _short_pinyin_key(text)
    # A long text by its pieces between punctuation and spaces (which the key drops anyway):
    # the short pieces of a complaint recur from mail to mail and are remembered.
    pieces = _BREAKS.split(text[:PINYIN_LIMIT])
    return "".join(
        _short_pinyin_key(piece) if len(piece) <= _KEPT_RUN else _pinyin_key(piece)
        for piece in pieces
        if piece
    )


_BREAKS = re.compile(r"[\s，。！？、；：,.!?;:()（）]+")


@functools.lru_cache(maxsize=32768)
def _short_pinyin_key(text: str) -> str:
    return _pinyin_key(text)


def _pinyin_key(text: str) -> str:
    text = simplified(text[:PINYIN_LIMIT])
    return "".join(c for part in _lazy_pinyin()(text) for c in part.lower() if c.isalnum())


def pinyin_syllables(text: str) -> tuple[str, ...]:
    """The toneless pinyin of each Chinese character of `text`, lower-cased: 冲值 and 充值 are
    both ("chong", "zhi"). Other characters come as pypinyin leaves them (runs, not letters)."""
    if len(text) <= _KEPT_RUN:
        return _short_syllables(text)
    return _syllables(text)


@functools.lru_cache(maxsize=32768)
def _short_syllables(text: str) -> tuple[str, ...]:
    return _syllables(text)


def _syllables(text: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in _lazy_pinyin()(simplified(text[:PINYIN_LIMIT])))
