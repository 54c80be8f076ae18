"""Admins' rule patterns, run on RE2 (google-re2), which never backtracks: matching takes time
linear in the text whatever the pattern, so no rule (`(a+)+$`, `(x+x+)+y`, `(a|aa)*b`) can
hang intake on one mail (issue 17 item 4).

Patterns are written in Python's syntax (`rules/README.md`); `\\d`, `\\w` and `\\s` keep
Python's Unicode meaning (so `\\w+` still reads Chinese), translated to RE2's `\\p{...}`
classes. What RE2 lacks because it needs backtracking (lookahead, lookbehind,
backreferences) is refused with a message that says how to write it instead.
`nested_quantifiers` finds the shapes a backtracking engine would hang on, for `rules check`
to warn about: harmless here, but a sign of a mistake, and a trap if the pattern is copied.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr
_OPTIONS.max_mem = 8 << 20  # a pattern compiling to more is refused ("pattern too large")

_SPACE = r"\t-\r\x1c-\x1f\x{85}\p{Z}"  # Python's str.isspace()
_WORD = r"\p{L}\p{N}_"  # Python's \w: str.isalnum() or _
_OUTSIDE = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",  # Python's end of the text is RE2's \z
}
_INSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": _WORD, "s": _SPACE}
_LOOKAROUND = ("(?=", "(?!", "(?<=", "(?<!")


class PatternError(ValueError):
    """A pattern refused, with a one-line reason for the admin."""


@dataclass(frozen=True, eq=False)
class Pattern:
    """One compiled admin pattern; `pattern` is the text as the admin wrote it."""

    pattern: str
    compiled: Any = field(repr=False)

    @property
    def groups(self) -> int:
        return int(self.compiled.groups)

    def search(self, text: str) -> bool:
        return self.compiled.search(text) is not None

    def values(self, text: str) -> Iterator[tuple[int, str]]:
        """(start, text) of the `value` group of each match, else its first group, else the
        whole match; a group that did not take part is skipped."""
        group = self.compiled.groupindex.get("value", 1 if self.compiled.groups else 0)
        for match in self.compiled.finditer(text):
            value = match.group(group)
            if value is not None:
                yield match.start(group), value


def compile_pattern(source: str) -> Pattern:
    """`source` compiled for RE2, or `PatternError` saying why not."""
    try:  # only compiled, never run: Python's message names the position of a syntax error
        re.compile(source)
    except re.error as exc:
        raise PatternError(str(exc)) from None
    if "(?P=" in source:
        raise PatternError(_BACKREFERENCE)
    if any(opening in source for opening in _LOOKAROUND):
        raise PatternError(
            "lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported: rule patterns "
            "run on RE2, which never backtracks; match the neighbour instead, e.g. "
            "(?:^|[^0-9])(TX\\d+)(?:[^0-9]|$) with the value in the group"
        )
    try:
        return Pattern(source, re2.compile(_unicode_classes(source), _OPTIONS))
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        if str(detail).startswith("invalid escape sequence: \\") and str(detail)[-1].isdigit():
            raise PatternError(_BACKREFERENCE) from None
        raise PatternError(str(detail)) from None


_BACKREFERENCE = (
    "backreferences (\\1, (?P=name)) are not supported: rule patterns run on RE2, "
    "which never backtracks"
)


def _unicode_classes(source: str) -> str:
    """`\\d`, `\\w`, `\\s` and their negations as Python means them, in RE2's syntax."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source):
            letter = source[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            if letter in table:
                out.append(table[letter])
            elif in_class and letter in "WS":
                raise PatternError(f"\\{letter} inside [...] is not supported: write [^...]")
            else:
                out.append(source[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            i += 1
            if source.startswith("^", i):
                out.append("^")
                i += 1
            if source.startswith("]", i):  # a leading ] is a literal one
                out.append("\\]")
                i += 1
            continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def nested_quantifiers(source: str) -> bool:
    """Whether a repeated group holds a repetition itself (`(a+)+`, `(x+x+)+y`, `(\\d*)*`),
    the shape that makes a backtracking engine take exponential time."""
    stack = [False]  # per open group: does it hold a repetition?
    i = 0
    while i < len(source):
        char = source[i]
        if char == "(":
            stack.append(False)
            i += 1
            continue
        if char == "\\":
            i += 2
        elif char == "[":
            i = _class_end(source, i)
        elif char == ")" and len(stack) > 1:
            inner = stack.pop()
            i += 1
            if inner and _repeats(source, i):
                return True
            stack[-1] = stack[-1] or inner
        else:
            i += 1
        if (char not in "|)" and _repeats(source, i)) or (char == ")" and _repeats(source, i)):
            stack[-1] = True
    return False


_QUANTIFIER = re.compile(r"[*+]|\{(\d*),?(\d*)\}")


def _repeats(source: str, i: int) -> bool:
    """Whether a quantifier that allows more than one repetition starts at `i`."""
    found = _QUANTIFIER.match(source, i)
    if found is None:
        return False
    if found.group(0) in "*+":
        return True
    low, high = found.group(1), found.group(2)
    exact = "," not in found.group(0)
    top = low if exact else high
    return not top or int(top) > 1


def _class_end(source: str, i: int) -> int:
    """The index after the `]` that closes the class opened at `i`."""
    j = i + 1
    if source.startswith("^", j):
        j += 1
    if source.startswith("]", j):
        j += 1
    while j < len(source) and source[j] != "]":
        j += 2 if source[j] == "\\" else 1
    return j + 1
