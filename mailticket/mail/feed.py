"""The standard library's MIME parser (compat32, which keeps raw header bytes), made fast."""

from __future__ import annotations

import email
import email.feedparser
import email.message
import email.utils
import re
import types
from email.policy import compat32
from typing import Any

# The standard library's feed parser compiles one regular expression per multipart, for its
# boundary line. Boundaries are unique to each mail, so `re`'s cache never holds them, and the
# compiling took more than a third of the parser's time. And to find the line break at the end
# of each part it searches the whole part (a screenshot: 60 KB) for `(\r\n|\r|\n)\Z`.
# `_FeedParser` runs the standard library's own parsing code, with a `re` in which the boundary
# pattern is matched without compiling, and a search for the final line break that starts at
# the last two characters, the only place where it can match.

_BOUNDARY_HEAD = "(?P<sep>"
_BOUNDARY_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_BOUNDARY_END = re.compile(_BOUNDARY_TAIL[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class _BoundaryMatch:
    """A match of `_BoundaryLine`, answering `group` as the compiled pattern's match would."""

    __slots__ = ("_end", "_separator")

    def __init__(self, separator: str, end: re.Match[str]) -> None:
        self._separator = separator
        self._end = end

    def group(self, *names: str | int) -> Any:
        if len(names) != 1:
            return tuple(self.group(name) for name in names) if names else self.group(0)
        name = names[0]
        if name == 0:
            return self._separator + self._end.group(0)
        if name in ("sep", 1):
            return self._separator
        return self._end.group(name - 1 if isinstance(name, int) else name)


class _BoundaryLine:
    """The feed parser's boundary pattern, `(?P<sep>SEPARATOR)` and then `_BOUNDARY_TAIL`,
    without compiling the separator: a literal prefix, then the rest, compiled once."""

    __slots__ = ("_length", "_separator")

    def __init__(self, separator: str) -> None:
        self._separator = separator
        self._length = len(separator)

    def match(self, line: str) -> _BoundaryMatch | None:
        if not line.startswith(self._separator):
            return None
        end = _BOUNDARY_END.match(line, self._length)
        return None if end is None else _BoundaryMatch(self._separator, end)


class _FeedParserRe:
    """The `re` module as `_FeedParser` sees it: the same, but a boundary line is not compiled."""

    escape = staticmethod(re.escape)

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        if (
            not flags
            and isinstance(pattern, str)
            and pattern.startswith(_BOUNDARY_HEAD)
            and pattern.endswith(_BOUNDARY_TAIL)
        ):
            escaped = pattern[len(_BOUNDARY_HEAD) : -len(_BOUNDARY_TAIL)]
            separator = _ESCAPED.sub(r"\1", escaped)
            if re.escape(separator) == escaped:
                return _BoundaryLine(separator)
        return re.compile(pattern, flags)


class _FinalLineBreak:
    """`NLCRE_eol.search(text)`, searching only the last two characters, where the final
    line break is if there is one."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern

    def search(self, text: str) -> re.Match[str] | None:
        return self._pattern.search(text, max(0, len(text) - 2))


def _feed_parser_class() -> type[email.feedparser.FeedParser]:
    """`FeedParser` whose `_parsegen` is the standard library's code with `_FeedParserRe` for
    `re` and `_FinalLineBreak` for `NLCRE_eol` (the plain `FeedParser` if this Python's parser
    is not built that way)."""
    parsegen = getattr(email.feedparser.FeedParser, "_parsegen", None)
    final_line_break = getattr(email.feedparser, "NLCRE_eol", None)
    if (
        not isinstance(parsegen, types.FunctionType)
        or not {"re", "NLCRE_eol"} <= set(parsegen.__code__.co_names)
        or not isinstance(final_line_break, re.Pattern)
        or final_line_break.pattern != r"(\r\n|\r|\n)\Z"
    ):
        return email.feedparser.FeedParser
    namespace = dict(
        vars(email.feedparser), re=_FeedParserRe(), NLCRE_eol=_FinalLineBreak(final_line_break)
    )
    fast = types.FunctionType(
        parsegen.__code__, namespace, parsegen.__name__, parsegen.__defaults__, parsegen.__closure__
    )
    return type("_FeedParser", (email.feedparser.FeedParser,), {"_parsegen": fast})


_FeedParser = _feed_parser_class()


def parse_bytes(raw: bytes, *, headersonly: bool = False) -> email.message.Message:
    """`email.message_from_bytes` (or `BytesParser().parsebytes`), through `_FeedParser`:
    the same text fed in the same 8,192-character pieces, the same compat32 `Message`."""
    parser = _FeedParser(policy=compat32)
    if headersonly:
        parser._set_headersonly()  # type: ignore[attr-defined]
    text = raw.decode("ascii", "surrogateescape")
    for start in range(0, len(text), 8192):
        parser.feed(text[start : start + 8192])
    message: email.message.Message = parser.close()
    return message
