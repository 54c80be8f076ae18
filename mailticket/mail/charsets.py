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
        return _cp50220(data) if codec.startswith("iso2022_jp") else None


# ISO-2022-JP as Microsoft writes it (CP50220/50221/50222): NEC and IBM extension rows (①, ㈱,
# Ⅳ, 髙) inside ESC $ B, half-width katakana via ESC ( I, SO/SI or raw 8-bit bytes. Python's
# iso2022 codecs refuse those, so the JIS rows are turned into Shift_JIS and read as cp932,
# which holds the same extensions; this is how Windows itself decodes them.
_JIS_ESCAPE = re.compile(rb"\x1b(\$[@B]|\$\([@BOQ]|\([BJHI]|&@\x1b\$B)")
_MAX_JIS_BYTES = 4 * 1024 * 1024


def _cp50220(data: bytes) -> str | None:
    if len(data) > _MAX_JIS_BYTES or b"\x1b" not in data:
        return None
    out = bytearray()
    mode = "ascii"
    for index, piece in enumerate(_JIS_ESCAPE.split(data)):
        if index % 2:
            mode = (
                "kanji"
                if piece.startswith(b"$") or piece.startswith(b"&")
                else ("kana" if piece == b"(I" else "ascii")
            )
            continue
        if b"\x1b" in piece:
            return None  # an escape we do not know: not ISO-2022-JP
        out += _jis_piece(piece, mode)
    try:
        return out.decode("cp932")
    except UnicodeDecodeError:
        return None


def _jis_piece(piece: bytes, mode: str) -> bytes:
    """One run between escapes as Shift_JIS bytes."""
    out = bytearray()
    kana = mode == "kana"
    pending: int | None = None
    for byte in piece:
        if byte in (0x0E, 0x0F):  # SO/SI: CP50222's kana shift
            kana = byte == 0x0E
        elif 0xA1 <= byte <= 0xDF:  # CP50221's raw 8-bit kana
            out.append(byte)
        elif kana and 0x21 <= byte <= 0x5F:
            out.append(byte + 0x80)
        elif mode != "kanji" or byte < 0x21 or byte > 0x7E:
            out.append(byte)
        elif pending is None:
            pending = byte
        else:
            out += _jis_to_sjis(pending, byte)
            pending = None
    return bytes(out)


def _jis_to_sjis(first: int, second: int) -> bytes:
    lead = (first + 1) // 2 + 0x70
    lead += 0x40 if lead >= 0xA0 else 0
    trail = second + 0x7E  # even rows
    if first % 2:  # odd rows skip 0x7F
        trail = second + 0x1F + (1 if second + 0x1F >= 0x7F else 0)
    return bytes((lead, trail))


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
        notes.append(STRAY_CP1252)
        return mostly, "utf-8"
    best = _best_east_asian(data)
    if (
        best is not None
        and best[2] < 0.9
        and _wide_chars(best[0]) < _MIN_EVIDENCE
        and _latin_letters(data)
    ):
        return data.decode("cp1252"), "cp1252"  # "äöüß" is German, not two Chinese characters
    if best is not None and best[2] >= 0.6:
        return best[0], best[1]
    if _looks_western(data):
        text = _strict(data, "cp1252")
        return (text, "cp1252") if text is not None else (data.decode("latin-1"), "latin-1")
    return None


_LATIN_LETTER_BYTES = frozenset(range(0xC0, 0x100)) - {0xD7, 0xF7}


