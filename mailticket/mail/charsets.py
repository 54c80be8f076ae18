"""Bytes -> text for the charsets real mail is sent in, whatever its label says.

A `gb2312` label on GBK bytes, Big5 or UTF-8 under the wrong label, unlabelled 8-bit text:
the declared label is used when it fits and is not a known lie, then UTF-8, then the East
Asian reading made of everyday characters, then charset-normalizer's guess; replacement
characters only as the last resort, and every repair is recorded as a defect.
"""

from __future__ import annotations

import codecs
import functools
import re

from charset_normalizer import from_bytes as detect_charset

# Labels that lie in practice, mapped to the codec that reads what is really sent.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "iso-gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gb2312-80": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "big-5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "utf8": "utf-8",
}

# For each East Asian codec: the codec whose core set holds everyday characters, and the lead
# bytes of those characters there (punctuation, kana, the first level of hanzi or kanji).
_EVERYDAY = {
    "gb18030": ("gb2312", ((0xA1, 0xA3), (0xB0, 0xD7))),
    "big5hkscs": ("big5", ((0xA1, 0xA3), (0xA4, 0xC6))),
    "cp932": ("cp932", ((0x81, 0x83), (0x88, 0x98))),
    "euc_jp": ("euc_jp", ((0xA1, 0xA5), (0xB0, 0xCF))),
}
_SAMPLE_CHARS = 2000
_JAPANESE = ("cp932", "euc_jp")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_KANA = re.compile(r"[\u3040-\u30ff]")


@functools.lru_cache(maxsize=256)
def _codec_for(label: str | None) -> str | None:
    """The Python text codec for a declared charset label, or None when there is none.

    `codecs.lookup` also knows bytes-to-bytes codecs (base64, rot13, hex); a label naming one of
    those is as unknown as a misspelt one.
    """
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
        b"a".decode(codec)  # raises LookupError for a bytes-to-bytes codec
    except UnicodeDecodeError:
        pass
    except (LookupError, ValueError, TypeError):
        return None
    return codec


def codec_for(label: str | None) -> str | None:
    """The Python codec that reads what is really sent under a charset label (see `_codec_for`)."""
    return _codec_for(label)


@functools.lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    """Latin-1-like codecs read any bytes without error, so their success proves nothing."""
    return codec != "utf-8" and len(bytes(range(256)).decode(codec, errors="replace")) == 256


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.cache
def _everyday_chars(codec: str) -> frozenset[str]:
    """The everyday characters of an East Asian codec, read from its everyday lead bytes.

    Only a shortcut for `_is_everyday`: a character the codec encodes to an everyday lead byte
    but decodes back from none (cp932's ¢ and ¬) is checked one by one.
    """
    core, leads = _EVERYDAY[codec]
    found: set[str] = set()
    for low, high in leads:
        for lead in range(low, high + 1):
            for trail in range(256):
                try:
                    char = bytes((lead, trail)).decode(core)
                except UnicodeDecodeError:
                    continue
                if len(char) == 1 and _is_everyday(char, codec):
                    found.add(char)
    return frozenset(found)


def _is_everyday(char: str, codec: str) -> bool:
    core, leads = _EVERYDAY[codec]
    try:
        first = char.encode(core)[0]
    except UnicodeEncodeError:
        return False
    return any(low <= first <= high for low, high in leads)


def _everyday_ratio(text: str, codec: str) -> float:
    """Share of a sample's non-ASCII characters that are everyday ones in that codec's script."""
    wide = _NON_ASCII.findall(text, 0, _SAMPLE_CHARS * 4)[:_SAMPLE_CHARS]
    if not wide:
        return 0.0
    everyday = _everyday_chars(codec)
    hits = sum(map(everyday.__contains__, wide))
    others = {char for char in set(wide) - everyday if _is_everyday(char, codec)}
    if others:
        hits += sum(map(others.__contains__, wide))
    return hits / len(wide)


def _best_east_asian(data: bytes) -> tuple[str, str, float] | None:
    """(text, codec, ratio) of the East Asian reading made most of everyday characters.

    EUC-JP bytes also read as everyday Big5 hanzi; a Japanese reading with kana wins the tie,
    as no Chinese text is written with kana.
    """
    best: tuple[str, str, float] | None = None
    best_score = -1.0
    for codec in _EVERYDAY:
        text = _strict(data, codec)
        if text is None:
            continue
        ratio = _everyday_ratio(text, codec)
        score = ratio + (0.05 if codec in _JAPANESE and _has_kana(text) else 0.0)
        if score > best_score:
            best, best_score = (text, codec, ratio), score
    return best


_MIN_EVIDENCE = 6  # characters of East Asian text before its label may be called a lie


