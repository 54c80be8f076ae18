"""Header blocks that are not quite RFC 5322, repaired before the MIME parser reads them.

The standard library's parser ends the header block at the first line that is not a field or a
folded continuation, so one broken line loses the subject, the sender and the body structure
below it. Seen from broken relays and tools: a banner line before the first field ("---- Original
message ----"), a folded line with no leading whitespace, whitespace before a field's colon.
Each repair is recorded as a defect (English / 中文, an admin reads them in `mailticket check`).
Only the header block is looked at, and at most `_MAX_HEAD` bytes of it.
"""

from __future__ import annotations

import re

_MAX_HEAD = 256 * 1024
_MAX_BANNER_LINES = 3
_STRICT = re.compile(rb"(From |[!-9;-~]+:|[ \t])")  # what the feed parser takes as a header line
_FIELD = re.compile(rb"([!-9;-~]{1,76})[ \t]+:")  # a field name with whitespace before the colon
_LOOSE_FIELD = re.compile(rb"[!-9;-~]{1,76}[ \t]*:")

BANNER = "banner line before the headers skipped / 跳过了邮件头之前的横幅行"
SPACE_BEFORE_COLON = "whitespace before a header's colon removed / 删除了邮件头冒号前的空白"
BARE_FOLD = "folded header line without leading whitespace joined / 合并了缺少前导空白的折行邮件头"


def needs_repair(unixfrom: str | None) -> bool:
    """An mbox "From " line that is really a From field with a space before its colon."""
    return bool(unixfrom) and _FROM_FIELD.match(unixfrom or "") is not None


_FROM_FIELD = re.compile(r"From[ \t]+:")


def repair_header_block(raw: bytes, defects: list[str]) -> bytes:
    """`raw` with its header block mended, or `raw` itself when nothing needed mending."""
    head = raw[:_MAX_HEAD]
    lines = head.split(b"\n")
    if len(lines) > 1:
        lines, rest = lines[:-1], [lines[-1]]  # the last piece may be cut at _MAX_HEAD
    else:
        rest = []
    start = _banner_lines(lines)
    if start:
        defects.append(BANNER)
    out: list[bytes] = []
    index = start
    for index in range(start, len(lines)):
        line = lines[index]
        if not line.strip(b"\r"):
            break
        if _FIELD.match(line):  # before `_STRICT`: "From :" would pass for an mbox line
            out.append(_FIELD.sub(rb"\1:", line, count=1))
            defects.append(SPACE_BEFORE_COLON)
        elif _STRICT.match(line):
            out.append(line)
        elif out and index + 1 < len(lines) and _LOOSE_FIELD.match(lines[index + 1]):
            out.append(b" " + line)
            defects.append(BARE_FOLD)
        else:
            break
    else:
        index = len(lines)
    mended = b"\n".join([*out, *lines[index:], *rest])
    return mended + raw[_MAX_HEAD:] if len(raw) > _MAX_HEAD else mended


def _banner_lines(lines: list[bytes]) -> int:
    """How many lines at the top are a banner: not fields, and a run of fields right below."""
    for count in range(1, _MAX_BANNER_LINES + 1):
        if count + 1 >= len(lines) or _LOOSE_FIELD.match(lines[count - 1]):
            return 0
        if _LOOSE_FIELD.match(lines[count]) and _LOOSE_FIELD.match(lines[count + 1]):
            return count
    return 0