def _latin_letters(data: bytes) -> bool:
    """Every 8-bit byte is an accented Latin letter in cp1252 (À-ÿ but × and ÷), in short
    runs: short East Asian text rarely looks like that, German or French always does."""
    runs = re.findall(rb"[\x80-\xff]+", data[:_MAX_SCAN])
    return (
        bool(runs)
        and max(map(len, runs)) <= 4
        and all(byte in _LATIN_LETTER_BYTES for run in runs for byte in run)
    )


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
        notes.append(f"unknown charset {declared!r} / 未知字符集 {declared!r}")
    if codec is not None:
        text = _strict(data, codec)
        if text is not None and codec.startswith("iso2022_jp") and not _decodes(data, codec):
            notes.append(CP50220)  # `_strict` fell back to Microsoft's reading
        if text is not None:
            better = _better_than_label(data, codec, text)
            if better is not None:
                notes.append(_misfit(declared, better[1]))
            _note(defects, notes)
            return text if better is None else better[0]
    if data.isascii() and b"\x1b" not in data:
        _note(defects, notes)
        return data.decode("ascii")
    if codec == "utf-8" and (mostly := _mostly_utf8(data)) is not None:
        notes.append(STRAY_CP1252)
        _note(defects, notes)
        return mostly
    found = _detect(data, notes)
    if found is None:
        best = detect_charset(data).best()
        if best is not None and best.encoding:
            found = str(best), best.encoding
    if found is not None:
        if codec is not None:
            notes.append(_misfit(declared, found[1]))
        elif found[1] != "utf-8":
            notes.append(_unlabelled(found[1]))
        _note(defects, notes)
        return found[0]
    label = declared or "none"
    notes.append(
        f"undecodable bytes in charset {label}; replaced"
        f" / 字符集 {label} 中有无法解码的字节，已替换"
    )
    _note(defects, notes)
    return data.decode(codec or "gb18030", errors="replace")


def _stray_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a byte that breaks UTF-8 is almost always a Latin-1/cp1252 byte
    typed by an older client into a UTF-8 text ("información"), so read it as cp1252 (the
    five bytes cp1252 leaves undefined as Latin-1) rather than U+FFFD."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = bytes(error.object[error.start : error.end])
    return "".join(_cp1252_char(byte) for byte in bad), error.end


def _cp1252_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)


codecs.register_error("mailticket-stray-cp1252", _stray_as_cp1252)
STRAY_CP1252 = (
    "stray 8-bit bytes in UTF-8 text read as cp1252 / UTF-8 正文中的零散 8 位字节按 cp1252 读取"
)


CP50220 = (
    "ISO-2022-JP with Microsoft's extensions read as CP50220"
    " / 含微软扩展字符的 ISO-2022-JP 已按 CP50220 读取"
)


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _unlabelled(codec: str) -> str:
    return f"8-bit text without a charset read as {codec} / 未声明字符集的 8 位文本按 {codec} 读取"


def _misfit(declared: str | None, codec: str) -> str:
    return (
        f"charset {declared!r} did not fit the bytes; read as {codec}"
        f" / 声明的字符集 {declared!r} 与字节不符，按 {codec} 读取"
    )


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few bad bytes (a cut mail, an older client's Latin-1 byte typed into a UTF-8
    text): keep the rest, the bad bytes read as cp1252. None when the bad bytes are too many or
    come in runs, which is another charset (GBK, Big5) and not stray bytes."""
    replaced = data.decode("utf-8", errors="replace").count("\ufffd")
    bad = replaced - data.decode("utf-8", "ignore").count("\ufffd")
    if bad > max(1, len(data) // 200) and not _stray_bytes_only(data):
        return None
    return data.decode("utf-8", errors="mailticket-stray-cp1252")


# A well-formed UTF-8 multi-byte sequence: what is left after removing these is the stray part.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _stray_bytes_only(data: bytes) -> bool:
    """The bytes outside valid UTF-8 are single accented letters or quotes amid ASCII (runs of
    at most two, at most one in twenty bytes): Latin-1 slipped into UTF-8."""
    runs = re.findall(rb"[\x80-\xff]+", _UTF8_SEQUENCE.sub(b"", data[:_MAX_SCAN]))
    return bool(runs) and max(map(len, runs)) <= 2 and sum(map(len, runs)) <= len(data) // 20


_MAX_SCAN = 256 * 1024


def _note(defects: list[str] | None, notes: list[str]) -> None:
    if defects is not None:
        defects.extend(notes)