def _wide_chars(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def _has_kana(text: str) -> bool:
    end = _SAMPLE_CHARS * 4
    kana = len(_KANA.findall(text, 0, end))
    return kana >= max(2, len(_NON_ASCII.findall(text, 0, end)) // 10)


_THREE_BYTE_UTF8 = re.compile(rb"[\xe0-\xef][\x80-\xbf]{2}")


def _has_three_byte_utf8(data: bytes) -> bool:
    return _THREE_BYTE_UTF8.search(data) is not None


def _better_than_label(data: bytes, codec: str, text: str) -> tuple[str, str] | None:
    """A reading that clearly beats the declared label's, when the label is a common lie:
    UTF-8 sent as latin-1 or as GBK, GBK sent as latin-1, Big5 sent as gb2312."""
    if codec == "utf-8" or data.isascii():
        return None
    utf8 = _strict(data, "utf-8")
    if utf8 is not None and (_single_byte(codec) or _has_three_byte_utf8(data)):
        return utf8, "utf-8"
    if codec in _EVERYDAY:
        own = _everyday_ratio(text, codec)
    elif _single_byte(codec):
        own = 0.0
    else:
        return None  # Korean, UTF-16, ISO-2022 labels are rarely wrong: trust them
    if own >= 0.8 or _wide_chars(text) < _MIN_EVIDENCE:
        return None  # a short name proves nothing: a rare character in 杜璟 is no lie
    best = _best_east_asian(data)
    if best is not None and best[1] != codec and best[2] >= 0.9 and best[2] > own + 0.3:
        return best[0], best[1]
    return None


def _detect(data: bytes, notes: list[str]) -> tuple[str, str] | None:
    """(text, codec) for bytes without a usable label: escapes, BOMs, UTF-8, East Asian."""
    if b"\x1b$" in data or b"\x1b(" in data:
        for codec in ("iso2022_jp_2", "iso2022_kr"):
            text = _strict(data, codec)
            if text is not None:
                return text, codec
    for bom, codec in _BOMS:
        if data.startswith(bom) and (text := _strict(data, codec)) is not None:
            return text, codec
    utf8 = _strict(data, "utf-8")
    if utf8 is not None:
        return utf8, "utf-8"
    if len(data) >= 40 and (mostly := _mostly_utf8(data)) is not None:
        notes.append("invalid UTF-8 bytes replaced")
        return mostly, "utf-8"
    best = _best_east_asian(data)
    if best is not None and best[2] >= 0.6:
        return best[0], best[1]
    if _looks_western(data):
        text = _strict(data, "cp1252")
        return (text, "cp1252") if text is not None else (data.decode("latin-1"), "latin-1")
    return None


def _looks_western(data: bytes) -> bool:
    """Accented letters amid ASCII (at most two 8-bit bytes in a row): latin-1/cp1252 text.
    Cyrillic, Greek or East Asian text has longer runs; charset-normalizer judges those."""
    runs = re.findall(rb"[\x80-\xff]+", data)
    return bool(runs) and max(map(len, runs)) <= 2 and sum(map(len, runs)) <= len(data) // 4


def decode_bytes(data: bytes, declared: str | None, defects: list[str] | None = None) -> str:
    """Text from bytes: the declared label when it fits, else what the bytes really are.

    Order: a label that decodes and is not a known lie; UTF-8; the East Asian reading made of
    everyday characters; charset-normalizer's guess; replacement characters only as the last
    resort (recorded as a defect, never silently).
    """
    if not data:
        return ""
    notes: list[str] = []
    codec = _codec_for(declared)
    if declared and codec is None:
        notes.append(f"unknown charset {declared!r}")
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            better = _better_than_label(data, codec, text)
            if better is None:
                return text
            notes.append(f"charset {declared!r} did not fit the bytes; read as {better[1]}")
            _note(defects, notes)
            return better[0]
    if data.isascii() and b"\x1b" not in data:
        _note(defects, notes)
        return data.decode("ascii")
    if codec == "utf-8" and (mostly := _mostly_utf8(data)) is not None:
        notes.append("invalid UTF-8 bytes replaced")
        _note(defects, notes)
        return mostly
    found = _detect(data, notes)
    if found is None:
        best = detect_charset(data).best()
        if best is not None and best.encoding:
            found = str(best), best.encoding
    if found is not None:
        if codec is not None:
            notes.append(f"charset {declared!r} did not fit the bytes; read as {found[1]}")
        _note(defects, notes)
        return found[0]
    notes.append(f"undecodable bytes in charset {declared or 'none'}; replaced")
    _note(defects, notes)
    return data.decode(codec or "gb18030", errors="replace")


def _mostly_utf8(data: bytes) -> str | None:
    """Declared UTF-8 with a few bad bytes (a cut mail, a broken client): keep the rest."""
    text = data.decode("utf-8", errors="replace")
    return text if text.count("\ufffd") <= max(1, len(text) // 200) else None


def _note(defects: list[str] | None, notes: list[str]) -> None:
    if defects is not None:
        defects.extend(notes)
