"""What an attached file is (by its bytes, not its label) and a safe name to keep it under."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

_HEIF_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"hevc": "image/heic",
                b"hevx": "image/heic", b"heim": "image/heic", b"heis": "image/heic",
                b"mif1": "image/heif", b"msf1": "image/heif", b"avif": "image/avif"}  # fmt: skip
_OOXML = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x1f\x8b", "application/gzip"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
)


def sniff_type(data: bytes) -> str:
    """What the bytes are by their magic numbers, whatever the sender declared: screenshots
    arrive as `application/octet-stream`, and a declared PDF may be a renamed executable."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"BM" and len(data) >= 26 and data[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if data[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(
            data[8:12], "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
        )
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if b"[Content_Types].xml" in data:
            for marker, content_type in _OOXML:
                if marker in data:
                    return content_type
        return "application/zip"
    if data and looks_like_text(data[:4096]):
        return "text/plain"
    return "application/octet-stream"


def looks_like_text(sample: bytes) -> bool:
    """No NUL bytes and hardly any control bytes: text in some charset."""
    if b"\x00" in sample:
        return False
    controls = sum(1 for byte in sample if byte < 32 and byte not in b"\t\n\r\f\x1b")
    return controls <= len(sample) // 100


def sanitise_filename(name: str, content_type: str, index: int) -> str:
    """A file name safe on any disk: no directories, no control characters, bounded length."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    name = name.replace(":", "_").replace("\0", "")
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{index}{extension}"
    if len(name) > 180:
        stem, dot, extension = name.rpartition(".")
        name = (
            (stem[: 180 - len(extension) - 1] + "." + extension)
            if dot and len(extension) < 12
            else name[:180]
        )
    return name
